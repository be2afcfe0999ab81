// Reads a HuggingFace tokenizer.json into a WordPieceModel, checking every key it uses.
#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "model/tokenizer/wordpiece_model.h"

namespace shardserve::tok {

namespace {

using nlohmann::json;

constexpr const char* kHint =
    " (expected a HuggingFace tokenizer.json of a BERT WordPiece model, such as "
    "models/all-MiniLM-L6-v2/tokenizer.json from scripts/fetch-models)";

// Reads keys of one tokenizer.json; the first problem becomes the Error, naming the key.
class Reader {
 public:
  explicit Reader(const std::string& origin) : origin_(origin) {}

  Error error(const std::string& key, const std::string& what) const {
    return Error{origin_ + ": '" + key + "' " + what + kHint};
  }

  // The member `name` of `obj` (whose own key is `key`); nullptr if absent or null.
  static const json* find(const json& obj, const char* name) {
    auto it = obj.find(name);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }

  Result<bool> boolean(const json& obj, const std::string& key, const char* name,
                       bool fallback) const {
    const json* v = find(obj, name);
    if (!v) return fallback;
    if (!v->is_boolean()) return error(key + "." + name, "must be true or false");
    return v->get<bool>();
  }

  Result<std::string> string(const json& obj, const std::string& key, const char* name,
                             std::optional<std::string> fallback) const {
    const json* v = find(obj, name);
    if (!v) {
      if (fallback) return *fallback;
      return error(key + "." + name, "is missing");
    }
    if (!v->is_string()) return error(key + "." + name, "must be a string");
    return v->get<std::string>();
  }

  // A non-negative integer below `limit`.
  Result<int64_t> integer(const json& v, const std::string& key, int64_t limit) const {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= limit)
      return error(key, "must be an integer from 0 to " + std::to_string(limit - 1));
    return v.get<int64_t>();
  }

 private:
  const std::string& origin_;
};

constexpr int64_t kMaxId = std::numeric_limits<TokenId>::max();

Status read_model(const Reader& r, const json& root, WordPieceModel& m) {
  const json* model = Reader::find(root, "model");
  if (!model || !model->is_object()) return r.error("model", "must be an object");
  auto type = r.string(*model, "model", "type", "WordPiece");
  if (!type.ok()) return type.error();
  if (*type != "WordPiece")
    return r.error("model.type", "is '" + *type + "'; only WordPiece models are supported");

  const json* vocab = Reader::find(*model, "vocab");
  if (!vocab || !vocab->is_object() || vocab->empty())
    return r.error("model.vocab", "must be a non-empty object of token text -> id");
  int64_t max_id = -1;
  for (const auto& [text, id] : vocab->items()) {
    auto v = r.integer(id, "model.vocab[\"" + text + "\"]", kMaxId);
    if (!v.ok()) return v.error();
    max_id = std::max(max_id, *v);
  }
  m.id_to_token.assign(static_cast<size_t>(max_id + 1), "");
  std::vector<bool> used(m.id_to_token.size(), false);
  for (const auto& [text, id] : vocab->items()) {
    const auto tid = id.get<TokenId>();
    if (used[tid])
      return r.error("model.vocab[\"" + text + "\"]",
                     "reuses id " + std::to_string(tid) + " of '" + m.id_to_token[tid] + "'");
    used[tid] = true;
    m.id_to_token[tid] = text;
    m.token_to_id.emplace(text, tid);
  }

  auto prefix = r.string(*model, "model", "continuing_subword_prefix", "##");
  if (!prefix.ok()) return prefix.error();
  m.continuing_subword_prefix = *prefix;
  for (const auto& [text, id] : m.token_to_id)
    if (text.starts_with(m.continuing_subword_prefix))
      m.continuation_to_id.emplace(text.substr(m.continuing_subword_prefix.size()), id);

  auto unk = r.string(*model, "model", "unk_token", "[UNK]");
  if (!unk.ok()) return unk.error();
  auto unk_it = m.token_to_id.find(*unk);
  if (unk_it == m.token_to_id.end())
    return r.error("model.unk_token", "names '" + *unk + "', which is not in model.vocab");
  m.unk_id = unk_it->second;

  if (const json* max_chars = Reader::find(*model, "max_input_chars_per_word")) {
    auto v = r.integer(*max_chars, "model.max_input_chars_per_word", kMaxId);
    if (!v.ok()) return v.error();
    m.max_input_chars_per_word = static_cast<size_t>(*v);
  }
  return {};
}

Status read_normalizer(const Reader& r, const json& root, WordPieceModel& m) {
  const json* n = Reader::find(root, "normalizer");
  if (!n) return {};  // none: text goes to the pre-tokenizer as it is
  if (!n->is_object()) return r.error("normalizer", "must be an object or null");
  auto type = r.string(*n, "normalizer", "type", std::nullopt);
  if (!type.ok()) return type.error();
  if (*type != "BertNormalizer")
    return r.error("normalizer.type",
                   "is '" + *type + "'; only BertNormalizer (or no normalizer) is supported");
  m.has_normalizer = true;
  auto clean = r.boolean(*n, "normalizer", "clean_text", true);
  auto chinese = r.boolean(*n, "normalizer", "handle_chinese_chars", true);
  auto lower = r.boolean(*n, "normalizer", "lowercase", true);
  for (const auto* b : {&clean, &chinese, &lower})
    if (!b->ok()) return b->error();
  m.normalizer.clean_text = *clean;
  m.normalizer.handle_chinese_chars = *chinese;
  m.normalizer.lowercase = *lower;
  if (const json* strip = Reader::find(*n, "strip_accents")) {
    if (!strip->is_boolean())
      return r.error("normalizer.strip_accents", "must be true, false or null");
    m.normalizer.strip_accents = strip->get<bool>();
  }
  return {};
}

Status read_pre_tokenizer(const Reader& r, const json& root) {
  const json* p = Reader::find(root, "pre_tokenizer");
  if (!p || !p->is_object()) return r.error("pre_tokenizer", "must be an object");
  auto type = r.string(*p, "pre_tokenizer", "type", std::nullopt);
  if (!type.ok()) return type.error();
  if (*type != "BertPreTokenizer")
    return r.error("pre_tokenizer.type", "is '" + *type + "'; only BertPreTokenizer is supported");
  return {};
}

Status read_added_tokens(const Reader& r, const json& root, WordPieceModel& m) {
  const json* added = Reader::find(root, "added_tokens");
  if (!added) return {};
  if (!added->is_array()) return r.error("added_tokens", "must be an array");
  for (size_t i = 0; i < added->size(); ++i) {
    const json& t = (*added)[i];
    const std::string key = "added_tokens[" + std::to_string(i) + "]";
    if (!t.is_object()) return r.error(key, "must be an object");
    const json* id = Reader::find(t, "id");
    if (!id) return r.error(key + ".id", "is missing");
    auto v = r.integer(*id, key + ".id", kMaxId);
    if (!v.ok()) return v.error();
    auto content = r.string(t, key, "content", std::nullopt);
    if (!content.ok()) return content.error();
    if (content->empty()) return r.error(key + ".content", "is empty");
    AddedToken a;
    a.id = static_cast<TokenId>(*v);
    auto special = r.boolean(t, key, "special", false);
    auto single = r.boolean(t, key, "single_word", false);
    auto lstrip = r.boolean(t, key, "lstrip", false);
    auto rstrip = r.boolean(t, key, "rstrip", false);
    if (!special.ok()) return special.error();
    auto normalized = r.boolean(t, key, "normalized", !*special);
    for (const auto* b : {&single, &lstrip, &rstrip, &normalized})
      if (!b->ok()) return b->error();
    a.special = *special;
    a.single_word = *single;
    a.lstrip = *lstrip;
    a.rstrip = *rstrip;
    a.normalized = *normalized && m.has_normalizer;
    a.content = decode_utf8_strict(*content);
    if (a.normalized) a.content = bert_normalize(a.content, m.normalizer);
    if (static_cast<size_t>(a.id) >= m.id_to_token.size())
      m.id_to_token.resize(static_cast<size_t>(a.id) + 1);
    // decode shows an added token as it is matched (tokenizers 0.23 and later).
    m.id_to_token[a.id] = a.normalized ? encode_utf8(a.content) : *content;
    if (static_cast<size_t>(a.id) >= m.is_special.size()) m.is_special.resize(a.id + 1);
    m.is_special[a.id] = a.special;
    if (a.content.empty()) continue;  // normalizes to nothing: can never match
    (a.normalized ? m.added_normalized : m.added_raw).push_back(std::move(a));
  }
  return {};
}

// The ids of one special token named in a post-processor.
Result<TokenId> special_id(const Reader& r, const json& specials, const std::string& name,
                           const std::string& key) {
  const json* s = Reader::find(specials, name.c_str());
  const json* ids = s && s->is_object() ? Reader::find(*s, "ids") : nullptr;
  if (!ids || !ids->is_array() || ids->size() != 1)
    return r.error(key, "names special token '" + name +
                            "', which post_processor.special_tokens does not give one id");
  auto v = r.integer((*ids)[0], "post_processor.special_tokens[\"" + name + "\"].ids[0]", kMaxId);
  if (!v.ok()) return v.error();
  return static_cast<TokenId>(*v);
}

Status read_template(const Reader& r, const json& p, WordPieceModel& m) {
  const json* single = Reader::find(p, "single");
  const json* specials = Reader::find(p, "special_tokens");
  if (!single || !single->is_array())
    return r.error("post_processor.single", "must be an array of template pieces");
  if (!specials || !specials->is_object())
    return r.error("post_processor.special_tokens", "must be an object");
  bool seen_sequence = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const json& piece = (*single)[i];
    const std::string key = "post_processor.single[" + std::to_string(i) + "]";
    const json* special = piece.is_object() ? Reader::find(piece, "SpecialToken") : nullptr;
    const json* sequence = piece.is_object() ? Reader::find(piece, "Sequence") : nullptr;
    if (sequence && !seen_sequence) {
      seen_sequence = true;
      continue;
    }
    if (!special || !special->is_object())
      return r.error(key, "must be {\"SpecialToken\": ...} or the one {\"Sequence\": ...}");
    auto name = r.string(*special, key + ".SpecialToken", "id", std::nullopt);
    if (!name.ok()) return name.error();
    auto id = special_id(r, *specials, *name, key);
    if (!id.ok()) return id.error();
    (seen_sequence ? m.suffix_ids : m.prefix_ids).push_back(*id);
  }
  if (!seen_sequence) return r.error("post_processor.single", "has no {\"Sequence\": ...}");
  return {};
}

// BertProcessing: "cls": ["[CLS]", 101], "sep": ["[SEP]", 102].
Result<TokenId> bert_processing_id(const Reader& r, const json& p, const char* name) {
  const json* v = Reader::find(p, name);
  const std::string key = std::string("post_processor.") + name;
  if (!v || !v->is_array() || v->size() != 2 || !(*v)[0].is_string())
    return r.error(key, "must be [token text, id]");
  auto id = r.integer((*v)[1], key + "[1]", kMaxId);
  if (!id.ok()) return id.error();
  return static_cast<TokenId>(*id);
}

Status read_post_processor(const Reader& r, const json& root, WordPieceModel& m) {
  const json* p = Reader::find(root, "post_processor");
  if (!p) return {};  // no special tokens around the text
  if (!p->is_object()) return r.error("post_processor", "must be an object or null");
  auto type = r.string(*p, "post_processor", "type", std::nullopt);
  if (!type.ok()) return type.error();
  if (*type == "TemplateProcessing") return read_template(r, *p, m);
  if (*type == "BertProcessing") {
    auto cls = bert_processing_id(r, *p, "cls");
    if (!cls.ok()) return cls.error();
    auto sep = bert_processing_id(r, *p, "sep");
    if (!sep.ok()) return sep.error();
    m.prefix_ids = {*cls};
    m.suffix_ids = {*sep};
    return {};
  }
  return r.error("post_processor.type", "is '" + *type +
                                            "'; only TemplateProcessing and BertProcessing "
                                            "are supported");
}

Status read_decoder(const Reader& r, const json& root, WordPieceModel& m) {
  const json* d = Reader::find(root, "decoder");
  if (!d) return {};
  if (!d->is_object()) return r.error("decoder", "must be an object or null");
  auto type = r.string(*d, "decoder", "type", std::nullopt);
  if (!type.ok()) return type.error();
  if (*type != "WordPiece")
    return r.error("decoder.type", "is '" + *type + "'; only WordPiece is supported");
  auto prefix = r.string(*d, "decoder", "prefix", "##");
  if (!prefix.ok()) return prefix.error();
  auto cleanup = r.boolean(*d, "decoder", "cleanup", true);
  if (!cleanup.ok()) return cleanup.error();
  m.has_decoder = true;
  m.decoder_prefix = *prefix;
  m.decoder_cleanup = *cleanup;
  return {};
}

Status read_padding(const Reader& r, const json& root, WordPieceModel& m) {
  if (const json* padding = Reader::find(root, "padding")) {
    const json* id = padding->is_object() ? Reader::find(*padding, "pad_id") : nullptr;
    if (!id) return r.error("padding.pad_id", "is missing (padding is not null)");
    auto v = r.integer(*id, "padding.pad_id", kMaxId);
    if (!v.ok()) return v.error();
    m.pad_id = static_cast<TokenId>(*v);
    return {};
  }
  auto it = m.token_to_id.find("[PAD]");
  m.pad_id = it == m.token_to_id.end() ? -1 : it->second;
  return {};
}

}  // namespace

Result<WordPieceModel> parse_wordpiece_json(std::string_view text, const std::string& origin) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    return Error{origin + ": not valid JSON (" + e.what() + ")" + kHint};
  }
  if (!root.is_object()) return Error{origin + ": the top level is not a JSON object" + kHint};
  const Reader r(origin);
  WordPieceModel m;
  Status s = read_model(r, root, m);
  // The normalizer before the added tokens: normalized ones are stored normalized.
  if (s.ok()) s = read_normalizer(r, root, m);
  if (s.ok()) s = read_pre_tokenizer(r, root);
  if (s.ok()) s = read_added_tokens(r, root, m);
  if (s.ok()) s = read_post_processor(r, root, m);
  if (s.ok()) s = read_decoder(r, root, m);
  if (s.ok()) s = read_padding(r, root, m);
  if (!s.ok()) return s.error();
  m.is_special.resize(m.id_to_token.size(), false);
  const auto n_vocab = static_cast<TokenId>(m.id_to_token.size());
  for (const auto* ids : {&m.prefix_ids, &m.suffix_ids})
    for (TokenId id : *ids)
      if (id >= n_vocab)
        return r.error("post_processor", "uses id " + std::to_string(id) +
                                             ", beyond the vocabulary of " +
                                             std::to_string(n_vocab));
  return m;
}

}  // namespace shardserve::tok
