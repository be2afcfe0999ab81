#!/usr/bin/env python3
"""Makes tests/golden/generation_golden.json with llama.cpp (llama-cpp-python) as the
independent reference: greedy continuations and top-5 logits for prompts, plain and
chat-templated, on the default model.

Run once (needs llama-cpp-python and jinja2; CI does not):
    /opt/peer-venv/bin/python tests/golden/make_generation_golden.py

`--model FILE --out JSON` makes the same golden data for another GGUF file (bench/quant/
check_types.sh does so for the default model requantized into each type).
"""
import argparse
import json
import sys
from pathlib import Path

import jinja2
import numpy as np
from gguf import GGUFReader
from llama_cpp import Llama

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = ROOT / "tests" / "golden" / "generation_golden.json"
N_GENERATE = 64
TOP_K = 5
LOGIT_STEPS = [0, 1, 2, 8, 16, 31]  # generation steps whose top logits are recorded

PLAIN_PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):\n    ",
    "The three laws of thermodynamics are",
    "1, 2, 3, 5, 8, 13,",
]
CHAT_PROMPTS = [
    [{"role": "user", "content": "What is the tallest mountain in the world?"}],
    [{"role": "system", "content": "You are a concise assistant."},
     {"role": "user", "content": "Explain what a GPU is in one sentence."}],
    [{"role": "user", "content": "Write a haiku about the ocean."}],
    [{"role": "user", "content": "Hi!"},
     {"role": "assistant", "content": "Hello! How can I help you today?"},
     {"role": "user", "content": "Give me three tips for learning Python."}],
    [{"role": "user", "content": "Translate 'good morning' into Spanish and French."}],
]


def chat_template(model) -> str:
    reader = GGUFReader(str(model))
    field = reader.fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def render_chat(template: str, messages) -> str:
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, add_generation_prompt=True,
                                            bos_token="<|im_start|>", eos_token="<|im_end|>")


def greedy(llm: Llama, prompt_tokens):
    llm.reset()
    llm.eval(prompt_tokens)
    tokens, top = [], []
    for step in range(N_GENERATE):
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        token = int(np.argmax(logits))
        if step in LOGIT_STEPS:
            ids = np.argsort(-logits, kind="stable")[:TOP_K]
            top.append({"step": step, "ids": [int(i) for i in ids],
                        "logits": [float(logits[i]) for i in ids]})
        tokens.append(token)
        llm.eval([token])
    return tokens, top


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-repack", action="store_true",
                        help="keep llama.cpp's weights in the file's layout (its plain dot "
                             "products) instead of repacking them for its CPU's wide kernels")
    args = parser.parse_args()
    if args.no_repack:
        import llama_cpp.llama_cpp as bindings  # the module Llama() takes its defaults from
        default_params = bindings.llama_model_default_params

        def params_without_repack():
            params = default_params()
            params.use_extra_bufts = False
            return params
        bindings.llama_model_default_params = params_without_repack
    llm = Llama(model_path=str(args.model), n_ctx=1024, n_threads=2, n_batch=512, seed=0, logits_all=True,
                verbose=False)
    template = chat_template(args.model)
    cases = []
    prompts = [("plain", p) for p in PLAIN_PROMPTS] + [
        ("chat", render_chat(template, m)) for m in CHAT_PROMPTS]
    for kind, text in prompts:
        prompt_tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        tokens, top = greedy(llm, prompt_tokens)
        text_out = llm.detokenize(tokens).decode("utf-8", errors="replace")
        cases.append({"kind": kind, "prompt": text, "prompt_tokens": prompt_tokens,
                      "greedy_tokens": tokens, "greedy_text": text_out, "top_logits": top})
        print(f"{kind}: {text[:40]!r} -> {text_out[:60]!r}", file=sys.stderr)
    import llama_cpp
    args.out.write_text(json.dumps({
        "model": args.model.name,
        "reference": f"llama-cpp-python {llama_cpp.__version__} (llama.cpp), n_threads=2, "
                     "default KV cache type (f16)"
                     + (", weights not repacked" if args.no_repack else ""),
        "n_generate": N_GENERATE,
        "cases": cases,
    }, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
