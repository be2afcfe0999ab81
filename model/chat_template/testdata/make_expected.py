#!/usr/bin/env python3
"""Renders every testdata/*.jinja chat template over a set of conversations with Python's jinja2,
configured exactly as HF transformers' _compile_jinja_template does (ImmutableSandboxedEnvironment
with trim_blocks=True, lstrip_blocks=True, the loopcontrols extension, HF's tojson override,
raise_exception and strftime_now globals), and writes testdata/expected.json.

chat_template_test.cc renders the same cases with our interpreter and compares byte for byte.
Run from anywhere:  python3 model/chat_template/testdata/make_expected.py
"""
import json
import os
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


def make_env():
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


# Special tokens per template (what HF passes as bos_token / eos_token).
TOKENS = {
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "llama3.2": ("<|begin_of_text|>", "<|eot_id|>"),
    "qwen2.5": ("<|endoftext|>", "<|im_end|>"),
    "qwen3": ("<|endoftext|>", "<|im_end|>"),
    "mistral_nemo": ("<s>", "</s>"),
    "gemma2": ("<bos>", "<eos>"),
    "gemma3": ("<bos>", "<eos>"),
    "phi3.5": ("<s>", "<|endoftext|>"),
}

TRICKY = ("  Ünïcödé ✓ 日本語 🎉 — \"double\" and 'single' quotes,\n"
          "back\\slash, tab\there, {{ not a tag }} {% neither %}\n\n")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}

CONVERSATIONS = {
    "user_only": [{"role": "user", "content": "Hello!"}],
    "system_user": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "What is 2+2?"},
    ],
    "multi_turn": [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "system_multi_turn": [
        {"role": "system", "content": "Be kind.\nAnswer briefly."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second question"},
        {"role": "assistant", "content": "Second answer"},
        {"role": "user", "content": "Third question"},
    ],
    "tricky_content": [
        {"role": "user", "content": TRICKY},
        {"role": "assistant", "content": "\u00a0 non-breaking spaces and\u3000ideographic space \u00a0"},
        {"role": "user", "content": "\n\n  leading and trailing whitespace  \n"},
    ],
    "empty_content": [
        {"role": "user", "content": ""},
    ],
    "bad_alternation": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ],
    "content_parts": [
        {"role": "system", "content": [{"type": "text", "text": "System as parts."}]},
        {"role": "user", "content": [{"type": "text", "text": " look "}, {"type": "image"},
                                     {"type": "text", "text": "here\n"}]},
    ],
    "assistant_thinking": [
        {"role": "user", "content": "Think first."},
        {"role": "assistant", "content": "<think>\nsome reasoning\n</think>\n\nThe answer."},
        {"role": "user", "content": "Again."},
    ],
}

TOOL_CONVERSATION = [
    {"role": "system", "content": "You can call tools."},
    {"role": "user", "content": "Weather in Zürich?"},
    {"role": "assistant", "content": "", "tool_calls": [{
        "id": "call12345", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}}]},
    {"role": "tool", "tool_call_id": "call12345", "name": "get_weather",
     "content": "{\"temperature\": 21.5, \"sky\": \"sunny\"}"},
]

TOOL_CONVERSATION_NULL_CONTENT = [dict(m) for m in TOOL_CONVERSATION]
TOOL_CONVERSATION_NULL_CONTENT[2]["content"] = None

TOOL_TEMPLATES = {"llama3.2", "qwen2.5", "qwen3", "mistral_nemo"}

# The shapes shardserve's coordinator passes (OpenAI tools; tool-call arguments as an OBJECT;
# content null beside tool_calls). A second tool with a richer schema: nested objects, arrays,
# ints, floats, booleans, null, escapes in a description, and the "return" key that HF's
# get_json_schema() emits (Mistral's template skips it).
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in an IANA zone.\nReturns \"HH:MM\" \u2014 24h\tclock \\ 🕑",
        "parameters": {
            "type": "object",
            "properties": {
                "timezone": {"type": "string", "description": "e.g. Asia/Tokyo or Europe/Zürich"},
                "precision": {"type": "integer", "minimum": 0, "maximum": 6, "default": 0},
                "offset_hours": {"type": "number", "minimum": -12.5, "default": 0.25,
                                 "multipleOf": 1e-07, "maximum": 1e+16},
                "formats": {"type": "array", "items": {"type": "string"}, "default": []},
                "options": {"type": "object", "properties": {"dst": {"type": "boolean",
                                                                     "default": True}},
                            "additionalProperties": False},
                "note": {"type": ["string", "null"], "default": None},
            },
            "required": ["timezone"],
        },
        "return": {"type": "string", "description": "The time as HH:MM."},
    },
}
TWO_TOOLS = [WEATHER_TOOL, TIME_TOOL]


def tool_call(call_id, name, arguments):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def round_trip(arguments=None, call_id="call_1"):
    if arguments is None:
        arguments = {"city": "Paris"}
    return [
        {"role": "system", "content": "You can call tools."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": None,
         "tool_calls": [tool_call(call_id, "get_weather", arguments)]},
        {"role": "tool", "tool_call_id": call_id, "content": "{\"temp\": 21}"},
    ]


def parallel(ids=("call_1", "call_2")):
    return [
        {"role": "user", "content": "Weather in Paris and the time in Tokyo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            tool_call(ids[0], "get_weather", {"city": "Paris", "unit": "celsius"}),
            tool_call(ids[1], "get_time", {"timezone": "Asia/Tokyo", "precision": 0,
                                           "offset_hours": 0.5, "options": {"dst": False},
                                           "formats": ["24h", "ISO"], "note": None}),
        ]},
        {"role": "tool", "tool_call_id": ids[0], "content": "{\"temp\": 21}"},
        {"role": "tool", "tool_call_id": ids[1], "content": "\"14:05\""},
    ]


FINAL_TURNS = [
    {"role": "assistant", "content": "It is 21 °C in Paris."},
    {"role": "user", "content": "Thanks! Anything else?"},
]

QWEN3_THINKING_TOOL_CALLS = [
    {"role": "user", "content": "What's the weather in Paris?"},
    {"role": "assistant", "content": "<think>\nI should call get_weather.\n</think>\n\nLet me check.",
     "tool_calls": [tool_call("call_1", "get_weather", {"city": "Paris"})]},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
    {"role": "assistant", "content": "", "reasoning_content": "The tool says 21.",
     "tool_calls": [tool_call("call_2", "get_time", {"timezone": "Europe/Paris"})]},
    {"role": "tool", "tool_call_id": "call_2", "content": "\"09:30\""},
]


def tool_cases():
    """Tool-calling cases rendered for every template (those that ignore tools fail or not as
    jinja2 does)."""
    yield "tool_round_trip/agp=1", {"messages": round_trip()}
    yield "tool_round_trip_final_user/agp=1", {"messages": round_trip() + FINAL_TURNS}
    yield "parallel_tool_calls/agp=1", {"messages": parallel()}
    yield "parallel_tool_calls_final_user/agp=1", {"messages": parallel() + FINAL_TURNS}
    # Mistral's template insists on 9-character alphanumeric ids.
    yield "parallel_tool_calls_id9/agp=1", {"messages": parallel(("abcDEF123", "Xyz987654"))
                                            + FINAL_TURNS}
    yield "tool_round_trip_id9/agp=1", {"messages": round_trip(call_id="abcDEF123") + FINAL_TURNS}
    # Arguments as the JSON text of the OpenAI wire format.
    yield "tool_call_string_arguments/agp=1", {
        "messages": round_trip(arguments="{\"city\": \"Paris\"}") + FINAL_TURNS}
    with_content = round_trip()
    with_content[2] = dict(with_content[2], content="Let me check.")
    yield "tool_call_with_content/agp=1", {"messages": with_content + FINAL_TURNS}


def cases_for(name):
    for conv_name, messages in CONVERSATIONS.items():
        for agp in (True, False):
            yield f"{conv_name}/agp={int(agp)}", {"messages": messages, "add_generation_prompt": agp}
    if name in TOOL_TEMPLATES:
        yield "tools/agp=1", {"messages": TOOL_CONVERSATION[1:2], "add_generation_prompt": True,
                              "tools": [WEATHER_TOOL]}
        yield "tool_calls/agp=1", {"messages": TOOL_CONVERSATION, "add_generation_prompt": True,
                                   "tools": [WEATHER_TOOL]}
        yield "tool_calls_null_content/agp=1", {"messages": TOOL_CONVERSATION_NULL_CONTENT,
                                                 "add_generation_prompt": True,
                                                 "tools": [WEATHER_TOOL]}
        yield "tool_calls_no_tools/agp=0", {"messages": TOOL_CONVERSATION,
                                            "add_generation_prompt": False}
    if name == "llama3.2":
        yield "tools_in_system/agp=1", {"messages": TOOL_CONVERSATION[:2],
                                        "add_generation_prompt": True, "tools": [WEATHER_TOOL],
                                        "tools_in_user_message": False}
    if name == "qwen3":
        yield "no_thinking/agp=1", {"messages": CONVERSATIONS["system_user"],
                                    "add_generation_prompt": True, "enable_thinking": False}
    for case_name, ctx in tool_cases():
        yield case_name, dict(ctx, add_generation_prompt=True, tools=TWO_TOOLS)
    if name == "llama3.2":
        yield "tools_in_system_round_trip/agp=1", {
            "messages": round_trip() + FINAL_TURNS, "add_generation_prompt": True,
            "tools": TWO_TOOLS, "tools_in_user_message": False}
    if name == "qwen3":
        yield "thinking_tool_calls/agp=1", {"messages": QWEN3_THINKING_TOOL_CALLS,
                                            "add_generation_prompt": True, "tools": TWO_TOOLS}


def main():
    env = make_env()
    out = []
    for fname in sorted(os.listdir(HERE)):
        if not fname.endswith(".jinja"):
            continue
        name = fname[:-len(".jinja")]
        with open(os.path.join(HERE, fname), encoding="utf-8") as f:
            template = env.from_string(f.read())
        bos, eos = TOKENS[name]
        for case_name, ctx in cases_for(name):
            # HF always passes tools and documents (None when absent) and the special tokens.
            context = {"tools": None, "documents": None, "bos_token": bos, "eos_token": eos,
                       "date_string": "26 Jul 2024"}
            context.update(ctx)
            case = {"template": fname, "case": case_name, "context": context}
            try:
                case["output"] = template.render(**context)
            except TemplateError as e:  # raise_exception(): our message must match
                case["error"] = str(e)
            except Exception as e:  # Python TypeError etc.: we must fail too, wording differs
                case["error"] = ""
                case["python_error"] = f"{type(e).__name__}: {e}"
            out.append(case)
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(out)} cases ({sum('error' in c for c in out)} expected errors)")


if __name__ == "__main__":
    main()
