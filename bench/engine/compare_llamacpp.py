#!/usr/bin/env python3
"""Prefill and decode speed of shardserve next to llama.cpp (llama-cpp-python) on the same
GGUF file, the same threads and the same prompt length, in one run. Runs alternate between
the engines so that both see the same machine state; medians are reported with ratios.

    python3 bench/engine/compare_llamacpp.py [--threads 2] [--rounds 3]

Needs a Python with llama-cpp-python (e.g. /opt/peer-venv/bin/python; see bench/README.md)
and a release build (build/bench/engine/bench_engine).
"""
import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def prompt_tokens(n):
    return [300 + (i * 37) % 5000 for i in range(n)]  # same ids as bench_engine.cc


def run_llamacpp(model, threads, n_prompt, n_decode):
    import numpy as np
    from llama_cpp import Llama
    llm = Llama(model_path=str(model), n_ctx=n_prompt + n_decode + 16, n_threads=threads,
                n_threads_batch=threads, n_batch=512, verbose=False)
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt_tokens(n_prompt))
    prefill = n_prompt / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(n_decode):
        token = int(np.argmax(llm._ctx.get_logits_ith(-1)[: llm.n_vocab()]))  # greedy
        llm.eval([token])
    decode = n_decode / (time.perf_counter() - t0)
    return {"engine": "llama.cpp", "prefill_tokens_per_s": prefill, "decode_tokens_per_s": decode}


def run_ours(bench_engine, model, threads, n_prompt, n_decode):
    out = subprocess.run([bench_engine, str(model),
                          "--prompt-tokens", str(n_prompt), "--decode-tokens", str(n_decode),
                          "--threads", str(threads), "--repeat", "1"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench-engine", default=str(ROOT / "build/bench/engine/bench_engine"))
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    results = {"shardserve": [], "llama.cpp": []}
    for _ in range(a.rounds):
        ours = lambda *args: run_ours(a.bench_engine, *args)  # noqa: E731
        for name, fn in (("shardserve", ours), ("llama.cpp", run_llamacpp)):
            results[name].append(fn(a.model, a.threads, a.prompt_tokens, a.decode_tokens))
    med = {name: {k: statistics.median(r[k] for r in runs)
                  for k in ("prefill_tokens_per_s", "decode_tokens_per_s")}
           for name, runs in results.items()}
    print(f"model {Path(a.model).name}, {a.threads} threads, prompt {a.prompt_tokens} tokens, "
          f"decode {a.decode_tokens} tokens, median of {a.rounds} alternating rounds")
    print(f"{'':12} {'prefill tok/s':>14} {'decode tok/s':>13}")
    for name in ("shardserve", "llama.cpp"):
        print(f"{name:12} {med[name]['prefill_tokens_per_s']:14.1f} "
              f"{med[name]['decode_tokens_per_s']:13.1f}")
    s, l = med["shardserve"], med["llama.cpp"]
    print(f"{'ratio':12} {s['prefill_tokens_per_s'] / l['prefill_tokens_per_s']:14.2f} "
          f"{s['decode_tokens_per_s'] / l['decode_tokens_per_s']:13.2f}")


if __name__ == "__main__":
    main()
