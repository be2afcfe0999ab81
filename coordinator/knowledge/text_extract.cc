#include "coordinator/knowledge/text_extract.h"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>
#include <algorithm>
#include <cctype>
#include <climits>
#include <memory>
#include <mutex>

namespace shardserve::knowledge {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool starts_with_html(std::string_view bytes) {
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
  std::string head = lower(trim(bytes.substr(0, 512)));
  return head.rfind("<!doctype html", 0) == 0 || head.rfind("<html", 0) == 0;
}

// --- HTML -------------------------------------------------------------------------------

bool is_skipped_element(std::string_view name) {
  return name == "script" || name == "style" || name == "head" || name == "noscript" ||
         name == "template" || name == "title";
}

bool is_block_element(std::string_view name) {
  static constexpr std::string_view kBlocks[] = {
      "p",      "div",    "br",     "li",         "ul",   "ol",         "h1",      "h2",
      "h3",     "h4",     "h5",     "h6",         "tr",   "table",      "section", "article",
      "header", "footer", "nav",    "aside",      "pre",  "blockquote", "hr",      "dd",
      "dt",     "dl",     "figure", "figcaption", "main", "form",       "address", "caption"};
  return std::find(std::begin(kBlocks), std::end(kBlocks), name) != std::end(kBlocks);
}

// Appends the text under `node`, collapsing whitespace; block elements start and end a line.
void collect_html_text(const xmlNode* node, std::string& out) {
  for (const xmlNode* n = node; n != nullptr; n = n->next) {
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
      const char* text = reinterpret_cast<const char*>(n->content);
      if (text == nullptr) continue;
      for (const char* p = text; *p != '\0'; ++p) {
        if (std::isspace(static_cast<unsigned char>(*p))) {
          if (!out.empty() && out.back() != ' ' && out.back() != '\n') out += ' ';
        } else {
          out += *p;
        }
      }
    } else if (n->type == XML_ELEMENT_NODE) {
      std::string_view name = reinterpret_cast<const char*>(n->name);
      if (is_skipped_element(name)) continue;
      bool block = is_block_element(name);
      if (block) out += '\n';
      collect_html_text(n->children, out);
      if (block) out += '\n';
    }
  }
}

// Strips spaces around newlines and keeps at most one blank line between blocks.
std::string tidy_lines(const std::string& raw) {
  std::string out;
  size_t start = 0;
  int pending_newlines = 0;
  while (start <= raw.size()) {
    size_t end = raw.find('\n', start);
    if (end == std::string::npos) end = raw.size();
    std::string_view line = trim(std::string_view(raw).substr(start, end - start));
    if (line.empty()) {
      ++pending_newlines;
    } else {
      if (!out.empty()) out.append(std::min(pending_newlines + 1, 2), '\n');
      out.append(line);
      pending_newlines = 0;
    }
    start = end + 1;
  }
  return out;
}

const xmlNode* find_element(const xmlNode* node, std::string_view wanted) {
  for (const xmlNode* n = node; n != nullptr; n = n->next) {
    if (n->type != XML_ELEMENT_NODE) continue;
    if (reinterpret_cast<const char*>(n->name) == wanted) return n;
    if (const xmlNode* found = find_element(n->children, wanted)) return found;
  }
  return nullptr;
}

Result<std::string> html_to_text(std::string_view bytes) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return Error::invalid_input("HTML too large");
  struct DocFree {
    void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
  };
  std::unique_ptr<xmlDoc, DocFree> doc(htmlReadMemory(
      bytes.data(), static_cast<int>(bytes.size()), nullptr, nullptr,
      HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET));
  if (!doc) return Error::invalid_input("the HTML file could not be parsed");
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (root == nullptr) return Error::invalid_input("the HTML file has no elements");
  const xmlNode* body = find_element(root, "body");
  std::string raw;
  collect_html_text(body != nullptr ? body->children : root, raw);
  return tidy_lines(raw);
}

// --- PDF --------------------------------------------------------------------------------

void quiet_poppler(const std::string&, void*) {}

Result<std::string> pdf_to_text(std::string_view bytes) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return Error::invalid_input("PDF too large");
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  if (!doc) return Error::invalid_input("the PDF file is damaged or not a PDF");
  if (doc->is_locked()) {
    return Error::invalid_input("the PDF file is encrypted with a password; upload it unlocked");
  }
  std::string text;
  const int pages = doc->pages();
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page)
      return Error::invalid_input("page " + std::to_string(i + 1) + " of the PDF is damaged");
    poppler::byte_array utf8 = page->text().to_utf8();
    std::string page_text = tidy_lines(std::string(utf8.begin(), utf8.end()));
    if (page_text.empty()) continue;
    if (!text.empty()) text += "\n\n";
    text += page_text;
  }
  if (text.empty()) {
    return Error::invalid_input(
        "the PDF has no text layer (a scanned image?); only PDFs with text can be read");
  }
  return text;
}

void init_libraries() {
  static std::once_flag once;
  std::call_once(once, [] {
    xmlInitParser();
    poppler::set_debug_error_function(quiet_poppler, nullptr);
  });
}

}  // namespace

std::string_view document_type_name(DocumentType type) {
  switch (type) {
    case DocumentType::kText:
      return "text";
    case DocumentType::kMarkdown:
      return "markdown";
    case DocumentType::kHtml:
      return "html";
    case DocumentType::kPdf:
      return "pdf";
  }
  return "text";
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    char32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

Result<DocumentType> detect_type(std::string_view bytes, std::string_view content_type,
                                 std::string_view filename) {
  std::string declared = lower(trim(content_type.substr(0, content_type.find(';'))));
  if (declared == "application/pdf") return DocumentType::kPdf;
  if (declared == "text/html" || declared == "application/xhtml+xml") return DocumentType::kHtml;
  if (declared == "text/markdown" || declared == "text/x-markdown") return DocumentType::kMarkdown;
  const bool generic = declared.empty() || declared == "application/octet-stream" ||
                       declared == "binary/octet-stream" || declared == "text/plain";
  if (!generic) {
    return Error::invalid_input("files of type '" + declared +
                                "' are not supported; upload text, Markdown, HTML or PDF");
  }
  if (bytes.substr(0, 5) == "%PDF-") return DocumentType::kPdf;
  if (starts_with_html(bytes)) return DocumentType::kHtml;
  std::string name = lower(filename);
  if (ends_with(name, ".md") || ends_with(name, ".markdown")) return DocumentType::kMarkdown;
  if (ends_with(name, ".html") || ends_with(name, ".htm")) return DocumentType::kHtml;
  if (declared == "text/plain" || is_valid_utf8(bytes)) return DocumentType::kText;
  return Error::invalid_input(
      "the file is neither UTF-8 text nor a PDF or HTML document; upload text, Markdown, HTML "
      "or PDF");
}

Result<ExtractedText> extract_text(std::string_view bytes, std::string_view content_type,
                                   std::string_view filename, size_t max_bytes) {
  if (bytes.size() > max_bytes) {
    return Error::invalid_input("the file is " + std::to_string(bytes.size()) +
                                " bytes; the limit is " + std::to_string(max_bytes));
  }
  if (bytes.empty()) return Error::invalid_input("the file is empty");
  init_libraries();
  Result<DocumentType> type = detect_type(bytes, content_type, filename);
  if (!type.ok()) return type.error();
  ExtractedText out;
  out.type = *type;
  switch (*type) {
    case DocumentType::kText:
    case DocumentType::kMarkdown: {
      if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
      if (!is_valid_utf8(bytes)) return Error::invalid_input("the text file is not valid UTF-8");
      if (bytes.find('\0') != std::string_view::npos) {
        return Error::invalid_input("the text file contains NUL bytes (a binary file?)");
      }
      out.text.assign(bytes);
      break;
    }
    case DocumentType::kHtml: {
      Result<std::string> text = html_to_text(bytes);
      if (!text.ok()) return text.error();
      out.text = std::move(*text);
      break;
    }
    case DocumentType::kPdf: {
      if (bytes.substr(0, 5) != "%PDF-") {
        return Error::invalid_input("the file was declared a PDF but does not start with %PDF-");
      }
      Result<std::string> text = pdf_to_text(bytes);
      if (!text.ok()) return text.error();
      out.text = std::move(*text);
      break;
    }
  }
  if (!is_valid_utf8(out.text)) return Error::invalid_input("the file's text is not valid UTF-8");
  if (trim(out.text).empty()) return Error::invalid_input("the file contains no text");
  return out;
}

}  // namespace shardserve::knowledge
