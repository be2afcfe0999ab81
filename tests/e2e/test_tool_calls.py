"""Tool calling through the official SDK against a real cluster. The default model
(SmolLM2-135M) has no tool support in its template: the server describes the tools in the
system message and constrains the answer to text or {"tool_calls": [...]} (the generic format),
so whatever the model writes, a call is well-formed, names a given tool and its arguments
validate against the tool's schema. Native formats (Hermes, Llama 3, Mistral) are covered by
coordinator/serving/tool_calls_test.cc on the real templates, and Mistral's [TOOL_CALLS] control
token end to end by test_native_tool_tokens.py."""
import json

import jsonschema
import openai
import pytest

from conftest import MODEL_NAME
from test_openai_api import check, raw_json

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object",
                   "properties": {"city": {"type": "string", "maxLength": 30},
                                  "unit": {"enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"], "additionalProperties": False}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "The local time in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}},
                   "required": ["city"], "additionalProperties": False}}}
TOOLS = [WEATHER, TIME]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
ASK = [{"role": "user", "content": "What is the weather in Paris right now?"}]


def create(client, **kw):
    kw.setdefault("max_tokens", 120)
    kw.setdefault("temperature", 0)
    return client.chat.completions.with_raw_response.create(model=MODEL_NAME, **kw)


def valid_calls(calls):
    assert calls, "no tool calls"
    for call in calls:
        assert call.type == "function" and call.id.startswith("call_"), call
        jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


def test_required_gives_a_valid_call(client, schemas):
    raw = create(client, messages=ASK, tools=TOOLS, tool_choice="required")
    check(schemas, "CreateChatCompletionResponse", raw_json(raw))
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "tool_calls", choice
    valid_calls(choice.message.tool_calls)
    assert choice.message.content is None


def test_a_named_tool_is_the_one_called(client):
    choice = create(client, messages=ASK, tools=TOOLS,
                    tool_choice={"type": "function", "function": {"name": "get_time"}}
                    ).parse().choices[0]
    assert [c.function.name for c in choice.message.tool_calls] == ["get_time"]
    valid_calls(choice.message.tool_calls)


def test_auto_answers_with_text_or_valid_calls(client):
    for seed in range(3):
        choice = create(client, messages=ASK, tools=TOOLS, temperature=1.0,
                        seed=seed).parse().choices[0]
        if choice.message.tool_calls:
            assert choice.finish_reason == "tool_calls"
            valid_calls(choice.message.tool_calls)
        else:
            assert choice.message.content and not choice.message.content.lstrip().startswith("{")


def test_parallel_tool_calls_false_gives_one_call(client):
    for seed in range(3):
        choice = create(client, messages=ASK, tools=TOOLS, tool_choice="required",
                        parallel_tool_calls=False, temperature=1.0, seed=seed).parse().choices[0]
        assert len(choice.message.tool_calls) == 1


def test_streamed_calls_reassemble_to_the_same_calls(client, schemas):
    kw = dict(messages=ASK, tools=TOOLS, tool_choice="required")
    whole = create(client, **kw).parse().choices[0].message.tool_calls
    raw = create(client, stream=True, **kw)
    calls, names_first, finish = {}, True, None
    for line in raw.http_response.iter_lines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[len("data: "):])
        check(schemas, "CreateChatCompletionStreamResponse", chunk)
        for choice in chunk["choices"]:
            finish = choice["finish_reason"] or finish
            for d in choice["delta"].get("tool_calls", []):
                call = calls.setdefault(d["index"], {"name": None, "arguments": ""})
                if "id" in d:
                    call["name"] = d["function"]["name"]
                elif call["name"] is None:
                    names_first = False
                call["arguments"] += d["function"].get("arguments", "")
    assert names_first and finish == "tool_calls"
    assert [(c["name"], c["arguments"]) for _, c in sorted(calls.items())] == \
        [(c.function.name, c.function.arguments) for c in whole]


def test_a_full_round_trip(client):
    first = create(client, messages=ASK, tools=TOOLS, tool_choice="required").parse()
    call = first.choices[0].message.tool_calls[0]
    history = ASK + [
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": call.id, "type": "function",
                         "function": {"name": call.function.name,
                                      "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21, "sky": "clear"}'},
    ]
    final = create(client, messages=history, tools=TOOLS, tool_choice="none").parse()
    assert final.choices[0].finish_reason in ("stop", "length")
    assert final.choices[0].message.content and not final.choices[0].message.tool_calls


def test_tool_errors(client):
    bad_schema = {"type": "function", "function": {
        "name": "f", "parameters": {"type": "object",
                                    "properties": {"n": {"type": "integer", "multipleOf": 3}}}}}
    with pytest.raises(openai.BadRequestError) as e:
        create(client, messages=ASK, tools=[bad_schema], tool_choice="required")
    assert "multipleOf" in e.value.body["message"] and e.value.body["param"] == "tools"
    with pytest.raises(openai.BadRequestError) as e:
        create(client, messages=ASK, tools=TOOLS,
               tool_choice={"type": "function", "function": {"name": "nope"}})
    assert e.value.body["param"] == "tool_choice"
    with pytest.raises(openai.BadRequestError) as e:
        create(client, messages=ASK, tools=TOOLS, response_format={"type": "json_object"})
    assert e.value.body["param"] == "response_format"
