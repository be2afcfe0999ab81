// The knowledge base's vector indexes at 100k chunks (issue 19): build rate (before and after
// the threaded build), save and load time, and search latency against a brute-force scan.
//
// Data: N synthetic 384-d vectors (all-MiniLM-L6-v2's width). By default clustered: `--centres`
// Gaussian centres, each chunk a centre plus Gaussian noise of 0.75 times the centre's norm,
// normalised; chunks of one centre then sit at cosine ~0.64 from each other, as neighbouring
// sentence embeddings do, where pure noise (`--data random`, the index's hardest case) has no
// neighbours at all. Queries are new points drawn the same way.
//
// Lab, validating before it times:
//   1. Build rate on the first `--compare` vectors, same run, `--rounds` alternating rounds
//      (medians): the old build (add() one vector at a time, ef_construction 200, one thread)
//      and the new (add_batch on every core, the default options); vectors/s and vectors per
//      CPU-second (which a busy machine moves less); recall@10 of each against the exact scan.
//   2. The real path at N: the chunks in a KnowledgeStore in a temporary directory (10 files, one
//      vector store); VectorIndexSet::open builds (nothing saved yet), save() writes, open()
//      again loads; the loaded set must answer every query exactly as the built one.
//   3. Search: `--queries` single-threaded top-10 searches through the loaded set and through
//      brute_force_search over the same vectors; p50/p99 in microseconds and recall@10.
//
// Usage: bench_knowledge_search [--n 100000] [--queries 200] [--compare 5000] [--rounds 3]
//                               [--data clustered|random] [--centres 2000] [--ef-construction E]
//                               [--dir /tmp]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/knowledge/store.h"
#include "coordinator/knowledge/vector_index.h"

namespace kn = shardserve::knowledge;

namespace {

constexpr size_t kDim = 384, kK = 10;

struct Args {
  size_t n = 100000;
  size_t queries = 200;
  size_t compare = 5000;
  size_t rounds = 3;
  bool clustered = true;
  size_t centres = 2000;
  size_t ef_construction = kn::VectorIndexOptions{}.ef_construction;
  std::string dir = "/tmp";
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    auto number = [&] {
      if (value == nullptr) {
        std::fprintf(stderr, "%s needs a value\n", flag.c_str());
        std::exit(2);
      }
      ++i;
      return static_cast<size_t>(std::strtoull(value, nullptr, 10));
    };
    if (flag == "--n") {
      a.n = number();
    } else if (flag == "--queries") {
      a.queries = number();
    } else if (flag == "--compare") {
      a.compare = number();
    } else if (flag == "--rounds") {
      a.rounds = std::max<size_t>(number(), 1);
    } else if (flag == "--centres") {
      a.centres = number();
    } else if (flag == "--ef-construction") {
      a.ef_construction = number();
    } else if (flag == "--data" && value != nullptr) {
      a.clustered = std::strcmp(value, "random") != 0;
      ++i;
    } else if (flag == "--dir" && value != nullptr) {
      a.dir = value;
      ++i;
    } else {
      std::fprintf(stderr,
                   "unknown argument %s; usage: bench_knowledge_search [--n N] [--queries Q] "
                   "[--compare N] [--rounds R] [--data clustered|random] [--centres C] "
                   "[--ef-construction E] "
                   "[--dir DIR]\n",
                   flag.c_str());
      std::exit(2);
    }
  }
  a.compare = std::min(a.compare, a.n);
  a.centres = std::max<size_t>(a.centres, 1);
  return a;
}

// n unit vectors, row-major: clustered around `centres` (drawn from `seed`) or pure noise.
std::vector<float> make_vectors(size_t n, const std::vector<float>& centres, bool clustered,
                                uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  const size_t n_centres = centres.size() / kDim;
  std::uniform_int_distribution<size_t> pick(0, n_centres - 1);
  const float noise = clustered ? 0.75f / std::sqrt(static_cast<float>(kDim)) : 1.0f;
  std::vector<float> v(n * kDim);
  for (size_t i = 0; i < n; ++i) {
    float* row = v.data() + i * kDim;
    const float* centre = centres.data() + pick(rng) * kDim;
    for (size_t d = 0; d < kDim; ++d) row[d] = (clustered ? centre[d] : 0.0f) + noise * normal(rng);
    kn::l2_normalize(std::span<float>(row, kDim));
  }
  return v;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds of the whole process (all threads): unlike wall time, barely moved by other
// processes sharing the cores, so a busy machine still shows the per-vector cost.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double load_average() {
  double load[1] = {0};
  return getloadavg(load, 1) == 1 ? load[0] : -1;
}

std::span<const float> row(const std::vector<float>& v, size_t i) {
  return {v.data() + i * kDim, kDim};
}

// Recall@10 of `search` against the exact scan over the first n vectors.
template <typename Search>
double recall(const std::vector<float>& data, const std::vector<int64_t>& ids, size_t n,
              const std::vector<float>& queries, size_t q, Search search) {
  size_t hits = 0;
  for (size_t i = 0; i < q; ++i) {
    auto exact =
        kn::brute_force_search(std::span<const float>(data.data(), n * kDim),
                               std::span<const int64_t>(ids.data(), n), kDim, row(queries, i), kK);
    std::set<int64_t> truth;
    for (auto& s : exact) truth.insert(s.chunk_id);
    for (auto& s : search(row(queries, i))) hits += truth.count(s.chunk_id);
  }
  return static_cast<double>(hits) / static_cast<double>(q * kK);
}

void print_latency(const char* what, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  std::printf("  %-12s p50 %9.1f us   p99 %9.1f us\n", what, us[us.size() / 2],
              us[std::min(us.size() - 1, us.size() * 99 / 100)]);
}

uint64_t directory_bytes(const std::string& dir) {
  uint64_t bytes = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) bytes += e.file_size();
  }
  return bytes;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_knowledge_search: %s\n", what.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  const kn::VectorIndexOptions options{.ef_construction = args.ef_construction};
  const std::string data_kind =
      args.clustered ? "clustered synthetic vectors (" + std::to_string(args.centres) +
                           " Gaussian centres + noise 0.75, normalised; like real embeddings, "
                           "not pure noise)"
                     : "random Gaussian unit vectors (pure noise: the hardest case)";
  std::printf(
      "N=%zu dim=%zu, %s, %zu queries; m=%zu ef_construction=%zu ef_search=%zu; %u cores, load "
      "average %.1f\n",
      args.n, kDim, data_kind.c_str(), args.queries, options.m, options.ef_construction,
      options.ef_search, std::thread::hardware_concurrency(), load_average());
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> centres(args.centres * kDim);
  for (float& x : centres) x = normal(rng) / std::sqrt(static_cast<float>(kDim));
  const std::vector<float> data = make_vectors(args.n, centres, args.clustered, 1);
  const std::vector<float> queries = make_vectors(args.queries, centres, args.clustered, 2);
  std::vector<int64_t> ids(args.n);
  for (size_t i = 0; i < args.n; ++i) ids[i] = static_cast<int64_t>(i) + 1;  // chunk ids from 1

  // 1. Build rate, old and new, on the same prefix, in alternating rounds so that both see
  //    the same share of a busy machine; medians.
  std::printf("\nbuild rate on the first %zu vectors, %zu alternating rounds, medians:\n",
              args.compare, args.rounds);
  {
    const auto n = static_cast<double>(args.compare);
    const std::span<const int64_t> prefix_ids(ids.data(), args.compare);
    const std::span<const float> prefix(data.data(), args.compare * kDim);
    std::vector<double> rate[2], cpu_rate[2];
    double last_recall[2] = {0, 0};
    for (size_t round = 0; round < args.rounds; ++round) {
      for (int which = 0; which < 2; ++which) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_seconds();
        std::unique_ptr<kn::VectorIndex> index;
        if (which == 0) {  // before: what build() did, one add() at a time
          index = std::make_unique<kn::VectorIndex>(
              kDim, kn::VectorIndexOptions{.ef_construction = 200, .build_threads = 1});
          for (size_t i = 0; i < args.compare; ++i) {
            if (!index->add(ids[i], row(data, i)).ok()) die("add failed");
          }
        } else {  // after: add_batch on every core, the options given
          index = std::make_unique<kn::VectorIndex>(kDim, options);
          if (!index->add_batch(prefix_ids, prefix).ok()) die("add_batch failed");
        }
        rate[which].push_back(n / seconds_since(t0));
        cpu_rate[which].push_back(n / (cpu_seconds() - c0));
        if (round + 1 == args.rounds) {
          last_recall[which] = recall(data, ids, args.compare, queries, args.queries,
                                      [&](auto q) { return *index->search(q, kK); });
        }
      }
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    std::printf(
        "  before (add() one at a time, ef_construction 200, 1 thread): %6.0f vectors/s, %6.0f "
        "per CPU-second, recall@10 %.3f\n",
        median(rate[0]), median(cpu_rate[0]), last_recall[0]);
    std::printf(
        "  after  (add_batch, ef_construction %zu, %u threads):       %6.0f vectors/s, %6.0f "
        "per CPU-second, recall@10 %.3f\n",
        options.ef_construction, std::thread::hardware_concurrency(), median(rate[1]),
        median(cpu_rate[1]), last_recall[1]);
    std::printf("  after / before: x%.2f vectors/s, x%.2f per CPU-second\n",
                median(rate[1]) / median(rate[0]), median(cpu_rate[1]) / median(cpu_rate[0]));
  }

  // 2. The real path: store, open (build), save, open (load).
  std::string tmpl = args.dir + "/bench_knowledge.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) die("cannot make a directory under " + args.dir);
  const std::string dir = tmpl, index_dir = dir + "/indexes";
  std::printf("\nat N=%zu through a KnowledgeStore in %s:\n", args.n, dir.c_str());
  auto t0 = std::chrono::steady_clock::now();
  auto store_or = kn::KnowledgeStore::open(dir);
  if (!store_or.ok()) die(store_or.error().message);
  kn::KnowledgeStore& store = **store_or;
  const std::string vs = store.create_vector_store("bench", "bench")->id;
  constexpr size_t kFiles = 10;
  std::vector<int64_t> chunk_ids;  // chunk ids in data order
  for (size_t f = 0; f < kFiles; ++f) {
    kn::NewFile file{"bench", "synthetic.txt", "assistants", "", {}};
    for (size_t i = f * args.n / kFiles; i < (f + 1) * args.n / kFiles; ++i) {
      auto v = row(data, i);
      file.chunks.push_back({"chunk", 0, 5, std::vector<float>(v.begin(), v.end())});
    }
    std::vector<int64_t> file_ids;
    auto rec = store.add_file(file, &file_ids);
    if (!rec.ok()) die(rec.error().message);
    if (!store.attach_file("bench", vs, rec->id).ok()) die("attach failed");
    chunk_ids.insert(chunk_ids.end(), file_ids.begin(), file_ids.end());
  }
  std::printf("  store written in %.1f s\n", seconds_since(t0));

  t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_seconds();
  auto built = kn::VectorIndexSet::open(store, index_dir, options);
  const double build_s = seconds_since(t0), build_cpu = cpu_seconds() - c0;
  if (!built.ok() || (*built)->loaded_from_disk()) die("the first open should build");
  std::printf(
      "  open, nothing saved: built in %.1f s (%.0f vectors/s, %.0f per CPU-second; reading the "
      "store included)\n",
      build_s, static_cast<double>(args.n) / build_s, static_cast<double>(args.n) / build_cpu);
  t0 = std::chrono::steady_clock::now();
  if (auto s = (*built)->save(store); !s.ok()) die(s.message());
  const double save_s = seconds_since(t0);
  std::printf("  save: %.2f s, %.0f MiB\n", save_s,
              static_cast<double>(directory_bytes(index_dir)) / (1 << 20));
  t0 = std::chrono::steady_clock::now();
  auto loaded = kn::VectorIndexSet::open(store, index_dir, options);
  const double load_s = seconds_since(t0);
  if (!loaded.ok() || !(*loaded)->loaded_from_disk()) die("the second open should load");
  std::printf("  open, saved: loaded in %.2f s (checksums included), x%.0f faster than building\n",
              load_s, build_s / load_s);
  for (size_t i = 0; i < args.queries; ++i) {
    auto a = *(*built)->search(vs, row(queries, i), kK);
    auto b = *(*loaded)->search(vs, row(queries, i), kK);
    if (a.size() != b.size()) die("the loaded set answers differently");
    for (size_t j = 0; j < a.size(); ++j) {
      if (a[j].chunk_id != b[j].chunk_id || a[j].score != b[j].score) {
        die("the loaded set answers differently");
      }
    }
  }
  std::printf("  the loaded set answers all %zu queries exactly as the built one\n", args.queries);
  built->reset();

  // 3. Search latency, validated first.
  const double r = recall(data, chunk_ids, args.n, queries, args.queries,
                          [&](auto q) { return *(*loaded)->search(vs, q, kK); });
  std::printf("\nsearch, top-%zu, one thread, N=%zu: recall@10 %.3f over %zu queries\n", kK, args.n,
              r, args.queries);
  std::vector<double> index_us, scan_us;
  for (size_t i = 0; i < args.queries; ++i) {
    t0 = std::chrono::steady_clock::now();
    auto exact = kn::brute_force_search(data, chunk_ids, kDim, row(queries, i), kK);
    scan_us.push_back(seconds_since(t0) * 1e6);
    t0 = std::chrono::steady_clock::now();
    auto approx = (*loaded)->search(vs, row(queries, i), kK);
    index_us.push_back(seconds_since(t0) * 1e6);
    if (exact.empty() || !approx.ok()) die("empty answer");
  }
  print_latency("hnsw", index_us);
  print_latency("brute force", scan_us);
  std::printf("load average at the end %.1f\n", load_average());
  std::filesystem::remove_all(dir);
  return 0;
}
