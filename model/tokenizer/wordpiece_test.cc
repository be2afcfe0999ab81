// WordPiece tests: HuggingFace tokenizers' ids and decodings of all-MiniLM-L6-v2's
// tokenizer.json (tests/golden/embeddings/wordpiece_golden.json), the ids of the
// embedding goldens, the BERT normalisation and splitting rules one by one, added-token
// flags on a small tokenizer.json checked against HuggingFace, and loading errors.
#include "model/tokenizer/wordpiece.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "model/tokenizer/bert_text.h"

namespace shardserve {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using tok::BertNormalizerOptions;

constexpr const char* kTokenizer = "models/all-MiniLM-L6-v2/tokenizer.json";
constexpr const char* kWordPieceGolden = "tests/golden/embeddings/wordpiece_golden.json";
constexpr const char* kEmbeddingGolden = "tests/golden/embeddings/embedding_golden.json";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json read_json(const std::string& path) {
  EXPECT_TRUE(fs::exists(path)) << path << " is missing: it is committed with the tests";
  return nlohmann::json::parse(read_file(path));
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string show(const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

// all-MiniLM-L6-v2's tokenizer, loaded once; nullptr (and why in *why) when it is missing
// or does not load.
const WordPieceTokenizer* minilm(std::string* why) {
  static std::string error;
  static const std::unique_ptr<WordPieceTokenizer> tokenizer = [] {
    std::unique_ptr<WordPieceTokenizer> t;
    auto loaded = WordPieceTokenizer::from_json_file(kTokenizer);
    if (loaded.ok())
      t = std::move(loaded).value();
    else
      error = loaded.error().message;
    return t;
  }();
  *why = error;
  return tokenizer.get();
}

// Fails (never skips) the test without the model: scripts/test fetches it first.
#define REQUIRE_MINILM()                                            \
  std::string why;                                                  \
  const WordPieceTokenizer* tok = minilm(&why);                     \
  ASSERT_NE(tok, nullptr) << why << " (from " << fs::current_path() \
                          << "; scripts/test runs scripts/fetch-models before the tests)"

std::vector<TokenId> ids_of(const nlohmann::json& j) {
  return j.get<std::vector<TokenId>>();
}

TEST(WordPiece, LoadsMiniLMTokenizer) {
  REQUIRE_MINILM();
  EXPECT_EQ(tok->n_vocab(), 30522);
  EXPECT_EQ(tok->cls_id(), 101);
  EXPECT_EQ(tok->sep_id(), 102);
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->unk_id(), 100);
  EXPECT_EQ(tok->token_text(101), "[CLS]");
  EXPECT_EQ(tok->token_text(7592), "hello");
  EXPECT_EQ(tok->token_text(-1), "");
  EXPECT_EQ(tok->token_text(30522), "");
}

TEST(WordPiece, MatchesHuggingFaceGolden) {
  REQUIRE_MINILM();
  const nlohmann::json golden = read_json(kWordPieceGolden);
  ASSERT_GE(golden["cases"].size(), 300u);
  int failures = 0;
  for (const auto& c : golden["cases"]) {
    const std::string text =
        c.contains("text") ? c["text"].get<std::string>() : from_hex(c["text_hex"]);
    const std::vector<TokenId> want = ids_of(c["ids"]);
    const std::vector<TokenId> got = tok->encode(text, /*add_special=*/true);
    const std::vector<TokenId> plain = tok->encode(text, /*add_special=*/false);
    const std::string decoded = tok->decode(want);
    const std::string decoded_skip = tok->decode(want, /*skip_special=*/true);
    const bool ok = got == want &&
                    plain == std::vector<TokenId>(want.begin() + 1, want.end() - 1) &&
                    decoded == c["decoded"] && decoded_skip == c["decoded_skip"];
    if (!ok && ++failures <= 10) {
      ADD_FAILURE() << "text " << c.dump() << "\n  want " << show(want) << "\n  got  " << show(got)
                    << "\n  decoded '" << decoded << "' skip '" << decoded_skip << "'";
    }
  }
  EXPECT_EQ(failures, 0) << "of " << golden["cases"].size() << " cases";
}

TEST(WordPiece, MatchesEmbeddingGoldenTokens) {
  REQUIRE_MINILM();
  const nlohmann::json golden = read_json(kEmbeddingGolden);
  ASSERT_GE(golden["cases"].size(), 24u);
  bool saw_256 = false;
  for (const auto& c : golden["cases"]) {
    const std::vector<TokenId> want = ids_of(c["tokens"]);
    EXPECT_EQ(show(tok->encode(c["text"].get<std::string>(), true)), show(want))
        << c["text"].dump();
    saw_256 |= want.size() == 256;
  }
  EXPECT_TRUE(saw_256) << "the golden should hold a text of exactly max_seq_length tokens";
}

TEST(WordPiece, SplitsWordsIntoLongestPieces) {
  REQUIRE_MINILM();
  std::vector<std::string> pieces;
  for (TokenId id : tok->encode("Unaffable tokenization", false))
    pieces.push_back(tok->token_text(id));
  EXPECT_EQ(pieces, (std::vector<std::string>{"una", "##ffa", "##ble", "token", "##ization"}));
  // The decoder's cleanup works per token, so " ' " never matches (as in HuggingFace).
  EXPECT_EQ(tok->decode(tok->encode("Unaffable tokenization, isn't it?", true), true),
            "unaffable tokenization, isn ' t it?");
}

TEST(WordPiece, WordOverMaxCharsIsUnknown) {
  REQUIRE_MINILM();
  const TokenId unk = tok->unk_id();
  EXPECT_NE(tok->encode(std::string(100, 'a'), false), std::vector<TokenId>{unk});
  EXPECT_EQ(tok->encode(std::string(101, 'a'), false), std::vector<TokenId>{unk});
  // Characters are counted after normalisation: 100 x "e + combining acute" is 100 e.
  std::string accented;
  for (int i = 0; i < 100; ++i) accented += "e\u0301";
  EXPECT_EQ(tok->encode(accented, false), tok->encode(std::string(100, 'e'), false));
}

TEST(WordPiece, InvalidUtf8IsDroppedLikeReplacementCharacters) {
  REQUIRE_MINILM();
  EXPECT_EQ(tok->encode("caf\xC3", false), tok->encode("caf", false));
  EXPECT_EQ(tok->encode("a\xED\xA0\x80"
                        "b",
                        false),
            tok->encode("ab", false));  // surrogate
  EXPECT_EQ(tok->encode("\xFF\xFE", true), (std::vector<TokenId>{101, 102}));
  EXPECT_EQ(tok->encode("", true), (std::vector<TokenId>{101, 102}));
  EXPECT_TRUE(tok->encode("", false).empty());
}

TEST(WordPiece, SpecialTokensInTextAreMatchedBeforeNormalisation) {
  REQUIRE_MINILM();
  EXPECT_EQ(tok->encode("x[MASK]y", false), (std::vector<TokenId>{1060, 103, 1061}));
  // Lowercase "[mask]" is not the token: brackets and word.
  EXPECT_EQ(tok->encode("[mask]", false).size(), 3u);
}

TEST(WordPiece, ConcurrentEncodesAgree) {
  REQUIRE_MINILM();
  const std::string text = "Thread-safe: café 北京 😀 [SEP] tokenization!";
  const std::vector<TokenId> want = tok->encode(text, true);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches = 0;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (tok->encode(text, true) != want) ++mismatches;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, 0);
}

// --- BERT normalisation and splitting, rule by rule -------------------------------------

std::u32string norm(std::u32string_view s, BertNormalizerOptions o = {}) {
  return tok::bert_normalize(s, o);
}

TEST(BertText, CleanTextDropsControlsAndMapsWhitespace) {
  EXPECT_EQ(norm(U"a\0b\uFFFD\x07"
                 U"c\td\ne\rf\u00A0g\u3000h"s),
            U"abc d e f g h");
  EXPECT_EQ(norm(U"a\u200Bb\u200Dc\uFEFFd\u00ADe\uE000f"), U"abcdef");  // Cf and Co
  EXPECT_EQ(norm(U"a\x85"
                 U"b\x0B"
                 U"c\x1C"
                 U"d"),
            U"abcd");  // C0/C1 controls, not spaces
  BertNormalizerOptions keep;
  keep.clean_text = false;
  keep.lowercase = false;
  EXPECT_EQ(norm(U"a\0b\tc"s, keep), U"a\0b\tc"s);
}

TEST(BertText, PadsCjkIdeographsOnly) {
  EXPECT_EQ(norm(U"中文abc"), U" 中  文 abc");
  EXPECT_EQ(norm(U"カタカナ"), U"カタカナ");          // kana are not in BERT's list
  EXPECT_EQ(norm(U"が"), U"か");                      // but lose their voicing mark (NFD, then Mn)
  EXPECT_EQ(norm(U"a\U0002B820b"), U"a\U0002B820b");  // HuggingFace's list skips U+2B820..
  EXPECT_EQ(norm(U"a\U0002B920b"), U"a \U0002B920 b");
}

TEST(BertText, StripsAccentsWhenLowercasing) {
  EXPECT_EQ(norm(U"Ångström Café NAÏVE"), U"angstrom cafe naive");
  EXPECT_EQ(norm(U"\u0130"), U"i");  // NFD first: I + dot above, the dot dropped
  BertNormalizerOptions keep_accents;
  keep_accents.strip_accents = false;
  EXPECT_EQ(norm(U"Ångström", keep_accents), U"ångström");
  EXPECT_EQ(norm(U"\u0130", keep_accents), U"i\u0307");  // full lowercase mapping
  BertNormalizerOptions strip_only;
  strip_only.lowercase = false;
  strip_only.strip_accents = true;
  EXPECT_EQ(norm(U"Ångström", strip_only), U"Angstrom");
  EXPECT_EQ(norm(U"한"), U"\u1112\u1161\u11AB");  // Hangul syllables decompose to jamo
}

TEST(BertText, LowercasesEachCharacterAlone) {
  EXPECT_EQ(norm(U"ΣΑΣ"), U"σασ");  // no final sigma, as Rust's char::to_lowercase
  EXPECT_EQ(norm(U"ẞ Ǆ Ⓐ \U00010400"), U"ß ǆ ⓐ \U00010428");
}

TEST(BertText, UsesUnicode8CategoriesLikeHuggingFace) {
  // U+2E42 (Unicode 8.0) is punctuation; U+2E43 (9.0) is not yet, so stays in its word.
  EXPECT_EQ(tok::bert_pre_tokenize(U"a\u2E42b"),
            (std::vector<std::u32string>{U"a", U"\u2E42", U"b"}));
  EXPECT_EQ(tok::bert_pre_tokenize(U"a\u2E43b"), (std::vector<std::u32string>{U"a\u2E43b"}));
  EXPECT_EQ(norm(U"a\u061Cb"), U"ab");        // Cf since 6.3: dropped
  EXPECT_EQ(norm(U"a\u08E2b"), U"a\u08E2b");  // Cf since 9.0: kept
  EXPECT_EQ(norm(U"e\u0301"), U"e");          // Mn: dropped
  EXPECT_EQ(norm(U"e\u08D4"), U"e\u08D4");    // Mn since 9.0: kept
  EXPECT_EQ(norm(U"a\u0378b"), U"a\u0378b");  // unassigned: kept
}

TEST(BertText, SplitsOnWhitespaceAndPunctuation) {
  using W = std::vector<std::u32string>;
  EXPECT_EQ(tok::bert_pre_tokenize(U"Hello, world!"), (W{U"Hello", U",", U"world", U"!"}));
  EXPECT_EQ(tok::bert_pre_tokenize(U"$5+3=8 ^_^ `~|"),
            (W{U"$", U"5", U"+", U"3", U"=", U"8", U"^", U"_", U"^", U"`", U"~", U"|"}));
  EXPECT_EQ(tok::bert_pre_tokenize(U"  a\u3000b\u2028c  "), (W{U"a", U"b", U"c"}));
  EXPECT_EQ(tok::bert_pre_tokenize(U"¿qué?«sí»"), (W{U"¿", U"qué", U"?", U"«", U"sí", U"»"}));
  EXPECT_EQ(tok::bert_pre_tokenize(U"€5 ©"), (W{U"€5", U"©"}));  // symbols are not P*
  EXPECT_TRUE(tok::bert_pre_tokenize(U" \t ").empty());
}

TEST(BertText, DecodesUtf8StrictlyWithOneReplacementPerBadSequence) {
  EXPECT_EQ(tok::decode_utf8_strict("\xE2\x82"
                                    "A"),
            U"\uFFFDA");
  EXPECT_EQ(tok::decode_utf8_strict("\xC0\x80"), U"\uFFFD\uFFFD");            // overlong
  EXPECT_EQ(tok::decode_utf8_strict("\xED\xA0\x80"), U"\uFFFD\uFFFD\uFFFD");  // surrogate
  EXPECT_EQ(tok::decode_utf8_strict("é😀"), U"é😀");
  EXPECT_EQ(tok::encode_utf8(U"é😀"), "é😀");
  EXPECT_EQ(tok::encode_utf8(std::u32string(1, char32_t{0x110000})), "\uFFFD");
}

// --- Added-token flags on a small tokenizer.json (ids and decodings from tokenizers 0.23) --

constexpr std::string_view kSmallTokenizer = R"({
  "version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [
    {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 2, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 3, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 19, "content": "<x>", "single_word": false, "lstrip": true, "rstrip": true, "normalized": false, "special": true},
    {"id": 20, "content": "SW", "single_word": true, "lstrip": false, "rstrip": false, "normalized": false, "special": false},
    {"id": 21, "content": "HeLLo", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false}],
  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                 "strip_accents": false, "lowercase": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
  "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 5,
            "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5,
                      "un": 6, "##aff": 7, "##able": 8, "a": 9, "##b": 10, "sw": 11, "x": 12,
                      "!": 13, ",": 14, "##s": 15, "b": 16, "é": 17, "e": 18}}})";

std::unique_ptr<WordPieceTokenizer> small_tokenizer() {
  auto t = WordPieceTokenizer::from_json(kSmallTokenizer, "small tokenizer.json");
  EXPECT_TRUE(t.ok()) << t.error().message;
  return t.ok() ? std::move(t).value() : nullptr;
}

TEST(WordPieceAddedTokens, FlagsBehaveAsInHuggingFace) {
  auto tok = small_tokenizer();
  ASSERT_NE(tok, nullptr);
  struct Case {
    const char* text;
    std::vector<TokenId> ids;
    const char* decoded;
    const char* decoded_skip;
  };
  const Case cases[] = {
      {"hello <x> world", {2, 21, 19, 5, 3}, "[CLS] hello <x> world [SEP]", "hello world"},
      {"hello<x>world", {2, 21, 19, 5, 3}, "[CLS] hello <x> world [SEP]", "hello world"},
      {"a  <x>  b", {2, 9, 19, 16, 3}, "[CLS] a <x> b [SEP]", "a b"},
      {"SW sw", {2, 20, 11, 3}, "[CLS] SW sw [SEP]", "SW sw"},
      {"aSW", {2, 1, 3}, "[CLS] [UNK] [SEP]", ""},
      {"SW!", {2, 20, 13, 3}, "[CLS] SW! [SEP]", "SW!"},
      {"xSWx", {2, 1, 3}, "[CLS] [UNK] [SEP]", ""},
      {"SW,SW", {2, 20, 14, 20, 3}, "[CLS] SW, SW [SEP]", "SW, SW"},
      {"HELLO world", {2, 21, 5, 3}, "[CLS] hello world [SEP]", "hello world"},
      {"hellohello", {2, 21, 21, 3}, "[CLS] hello hello [SEP]", "hello hello"},
      {"unaffable", {2, 1, 3}, "[CLS] [UNK] [SEP]", ""},  // max_input_chars_per_word 5
      {"abb", {2, 9, 10, 10, 3}, "[CLS] abb [SEP]", "abb"},
      {"\u00C9 \u00E9", {2, 17, 17, 3}, "[CLS] \u00E9 \u00E9 [SEP]", "\u00E9 \u00E9"},
      {"<x><x>", {2, 19, 19, 3}, "[CLS] <x> <x> [SEP]", ""},
      {"[CLS]hello", {2, 2, 21, 3}, "[CLS] [CLS] hello [SEP]", "hello"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(show(tok->encode(c.text, true)), show(c.ids)) << c.text;
    EXPECT_EQ(tok->decode(c.ids), c.decoded) << c.text;
    EXPECT_EQ(tok->decode(c.ids, true), c.decoded_skip) << c.text;
  }
  EXPECT_EQ(tok->n_vocab(), 22);
  EXPECT_EQ(tok->cls_id(), 2);
  EXPECT_EQ(tok->sep_id(), 3);
  EXPECT_EQ(tok->pad_id(), 0);  // no padding section: the "[PAD]" entry
}

// --- Loading errors name the key ----------------------------------------------------------

// The error of loading kSmallTokenizer with `edit` applied to its JSON.
std::string error_after(const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json j = nlohmann::json::parse(kSmallTokenizer);
  edit(j);
  auto t = WordPieceTokenizer::from_json(j.dump(), "bad.json");
  return t.ok() ? "(loaded)" : t.error().message;
}

TEST(WordPieceErrors, NameTheKey) {
  using J = nlohmann::json;
  const std::pair<std::function<void(J&)>, std::string> cases[] = {
      {[](J& j) { j.erase("model"); }, "'model' must be an object"},
      {[](J& j) { j["model"]["type"] = "BPE"; }, "'model.type' is 'BPE'"},
      {[](J& j) { j["model"].erase("vocab"); }, "'model.vocab' must be a non-empty object"},
      {[](J& j) { j["model"]["vocab"] = J::array(); }, "'model.vocab' must be"},
      {[](J& j) { j["model"]["vocab"]["a"] = -1; }, "'model.vocab[\"a\"]' must be an integer"},
      {[](J& j) { j["model"]["vocab"]["a"] = "9"; }, "'model.vocab[\"a\"]' must be an integer"},
      {[](J& j) { j["model"]["vocab"]["b"] = 9; }, "'model.vocab[\"b\"]' reuses id 9"},
      {[](J& j) { j["model"]["unk_token"] = "<unk>"; }, "'model.unk_token' names '<unk>'"},
      {[](J& j) { j["model"]["unk_token"] = 5; }, "'model.unk_token' must be a string"},
      {[](J& j) { j["model"]["max_input_chars_per_word"] = 1.5; },
       "'model.max_input_chars_per_word' must be an integer"},
      {[](J& j) { j["normalizer"]["type"] = "NFKC"; }, "'normalizer.type' is 'NFKC'"},
      {[](J& j) { j["normalizer"]["lowercase"] = "yes"; }, "'normalizer.lowercase' must be"},
      {[](J& j) { j["normalizer"]["strip_accents"] = 1; }, "'normalizer.strip_accents' must be"},
      {[](J& j) { j["pre_tokenizer"] = nullptr; }, "'pre_tokenizer' must be an object"},
      {[](J& j) { j["pre_tokenizer"]["type"] = "Whitespace"; }, "'pre_tokenizer.type'"},
      {[](J& j) { j["added_tokens"] = J::object(); }, "'added_tokens' must be an array"},
      {[](J& j) { j["added_tokens"][4]["id"] = "19"; }, "'added_tokens[4].id' must be"},
      {[](J& j) { j["added_tokens"][5].erase("content"); }, "'added_tokens[5].content' is missing"},
      {[](J& j) { j["added_tokens"][6]["lstrip"] = 0; }, "'added_tokens[6].lstrip' must be"},
      {[](J& j) { j["post_processor"]["type"] = "RobertaProcessing"; },
       "'post_processor.type' is 'RobertaProcessing'"},
      {[](J& j) { j["post_processor"]["cls"] = "[CLS]"; }, "'post_processor.cls' must be"},
      {[](J& j) { j["post_processor"]["sep"][1] = 99; },
       "'post_processor' uses id 99, beyond the vocabulary of 22"},
      {[](J& j) {
         j["post_processor"] = J::parse(R"({"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "[BOS]", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "special_tokens": {}})");
       },
       "'post_processor.single[0]' names special token '[BOS]'"},
      {[](J& j) { j["decoder"]["type"] = "ByteLevel"; }, "'decoder.type' is 'ByteLevel'"},
      {[](J& j) { j["padding"] = J::object(); }, "'padding.pad_id' is missing"},
  };
  for (const auto& [edit, want] : cases) {
    const std::string message = error_after(edit);
    EXPECT_NE(message.find(want), std::string::npos) << "want '" << want << "' in: " << message;
    EXPECT_EQ(message.rfind("bad.json: ", 0), 0u) << message;
  }
}

TEST(WordPieceErrors, NotJsonOrMissingFile) {
  auto t = WordPieceTokenizer::from_json("{\"model\": ", "broken.json");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("broken.json: not valid JSON"), std::string::npos)
      << t.error().message;
  auto arr = WordPieceTokenizer::from_json("[1, 2]", "array.json");
  ASSERT_FALSE(arr.ok());
  EXPECT_NE(arr.error().message.find("top level is not a JSON object"), std::string::npos);
  auto missing = WordPieceTokenizer::from_json_file("/nonexistent/tokenizer.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("scripts/fetch-models"), std::string::npos)
      << missing.error().message;
}

TEST(WordPieceTemplate, TemplateProcessingGivesPrefixAndSuffix) {
  nlohmann::json j = nlohmann::json::parse(kSmallTokenizer);
  j["post_processor"] = nlohmann::json::parse(R"({"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
      "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                         "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}})");
  j["padding"] = nlohmann::json::parse(R"({"pad_id": 16, "pad_token": "b"})");
  auto t = WordPieceTokenizer::from_json(j.dump(), "template.json");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ((*t)->encode("a", true), (std::vector<TokenId>{2, 9, 3}));
  EXPECT_EQ((*t)->pad_id(), 16);
  j["post_processor"] = nullptr;
  auto none = WordPieceTokenizer::from_json(j.dump(), "none.json");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ((*none)->encode("a", true), (std::vector<TokenId>{9}));
  EXPECT_EQ((*none)->cls_id(), -1);
}

}  // namespace
}  // namespace shardserve
