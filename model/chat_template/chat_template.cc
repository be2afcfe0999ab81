#include "model/chat_template/chat_template.h"

#include "model/chat_template/interpreter.h"
#include "model/chat_template/parser.h"

namespace shardserve {

namespace {
constexpr const char* kPrefix = "chat template ";
}

Result<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  auto parsed = chat_template::parse_template(source);
  if (!parsed.ok()) return Error{kPrefix + parsed.error().message};
  return ChatTemplate(std::move(parsed).value());
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context) const {
  return render(context, Limits{});
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context,
                                         const Limits& limits) const {
  if (!context.is_object()) return Error{"chat template context must be a JSON object"};
  chat_template::RenderLimits l;
  l.max_steps = limits.max_steps;
  l.max_output_bytes = limits.max_output_bytes;
  l.max_call_depth = limits.max_call_depth;
  auto out = chat_template::render_template(*tmpl_, chat_template::Value::from_json(context), l);
  if (!out.ok()) return Error{kPrefix + out.error().message};
  return out;
}

Result<std::string> ChatTemplate::render(const nlohmann::json& context) const {
  return render(nlohmann::ordered_json(context));
}

}  // namespace shardserve
