// VectorIndexSet::open / save: the manifest and the graph files in the index directory (the
// layout and the crash rules are in vector_index.h). No hnswlib here: VectorIndex::write_graph
// and read_graph (vector_index.cc) handle the graphs; hnswlib.h defines functions that must
// not be in two translation units.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "coordinator/knowledge/durable_file.h"
#include "coordinator/knowledge/store.h"
#include "coordinator/knowledge/vector_index.h"

namespace shardserve::knowledge {
namespace {

constexpr const char* kManifest = "manifest";
constexpr const char* kManifestMagic = "shardserve vector indexes 1";
constexpr const char* kGraphSuffix = ".hnsw";
constexpr const char* kTempSuffix = ".tmp";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// One saved graph, as the manifest lists it.
struct SavedGraph {
  std::string store_id;
  size_t dim = 0;
  std::string file;  // a name inside index_dir
  FileDigest digest;
};

struct Manifest {
  std::string database_id;
  int64_t generation = 0;
  size_t m = 0;
  size_t ef_construction = 0;
  std::vector<SavedGraph> graphs;
};

std::string format_manifest(const Manifest& m) {
  std::string out = std::string(kManifestMagic) + "\n";
  out += "database " + m.database_id + "\n";
  out += "generation " + std::to_string(m.generation) + "\n";
  out += "m " + std::to_string(m.m) + "\n";
  out += "ef_construction " + std::to_string(m.ef_construction) + "\n";
  for (const SavedGraph& g : m.graphs) {
    char digest[64];
    std::snprintf(digest, sizeof(digest), "%" PRIu64 " %016" PRIx64, g.digest.bytes,
                  g.digest.checksum);
    out += "index " + std::to_string(g.dim) + " " + digest + " " + g.file + " " + g.store_id + "\n";
  }
  out += "end " + std::to_string(m.graphs.size()) + "\n";
  return out;
}

template <typename T>
bool parse_number(std::string_view text, T& out, int base = 10) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && end == text.data() + text.size();
}

// A file name save() could have made: no directory parts, nothing odd.
bool plain_file_name(std::string_view name) {
  if (name.empty() || name[0] == '.') return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

Result<Manifest> parse_manifest(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  auto bad = [](std::string why) { return Error{"the manifest is damaged: " + why}; };
  if (!std::getline(in, line) || line != kManifestMagic) {
    return bad("its first line is not '" + std::string(kManifestMagic) + "'");
  }
  Manifest m;
  auto field = [&](std::string_view key) -> std::optional<std::string> {
    if (!std::getline(in, line) || line.rfind(std::string(key) + " ", 0) != 0) return {};
    return line.substr(key.size() + 1);
  };
  std::optional<std::string> v;
  if (!(v = field("database")) || v->empty()) return bad("no database line");
  m.database_id = *v;
  if (!(v = field("generation")) || !parse_number(*v, m.generation)) return bad("no generation");
  if (!(v = field("m")) || !parse_number(*v, m.m)) return bad("no m");
  if (!(v = field("ef_construction")) || !parse_number(*v, m.ef_construction)) {
    return bad("no ef_construction");
  }
  while (std::getline(in, line)) {
    if (line.rfind("end ", 0) == 0) {
      size_t n = 0;
      if (!parse_number(std::string_view(line).substr(4), n) || n != m.graphs.size()) {
        return bad("the end line does not count the index lines");
      }
      return m;
    }
    // index <dim> <bytes> <checksum> <file> <store id: the rest of the line>
    std::istringstream fields(line);
    std::string tag, dim, bytes, checksum, file;
    fields >> tag >> dim >> bytes >> checksum >> file;
    SavedGraph g;
    if (tag != "index" || !parse_number(dim, g.dim) || g.dim == 0 ||
        !parse_number(bytes, g.digest.bytes) || !parse_number(checksum, g.digest.checksum, 16) ||
        !plain_file_name(file) || fields.get() != ' ') {
      return bad("cannot read the line '" + line.substr(0, 80) + "'");
    }
    std::getline(fields, g.store_id);
    if (g.store_id.empty()) return bad("an index line names no store");
    g.file = std::move(file);
    m.graphs.push_back(std::move(g));
  }
  return bad("it ends before its end line (truncated?)");
}

Result<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"cannot open " + path + ": " + std::strerror(errno)};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error{"cannot read " + path};
  return text.str();
}

// Removes save()'s temporary files and, when `keep` is given, graph files it does not name.
// Best effort: a file that cannot be removed is tried again next time.
void remove_stale_files(const std::string& dir, const std::set<std::string>* keep) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (ends_with(name, kTempSuffix) ||
        (keep != nullptr && ends_with(name, kGraphSuffix) && keep->count(name) == 0)) {
      stale.push_back(name);
    }
  }
  ::closedir(d);
  for (const std::string& name : stale) ::unlink((dir + "/" + name).c_str());
}

// "g<generation>-<24 random characters>.hnsw": a new name for every save, so a save never
// overwrites a file that the manifest on disk names.
std::string graph_file_name(int64_t generation) {
  std::string prefix = std::to_string(generation);
  prefix.insert(prefix.begin(), 'g');  // not "g" + ...: GCC 12's -Wrestrict false positive
  prefix.push_back('-');
  return new_knowledge_id(prefix) + kGraphSuffix;
}

Error io_error(std::string_view what, const std::string& path) {
  return Error{"vector index: " + std::string(what) + " " + path + ": " + std::strerror(errno)};
}

}  // namespace

Result<std::unique_ptr<VectorIndexSet>> VectorIndexSet::open(KnowledgeStore& store,
                                                             const std::string& index_dir,
                                                             VectorIndexOptions options) {
  if (::mkdir(index_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error{"vector index: cannot create the index directory " + index_dir + ": " +
                 std::strerror(errno) + " (its parent must exist and be writable)"};
  }
  Result<int64_t> generation = store.generation();
  if (!generation.ok()) return generation.error();
  Result<std::string> database_id = store.database_id();
  if (!database_id.ok()) return database_id.error();

  auto set = std::make_unique<VectorIndexSet>(options);
  set->index_dir_ = index_dir;
  Status loaded = set->load(*generation, *database_id);
  if (loaded.ok()) {
    set->loaded_from_disk_ = true;
    set->saved_database_id_ = *database_id;
    set->saved_generation_ = *generation;
    set->saved_changes_ = set->changes_.load();
    return set;
  }
  std::fprintf(stderr,
               "shardserve knowledge: not loading the saved vector indexes in %s: %s; building "
               "them from the database\n",
               index_dir.c_str(), loaded.message().c_str());
  remove_stale_files(index_dir, nullptr);
  set->stores_.clear();
  if (Status s = set->add_from_store(store); !s.ok()) return s.error();
  return set;
}

Status VectorIndexSet::load(int64_t generation, const std::string& database_id) {
  const std::string manifest_path = index_dir_ + "/" + kManifest;
  if (!path_exists(manifest_path)) return Error{"there is no " + manifest_path + " (no save yet)"};
  Result<std::string> text = read_small_file(manifest_path);
  if (!text.ok()) return text.error();
  Result<Manifest> m = parse_manifest(*text);
  if (!m.ok()) return m.error();
  if (m->database_id != database_id) {
    return Error{"they belong to database " + m->database_id + ", this one is " + database_id};
  }
  if (m->generation != generation) {
    return Error{"they were saved at generation " + std::to_string(m->generation) +
                 ", the database is at " + std::to_string(generation)};
  }
  if (m->m != options_.m || m->ef_construction != options_.ef_construction) {
    return Error{"they were built with m=" + std::to_string(m->m) + " ef_construction=" +
                 std::to_string(m->ef_construction) + ", not m=" + std::to_string(options_.m) +
                 " ef_construction=" + std::to_string(options_.ef_construction)};
  }
  std::set<std::string> files;
  for (const SavedGraph& g : m->graphs) {
    const std::string path = index_dir_ + "/" + g.file;
    Result<FileDigest> digest = digest_file(path);
    if (!digest.ok()) return digest.error();
    if (digest->bytes != g.digest.bytes || digest->checksum != g.digest.checksum) {
      return Error{path + " is not the file the manifest describes (" +
                   std::to_string(digest->bytes) + " bytes, expected " +
                   std::to_string(g.digest.bytes) + ", or a different checksum)"};
    }
    Result<std::unique_ptr<VectorIndex>> index = VectorIndex::read_graph(path, g.dim, options_);
    if (!index.ok()) return index.error();
    if (!stores_.emplace(g.store_id, std::move(*index)).second) {
      return Error{"the manifest lists store " + g.store_id + " twice"};
    }
    files.insert(g.file);
  }
  remove_stale_files(index_dir_, &files);
  return Status::Ok();
}

Status VectorIndexSet::save(KnowledgeStore& store) {
  if (index_dir_.empty()) {
    return Error::invalid_input(
        "vector index: this set has no directory to save to; make it with "
        "VectorIndexSet::open(store, index_dir)");
  }
  std::lock_guard lock(save_mu_);
  Result<int64_t> generation = store.generation();
  if (!generation.ok()) return generation.error();
  Result<std::string> database_id = store.database_id();
  if (!database_id.ok()) return database_id.error();
  const uint64_t changes = changes_.load();
  if (*generation == saved_generation_ && *database_id == saved_database_id_ &&
      changes == saved_changes_) {
    return Status::Ok();  // the files on disk hold this already
  }

  Manifest m{*database_id, *generation, options_.m, options_.ef_construction, {}};
  std::set<std::string> written;
  auto fail = [&](Error e) -> Status {
    for (const std::string& f : written) ::unlink((index_dir_ + "/" + f).c_str());
    return e;
  };
  for (const auto& [store_id, index] : snapshot()) {
    if (index->size() == 0) continue;  // searches of a missing store are empty too
    if (store_id.empty() || store_id.find('\n') != std::string::npos) {
      return fail(
          Error::invalid_input("vector index: cannot save a store id that is empty or "
                               "holds a newline"));
    }
    SavedGraph g{store_id, index->dim(), graph_file_name(*generation), {}};
    const std::string path = index_dir_ + "/" + g.file;
    const std::string tmp = path + kTempSuffix;
    Result<uint64_t> expected = index->write_graph(tmp);
    Status synced = expected.ok() ? fsync_file(tmp) : Status(expected.error());
    Result<FileDigest> digest = synced.ok() ? digest_file(tmp) : Result<FileDigest>(synced.error());
    if (digest.ok() && digest->bytes != *expected) {
      digest = Error{"vector index: " + tmp + " has " + std::to_string(digest->bytes) +
                     " bytes, expected " + std::to_string(*expected) + " (is the disk full?)"};
    }
    if (digest.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
      digest = io_error("cannot rename " + tmp + " to", path);
    }
    if (!digest.ok()) {
      ::unlink(tmp.c_str());
      return fail(digest.error());
    }
    g.digest = *digest;
    written.insert(g.file);
    m.graphs.push_back(std::move(g));
  }
  // The graph files' names are durable before the manifest that names them.
  if (Status s = fsync_dir(index_dir_); !s.ok()) return fail(s.error());
  if (Status s = write_file_durably(index_dir_, index_dir_ + "/" + kManifest, format_manifest(m));
      !s.ok()) {
    // The graph files stay: if the rename got through, the manifest names them; if not,
    // the next save or open removes them.
    return Error{"vector index: " + s.message()};
  }
  remove_stale_files(index_dir_, &written);
  saved_database_id_ = *database_id;
  saved_generation_ = *generation;
  saved_changes_ = changes;
  return Status::Ok();
}

}  // namespace shardserve::knowledge
