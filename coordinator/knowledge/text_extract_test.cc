#include "coordinator/knowledge/text_extract.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace shardserve::knowledge {
namespace {

std::string read_testdata(const std::string& name) {
  std::ifstream in("coordinator/knowledge/testdata/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr size_t kLimit = 1 << 20;

TEST(TextExtract, PlainTextKeptAsWritten) {
  const std::string bytes = read_testdata("sample.txt");
  Result<ExtractedText> r = extract_text(bytes, "text/plain; charset=utf-8", "sample.txt", kLimit);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->type, DocumentType::kText);
  EXPECT_EQ(r->text, bytes);
}

TEST(TextExtract, MarkdownByExtensionAndBomDropped) {
  Result<ExtractedText> r = extract_text("\xEF\xBB\xBF# Title\n\nbody", "", "notes.md", kLimit);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->type, DocumentType::kMarkdown);
  EXPECT_EQ(r->text, "# Title\n\nbody");
}

TEST(TextExtract, HtmlBodyTextWithoutScriptsOrStyles) {
  Result<ExtractedText> r = extract_text(read_testdata("sample.html"), "text/html", "", kLimit);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->type, DocumentType::kHtml);
  EXPECT_EQ(r->text,
            "Cluster guide\n\nWorkers run under mpirun.\n\nFirst item\n\nSecond item\n\n"
            "Caf\xC3\xA9 & r\xC3\xA9sum\xC3\xA9");
}

TEST(TextExtract, HtmlSniffedFromContent) {
  Result<ExtractedText> r = extract_text("  <html><body><p>a</p><p>b</p></body></html>",
                                         "application/octet-stream", "upload.bin", kLimit);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->type, DocumentType::kHtml);
  EXPECT_EQ(r->text, "a\n\nb");
}

TEST(TextExtract, PdfPagesInOrder) {
  const std::string pdf = read_testdata("sample.pdf");
  Result<ExtractedText> r = extract_text(pdf, "", "", kLimit);  // sniffed from %PDF-
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->type, DocumentType::kPdf);
  EXPECT_EQ(r->text,
            "Shardserve knowledge base sample page one.\n\nThe second page mentions hnswlib.");
}

TEST(TextExtract, DamagedPdfIsAnError) {
  Result<ExtractedText> r =
      extract_text("%PDF-1.4\nthis is not a pdf at all", "application/pdf", "x.pdf", kLimit);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidInput);
  EXPECT_NE(r.error().message.find("PDF"), std::string::npos) << r.error().message;
}

TEST(TextExtract, DeclaredPdfWithoutMagicIsAnError) {
  Result<ExtractedText> r = extract_text("hello", "application/pdf", "x.pdf", kLimit);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("%PDF-"), std::string::npos);
}

TEST(TextExtract, Limits) {
  Result<ExtractedText> big = extract_text(std::string(100, 'a'), "text/plain", "", 99);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("limit is 99"), std::string::npos) << big.error().message;
  EXPECT_FALSE(extract_text("", "text/plain", "", kLimit).ok());
  EXPECT_FALSE(extract_text("  \n ", "text/plain", "", kLimit).ok());
}

TEST(TextExtract, UnsupportedAndBinaryRefused) {
  Result<ExtractedText> png = extract_text("\x89PNG", "image/png", "a.png", kLimit);
  ASSERT_FALSE(png.ok());
  EXPECT_NE(png.error().message.find("image/png"), std::string::npos);
  EXPECT_FALSE(extract_text(std::string("\xFF\xFE\x00x", 4), "", "a.bin", kLimit).ok());
  EXPECT_FALSE(extract_text(std::string("a\0b", 3), "text/plain", "", kLimit).ok());
  EXPECT_FALSE(extract_text("caf\xC3", "text/plain", "", kLimit).ok());
}

TEST(TextExtract, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
}

}  // namespace
}  // namespace shardserve::knowledge
