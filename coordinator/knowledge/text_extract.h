// Uploaded file -> plain text, for the knowledge base (issue 19).
//
// Promise: given the bytes of an uploaded file and what the client declared about it (a MIME
// type and a filename, either may be empty), `extract_text` returns the file's text as UTF-8,
// or an Error (kInvalidInput) that says what is wrong with the file: too large, a type we do
// not read, text that is not UTF-8, an HTML or PDF the library cannot parse, an encrypted PDF,
// a PDF without a text layer. It never throws and never aborts on bad input.
//
// Types: plain text and Markdown (kept as written, a UTF-8 BOM dropped); HTML (libxml2's HTML
// parser: the text of <body>, <script>/<style>/<head> dropped, block elements separated by
// newlines, runs of spaces collapsed); PDF (poppler: the text of every page in order, pages
// separated by a blank line). Where the declared type is missing or generic
// (application/octet-stream), the type is sniffed from the content (%PDF- magic, a leading
// <!doctype html> or <html>) and then from the filename's extension.
//
// Thread-safety: safe to call from several threads at once (libxml2 and poppler's global
// set-up is done once, under std::call_once).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace shardserve::knowledge {

enum class DocumentType { kText, kMarkdown, kHtml, kPdf };

// "text", "markdown", "html", "pdf".
std::string_view document_type_name(DocumentType type);

// The type to read `bytes` as: the declared MIME type where it names one we read (parameters
// such as "; charset=utf-8" ignored), else sniffed. Error when the declared type is one we do
// not read, or when nothing identifies the content and it is not UTF-8 text.
Result<DocumentType> detect_type(std::string_view bytes, std::string_view content_type,
                                 std::string_view filename);

struct ExtractedText {
  std::string text;  // UTF-8
  DocumentType type = DocumentType::kText;
};

// `max_bytes`: files larger than this are refused before any parsing.
Result<ExtractedText> extract_text(std::string_view bytes, std::string_view content_type,
                                   std::string_view filename, size_t max_bytes);

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace shardserve::knowledge
