#!/usr/bin/env python3
"""`shardserve worker` with a `backend: cuda` group on a machine without a usable GPU: every
rank exits promptly with a message that says why and what to do, none waits for the others
(the NCCL bootstrap agrees on failure before its broadcast, parallel/nccl_collectives.h).
A build without CUDA refuses the group with its own message, and so does `shardserve` beside
`shardserve-cuda` (it names shardserve-cuda). On a machine with a GPU the test
skips: scripts/gpu-check runs cuda groups there.

    tests/cli/cuda_worker_test.py --shardserve build/cli/shardserve
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from script_tests import MODEL, run_tests  # noqa: E402

MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
# What a rank says: no device here (CUDA build), or no backend (a build without CUDA).
REASONS = ("no CUDA device", "built without the CUDA backend",
           "shardserve without the CUDA libraries")


def has_gpu():
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    run = subprocess.run([smi, "-L"], capture_output=True, text=True)
    return run.returncode == 0 and "GPU" in run.stdout


def write_config(tmp, tp):
    devices = ", ".join(str(d) for d in range(tp))
    path = os.path.join(tmp, "cuda.yaml")
    with open(path, "w") as f:
        f.write(f"models:\n  - {{name: m, file: {MODEL}}}\n"
                f"groups:\n  - {{name: g, model: m, tp: {tp}, backend: cuda, "
                f"devices: [{devices}], kv_cache_mb: 256}}\n")
    requests = os.path.join(tmp, "requests.jsonl")
    with open(requests, "w") as f:
        f.write(json.dumps({"id": 0, "prompt": "Hello", "max_tokens": 2}) + "\n")
    return path, requests


def run_worker(shardserve, tmp, tp):
    config, requests = write_config(tmp, tp)
    start = time.monotonic()
    run = subprocess.run(MPIRUN + ["-np", str(tp), shardserve, "worker", "-c", config,
                                   "--collective-timeout", "10", "--offline", requests],
                         capture_output=True, text=True, timeout=120)
    return run, time.monotonic() - start


def check_every_rank_refuses(shardserve, tmp, tp):
    if has_gpu():
        print("SKIP: a GPU is present (scripts/gpu-check serves cuda groups there)")
        return
    run, seconds = run_worker(shardserve, tmp, tp)
    assert run.returncode != 0, f"the worker served without a GPU:\n{run.stderr}"
    assert seconds < 60, f"the ranks took {seconds:.0f} s to give up:\n{run.stderr}"
    for rank in range(tp):
        lines = [l for l in run.stderr.splitlines()
                 if l.startswith(f"shardserve worker (rank {rank}): ")]
        assert lines, f"rank {rank} said nothing:\n{run.stderr}"
        assert any(r in lines[0] for r in REASONS), lines[0]
        assert "backend: cpu" in lines[0], lines[0]
    assert run.stdout == "", run.stdout


def test_a_one_rank_cuda_group_without_a_gpu_says_why(shardserve, tmp):
    check_every_rank_refuses(shardserve, tmp, 1)


def test_every_rank_of_a_two_rank_cuda_group_says_why_without_waiting(shardserve, tmp):
    check_every_rank_refuses(shardserve, tmp, 2)


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
