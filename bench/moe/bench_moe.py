#!/usr/bin/env python3
"""A mixture-of-experts model on this machine's cores: shardserve at tp 1 and tp 2 (the
experts split between the ranks, or every expert sliced), against llama.cpp on the same
GGUF file and the same number of cores, in one run.

    /opt/peer-venv/bin/python bench/moe/bench_moe.py [--model FILE] [--rounds 2]

Figures, tokens/s (ours through `shardserve worker --offline` under mpirun, the path a served
request takes; the peer through llama-bench):

  prefill    one 512-token prompt (ours: prompt tokens / time to its first token)
             peer: llama-bench -p 512 -n 0
  decode b1  128 greedy tokens after a 16-token prompt (ours: generated tokens / time after
             the first)                                  peer: llama-bench -p 0 -n 128
  x16        16 sequences of 16-token prompts decoded together for 32 tokens each
             (ours: generated tokens / time; peer: llama-batched-bench -npl 16)

The model defaults to bench/quant/make_models.sh's moe-random.Q4_K_M.gguf: random weights in
the Mixtral layout, 16 experts of width 1024 (4 used per token), dim 2048, 12 layers. tp 1
runs 2 threads; tp 2 runs one thread per rank. Rounds alternate the order; medians.
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (label, tp, threads per rank, moe_split)
OURS = [("tp 1", 1, 2, "experts"),
        ("tp 2, experts split", 2, 1, "experts"),
        ("tp 2, experts sliced", 2, 1, "slices")]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run(cmd, timeout=1800):
    log("  $", " ".join(str(c) for c in cmd))
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: " + "\n".join(p.stderr.splitlines()[-5:]))
    return p.stdout, p.stderr


def write_config(directory, model, tp, threads, split):
    path = Path(directory) / f"moe-tp{tp}-{split}.yaml"
    path.write_text(f"""models:
  - name: moe
    file: {Path(model).resolve()}
    context_length: 2048
groups:
  - name: moe
    model: moe
    tp: {tp}
    threads_per_rank: {threads}
    moe_split: {split}
    kv_cache_mb: 256
    max_batch: 16
    max_batch_tokens: 512
""")
    return path


def offline(a, config, tp, requests):
    """Runs the requests through a worker group; returns (seconds, steps) of the run."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in requests:
            f.write(json.dumps(r) + "\n")
    _, err = run(["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                  "-np", tp, a.shardserve, "worker", "-c", config, "--offline", f.name])
    m = re.search(r"(\d+) prompt \+ (\d+) generated tokens in (\d+) steps, ([\d.]+) s", err)
    return float(m.group(4))


def prompt(n, seed):
    return [1000 + (seed * 7919 + i * 104729) % 40000 for i in range(n)]


def measure_ours(a, config, tp):
    greedy = {"temperature": 0, "ignore_eos": True}
    # Prefill: one step over the 512-token prompt, which gives the one token asked for.
    t = offline(a, config, tp, [dict(id=0, prompt_tokens=prompt(512, 2), max_tokens=1, **greedy)])
    prefill = 512 / t
    # Decode: 129 tokens less 1 (its time: the 16-token prompt and the first token).
    t129 = offline(a, config, tp, [dict(id=0, prompt_tokens=prompt(16, 3), max_tokens=129,
                                        **greedy)])
    t1 = offline(a, config, tp, [dict(id=0, prompt_tokens=prompt(16, 3), max_tokens=1, **greedy)])
    decode = 128 / max(t129 - t1, 1e-9)
    t = offline(a, config, tp, [dict(id=i, prompt_tokens=prompt(16, 10 + i), max_tokens=32,
                                     **greedy) for i in range(16)])
    return {"prefill": prefill, "decode": decode, "x16": 16 * 32 / t}


def measure_peer(a):
    bench = Path(a.peer_bin) / "llama-bench"
    out, _ = run([bench, "-m", a.model, "-t", 2, "-r", 1, "-o", "json", "-p", 512, "-n", 0])
    prefill = json.loads(out)[0]["avg_ts"]
    out, _ = run([bench, "-m", a.model, "-t", 2, "-r", 1, "-o", "json", "-p", 0, "-n", 128])
    decode = json.loads(out)[0]["avg_ts"]
    out, _ = run([Path(a.peer_bin) / "llama-batched-bench", "-m", a.model, "-t", 2, "-tb", 2,
                  "-c", 1024, "-npp", 16, "-ntg", 32, "-npl", 16, "--output-format", "jsonl"])
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {"prefill": prefill, "decode": decode, "x16": rows[-1]["speed_tg"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "models/bench/moe-random.Q4_K_M.gguf"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--shardserve", default=str(ROOT / "build/cli/shardserve"))
    ap.add_argument("--peer-bin", default="/opt/llama-server/bin")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    results = {label: [] for label, *_ in OURS}
    results["llama.cpp (2 threads)"] = []
    with tempfile.TemporaryDirectory() as tmp:
        configs = {label: (write_config(tmp, a.model, tp, threads, split), tp)
                   for label, tp, threads, split in OURS}
        for r in range(a.rounds):
            order = ["peer"] + [label for label, *_ in OURS]
            if r % 2:
                order.reverse()
            for who in order:
                log(f"round {r + 1}: {who}")
                if who == "peer":
                    results["llama.cpp (2 threads)"].append(measure_peer(a))
                else:
                    results[who].append(measure_ours(a, *configs[who]))
    peer = {k: statistics.median(x[k] for x in results["llama.cpp (2 threads)"])
            for k in ("prefill", "decode", "x16")}
    print(f"model {Path(a.model).name}, 2 cores, medians of {a.rounds} round(s), tokens/s "
          "(ratio to llama.cpp)")
    print(f"| {'engine':<24} | {'prefill 512':>16} | {'decode b1':>16} | {'16 streams':>16} |")
    print(f"| {'-' * 24} | {'-' * 15}: | {'-' * 15}: | {'-' * 15}: |")
    summary = {}
    for label, runs in results.items():
        med = {k: statistics.median(x[k] for x in runs) for k in ("prefill", "decode", "x16")}
        summary[label] = med
        cells = [f"{med[k]:7.1f} ({med[k] / peer[k]:.2f}x)" for k in ("prefill", "decode", "x16")]
        print(f"| {label:<24} | " + " | ".join(f"{c:>16}" for c in cells) + " |")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
