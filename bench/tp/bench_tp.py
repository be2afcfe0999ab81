#!/usr/bin/env python3
"""Tensor parallelism on this machine: decode tokens/s at batch 1, each rank's resident
memory, and the time spent combining the ranks' partial results (gathers), for
tp = 1, 2, 3 of the default model, through `shardserve worker --offline` under mpirun.

    python3 bench/tp/bench_tp.py [--tokens 128] [--threads-per-rank 1]
"""
import argparse
import json
import re
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(tp, tokens, threads, shardserve):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write(json.dumps({"id": 0, "prompt": "Write a story about a lighthouse keeper.",
                            "max_tokens": tokens, "temperature": 0, "ignore_eos": True}) + "\n")
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(tp), shardserve,
           "worker", "-c", str(ROOT / "configs/local.yaml"), "--group", "smollm2-tp2",
           "--set", f"groups[0].tp={tp}",
           "--set", f"groups[0].threads_per_rank={threads}", "--offline", f.name]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    speed = float(re.search(r"\(([\d.]+) generated tokens/s\)", err).group(1))
    reduce = re.search(r"combining ranks ([\d.]+) s in (\d+) calls \(([\d.]+) us per step\)", err)
    memory = [float(m) for m in re.findall(r"resident memory at exit ([\d.]+) MiB", err)]
    return speed, float(reduce.group(3)), memory


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads-per-rank", type=int, default=1)
    ap.add_argument("--shardserve", default=str(ROOT / "build/cli/shardserve"))
    a = ap.parse_args()
    print(f"default model, batch 1, {a.tokens} generated tokens, "
          f"{a.threads_per_rank} thread(s) per rank")
    print(f"{'tp':>3} {'decode tok/s':>13} {'combine us/token':>20}  resident MiB per rank")
    for tp in (1, 2, 3):
        speed, reduce_us, memory = run(tp, a.tokens, a.threads_per_rank, a.shardserve)
        print(f"{tp:>3} {speed:13.1f} {reduce_us:20.1f}  " +
              ", ".join(f"{m:.0f}" for m in memory))


if __name__ == "__main__":
    main()
