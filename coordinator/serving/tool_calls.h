// Tool calling: how a model writes function calls, the GBNF grammar that makes it write them
// well-formed (tool names from the request, arguments valid against each tool's schema), and
// the parsers that turn the answer back into content and calls, whole or as it streams.
//
// The coordinator renders the prompt with the model's chat template; detect_tool_format reads
// that template to learn the answer format the model was trained on. The formats, exactly as
// the grammar writes them (NAME is one of the tools' names, ARGS the arguments JSON):
//
//   kHermes (Qwen2.5, Qwen3, Hermes): text, then calls, each
//       <tool_call>\n{"name": "NAME", "arguments": ARGS}\n</tool_call>
//     separated by "\n". Text before the calls is allowed (Qwen models write it); the text may
//     not contain "<tool_call>", so a call can only begin through the call rule.
//   kMistral (Mistral Nemo, [TOOL_CALLS] + JSON array, the v3 tokenizer's form): text, then
//       [TOOL_CALLS][{"name": "NAME", "arguments": ARGS}, {...}]
//     (one block). The text may not contain "[TOOL_CALLS]". The newer form
//     `[TOOL_CALLS]NAME[ARGS]{...}` (Mistral Small 3.2, Devstral) is NOT handled. [TOOL_CALLS]
//     is a control token in Mistral vocabularies: with ToolAnswerContext::control_opener the
//     grammar names the token (@"[TOOL_CALLS]"), and the caller renders it as text for the
//     parser (TextStream's `shown`).
//   kLlama3Json (Llama 3.1/3.2/3.3): plain text, or exactly one call (the templates cannot render
//     more than one call back, so parallel_tool_calls is treated as false)
//       {"name": "NAME", "parameters": ARGS}
//     Plain text may not begin (after whitespace) with "{". With control_opener, a call may
//     open with the <|python_tag|> control token (Llama 3.1+ writes it before a call); the
//     parser skips it when it is rendered into the text.
//   kGeneric (templates without tool support, e.g. SmolLM2, Gemma 3, Phi-3.5, and templates with
//     a tool syntax not known here): our format, explained to the model by
//     generic_tools_system_prompt: plain text, or only
//       {"tool_calls": [{"name": "NAME", "arguments": ARGS}, {...}]}
//     Plain text may not begin (after whitespace) with "{". The caller does not pass `tools`
//     to such a template (its own description would contradict the grammar) and merges the
//     system prompt into the first system message instead.
// For reasoning models (ToolAnswerContext::reasoning, Qwen3) the grammar also allows one leading
// block, "<think>...</think>" and up to 4 spaces/newlines; when the prompt already opened the
// block (opens_reasoning, DeepSeek-R1's templates), the answer starts inside it and must close
// it ("...</think>") before anything else. A model that does not think gets no block. Llama and
// Generic plain text may not begin with "<think>" otherwise. Separators, spaces and key order
// are fixed as above (the spelling of the models' own templates); inside ARGS the JSON grammar
// of api/json_schema_grammar.h applies (compact or pretty whitespace).
//
// tool_choice: auto -> text OR calls as above; required -> calls only (one or more, exactly
// one when parallel_tool_calls is false); a named function -> exactly one call of it; none ->
// "" (no grammar; the caller leaves the tools out of the prompt).
//
// Parsing (parse_tool_answer and ToolCallStream share one state machine, so that the
// streamed events reassemble byte for byte into the whole-text parse):
//   - A call is recognised where its format allows one: kHermes and kMistral anywhere in the
//     content; kLlama3Json and kGeneric only at the start of the answer (after whitespace, an
//     optional <|python_tag|> for Llama, or a leading <think> block); kLlama3Json also after a
//     call and ";" (vLLM's multi-call form). Whitespace before a call and between calls is a
//     separator, not content.
//   - A call is committed once its header is complete: opener, "{", "name": "NAME", the
//     arguments key ("arguments"; for Llama "parameters" or "arguments") and ":", with any
//     whitespace between tokens. Text whose header does not match (or is cut off at the end) stays
//     content, unchanged: no text is lost. After the header the arguments stream; arguments cut
//     short by the end of the answer (max_tokens) stay incomplete, as OpenAI does. What follows the
//     arguments must be the format's closing syntax; if it is not, the text from the end of the
//     arguments on is content again (`{"a": 1}} x` -> arguments {"a":1}, content "} x"); a
//     closing syntax cut off at the very end is dropped.
//   - Argument text = the generated JSON with the whitespace outside strings removed (compact
//     JSON; strings, escapes, numbers and key order exactly as generated). Both paths emit this.
//   - "<think>" at the start of the answer (after whitespace only) opens a reasoning block; until
//     "</think>" everything is content (split off by the caller), never a call.
//   - Call names are taken as written (the grammar guarantees they are tools' names); a name
//     with a backslash or over 256 bytes is not a call. Ids are left to the caller.
//   - Streaming holds back only what may still become a call or a separator: a suffix that is
//     a prefix of an opener, trailing whitespace where an opener may follow, an unfinished
//     header, an incomplete UTF-8 character. Events never split a UTF-8 character.
//
// Pure functions and plain values: thread-safe; a ToolCallStream belongs to one choice.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai_request.h"
#include "base/status.h"

namespace shardserve {

enum class ToolFormat { kHermes, kLlama3Json, kMistral, kGeneric };

const char* tool_format_name(ToolFormat format);

// The format a chat template's model writes calls in: kHermes when the template writes
// "<tool_call>", kMistral for "[TOOL_CALLS]", kLlama3Json for a Llama 3 header template that
// describes tools ("<|python_tag|>", "Environment: ipython" or the "parameters" answer format),
// kGeneric otherwise.
ToolFormat detect_tool_format(std::string_view template_source);

// The control tokens a format's calls open with (kMistral "[TOOL_CALLS]", kLlama3Json
// "<|python_tag|>"): when the model's vocabulary has them as control tokens, the caller sets
// ToolAnswerContext::control_opener and shows them as text in the answer.
std::vector<std::string> tool_format_control_tokens(ToolFormat format);

// What the grammar needs to know of the model and the prompt besides the request.
struct ToolAnswerContext {
  bool control_opener = false;   // the format's opener is a control token of the vocabulary
  bool reasoning = false;        // the template writes "<think>" blocks (the model thinks)
  bool opens_reasoning = false;  // the prompt ends inside a "<think>" block
};

// The GBNF grammar the answer must follow (see above), "" for tool_choice none or when
// `tools` is empty with auto. Errors (invalid_input): a tool's parameters schema the grammar
// cannot enforce (the message starts with "tools[i].function.parameters"), a named function not
// among the tools, required with no tools. Only the tools tool_choice allows are compiled.
Result<std::string> tool_call_grammar(ToolFormat format,
                                      const std::vector<api::ToolFunction>& tools,
                                      const api::ToolChoice& choice, bool parallel_tool_calls,
                                      const ToolAnswerContext& context = {});

// For kGeneric templates: a system prompt describing the tools (name, description, parameters
// schema as JSON, one per line) and the exact answer format for `choice`. Empty for none.
std::string generic_tools_system_prompt(const std::vector<api::ToolFunction>& tools,
                                        const api::ToolChoice& choice,
                                        bool parallel_tool_calls = true);

// For kGeneric templates: an assistant message's calls in the history, written as the model is
// told to write them ({"tool_calls": [...]}), for its content. Arguments that are not JSON are
// written as a JSON string.
std::string generic_tool_calls_text(const std::vector<api::ToolCall>& calls);

// The answer split into content and calls (ids empty; arguments as described above).
struct ParsedAnswer {
  std::string content;
  std::vector<api::ToolCall> tool_calls;
};

ParsedAnswer parse_tool_answer(ToolFormat format, std::string_view text);

// One thing the streaming parser found. Consecutive pieces of the same kind (and call) within
// one push are merged.
struct ToolCallEvent {
  enum class Kind {
    kContent,    // text: content to forward
    kCallStart,  // index: the call's number (0, 1, ...); text: its name
    kArguments,  // index: the call; text: the next piece of its arguments
  };
  Kind kind = Kind::kContent;
  int index = -1;  // calls only
  std::string text;

  bool operator==(const ToolCallEvent&) const = default;
};

// The incremental parser of one choice's answer. push() the text as it is generated, then
// finish() once. Events come in text order: a call's kCallStart before its arguments, calls
// numbered in order. After finish() the stream is spent (further calls return nothing).
class ToolCallStream {
 public:
  explicit ToolCallStream(ToolFormat format) : format_(format) {}

  std::vector<ToolCallEvent> push(std::string_view new_text);
  std::vector<ToolCallEvent> finish();

  int n_calls() const { return n_calls_; }

 private:
  enum class Mode { kContent, kThink, kArguments, kTail };
  enum class Match { kYes, kNo, kMore };  // kMore: the text so far is a prefix of a match

  void run(std::vector<ToolCallEvent>& out);
  // Each step decides from pos_ on; false when it needs more text to decide.
  bool content_step(std::vector<ToolCallEvent>& out);
  bool think_step(std::vector<ToolCallEvent>& out);
  bool arguments_step(std::vector<ToolCallEvent>& out);
  bool tail_step(std::vector<ToolCallEvent>& out);

  // Matchers over text_[p, limit_); on kYes p moves past the match.
  Match literal(size_t& p, std::string_view text) const;
  Match whitespace(size_t& p) const;  // any run (kMore when it reaches the end)
  // A call's header from its first character (whitespace before the opener included) to the
  // first byte of the arguments, in the current state (start of answer, after a call, ...).
  Match header(size_t& p, std::string& name) const;
  // {"name": "NAME", "KEY": — the part every format shares.
  Match object_header(size_t& p, std::string& name) const;
  // Whether a call's opener may begin with the character at p (a quick filter for header).
  bool call_may_start(size_t p) const;

  void emit_content(std::vector<ToolCallEvent>& out, size_t end);
  void start_call(std::vector<ToolCallEvent>& out, std::string name, size_t arguments_begin);
  void emit_arguments(std::vector<ToolCallEvent>& out);  // text_[pos_], then pos_ + 1
  void end_call();  // the call's closing syntax is done: back to content

  ToolFormat format_;
  std::string text_;  // everything pushed
  size_t pos_ = 0;    // text_[0, pos_) is decided
  size_t limit_ = 0;  // text_[0, limit_) is whole UTF-8 characters (all of it once finished)
  bool finished_ = false;
  Mode mode_ = Mode::kContent;
  bool at_start_ = true;     // only whitespace (or a reasoning block) so far
  bool think_seen_ = false;  // a reasoning block was opened
  bool after_call_ = false;  // a call ended and only whitespace followed
  int n_calls_ = 0;
  // The arguments being streamed: open brackets, and where a string or scalar stands.
  std::string brackets_;
  bool started_ = false;    // the value's first character was seen
  bool in_string_ = false;  // inside a JSON string
  bool escaped_ = false;    // after a backslash in a string
  bool scalar_ = false;     // a top-level number or literal
};

}  // namespace shardserve
