#!/usr/bin/env python3
"""Makes tests/golden/generation_golden.json with llama.cpp (llama-cpp-python) as the
independent reference: greedy continuations and top-5 logits for prompts, plain and
chat-templated, on the default model.

Run once (needs llama-cpp-python and jinja2; CI does not):
    /opt/peer-venv/bin/python tests/golden/make_generation_golden.py

`--model FILE --out JSON` makes the same golden data for another GGUF file (bench/quant/
check_types.sh does so for the default model requantized into each type). A file without a
chat template (Gemma 3 270M, a base model) takes one from `--chat-template JINJA`:
    /opt/peer-venv/bin/python tests/golden/make_generation_golden.py \
        --model models/gemma-3-270m-q4_k_m.gguf --out tests/golden/gemma3_generation_golden.json \
        --chat-template model/chat_template/testdata/gemma3.jinja --no-repack --one-token-steps
(llama.cpp's batched prompt path picks kernels by the prompt's length, so the Gemma golden data
follows its decode path, which the engine's llama.cpp arithmetic reproduces for any length.)
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


def special_texts(model):
    """The BOS and EOS token texts of the file's vocabulary."""
    reader = GGUFReader(str(model))
    tokens = reader.fields["tokenizer.ggml.tokens"]

    def text(key):
        field = reader.fields.get(key)
        if field is None:
            return ""
        token_id = int(field.parts[field.data[0]][0])
        return bytes(tokens.parts[tokens.data[token_id]]).decode("utf-8")
    return text("tokenizer.ggml.bos_token_id"), text("tokenizer.ggml.eos_token_id")


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def render_chat(template: str, messages, bos: str, eos: str) -> str:
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, add_generation_prompt=True,
                                            bos_token=bos, eos_token=eos,
                                            raise_exception=raise_exception)


def greedy(llm: Llama, prompt_tokens, one_token_steps=False):
    llm.reset()
    if one_token_steps:  # llama.cpp's decode path for the prompt too
        for t in prompt_tokens:
            llm.eval([t])
    else:
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
    parser.add_argument("--one-token-steps", action="store_true",
                        help="feed the prompts one token per step (llama.cpp's decode path, "
                             "whose arithmetic does not depend on the prompt's length) instead "
                             "of as one batch")
    parser.add_argument("--chat-template", type=Path,
                        help="a Jinja chat template for a file that has none")
    args = parser.parse_args()
    if args.no_repack:
        from llama_cpp_plain import use_plain_kernels
        use_plain_kernels()
    llm = Llama(model_path=str(args.model), n_ctx=1024, n_threads=2, n_batch=512, seed=0, logits_all=True,
                verbose=False)
    template = args.chat_template.read_text() if args.chat_template else chat_template(args.model)
    # The default model's golden data was made with SmolLM2's texts (its template does not
    # use them); other files render with their own.
    bos, eos = (("<|im_start|>", "<|im_end|>") if args.model == MODEL
                else special_texts(args.model))
    cases = []
    prompts = [("plain", p) for p in PLAIN_PROMPTS] + [
        ("chat", render_chat(template, m, bos, eos)) for m in CHAT_PROMPTS]
    for kind, text in prompts:
        # Plain prompts of other files start with BOS as a server adds it (the default
        # model's golden data predates this); chat prompts carry the template's.
        add_bos = kind == "plain" and args.model != MODEL
        prompt_tokens = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        tokens, top = greedy(llm, prompt_tokens, args.one_token_steps)
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
        "prompt_steps": "one token per step" if args.one_token_steps else "one batch",
        "cases": cases,
    }, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
