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
