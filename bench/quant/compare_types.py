#!/usr/bin/env python3
"""Per quantization type: shardserve against llama.cpp on the same GGUF file, the same threads,
in one run. For every file bench/quant/make_models.sh made:

  prefill   512 prompt tokens in one step                ours: bench_engine
                                                         peer: llama-bench -p 512 -n 0
  decode b1 128 greedy tokens after the 512-token prompt ours: bench_engine
                                                         peer: llama-bench -n 128 -d 512
  decode xN N sequences (16-token prompts) decoded       ours: bench_engine --streams N
            together, 32 steps; tokens/s = N x steps / s peer: llama-batched-bench -npl N
  weight GB/s: the file's tensor bytes (what a decode step reads: every weight once, the tied
            embedding as the LM head) x decode b1 tokens/s, and its share of the machine's
            memory read bandwidth, measured here first with bench/quant/membw.cc (2 threads
            sum a 4 GiB buffer: larger than any L3).

Rounds alternate which engine goes first; medians over rounds; ratio = ours / peer. A type our
engine cannot load is shown as such; --max-seconds caps each of our decode measurements (slow
weight types): such a figure then comes from fewer steps, marked with '*'.

    /opt/peer-venv/bin/python bench/quant/compare_types.py [--models smollm2 llama1b]
        [--types Q4_0 Q8_0 ...] [--rounds 2] [--threads 2] [--json-out FILE]
    /opt/peer-venv/bin/python bench/quant/compare_types.py --files F.gguf ...   (any files:
        the real Gemma 3 270M file, a user's own; their type column is the file's name)

Needs bench/install-peer (llama-bench, llama-batched-bench; gguf in the venv), a release
build of bench_engine and bench/quant/make_models.sh.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import gguf

ROOT = Path(__file__).resolve().parents[2]
TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q2_K", "Q3_K_M"]
MODELS = {"smollm2": "smollm2-135m", "llama1b": "llama1b-random"}
FIGURES = ("prefill", "decode", "streams")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def file_info(path):
    """Size, tensor bytes and bytes by tensor type of a GGUF file."""
    r = gguf.GGUFReader(path)
    by_type = {}
    for t in r.tensors:
        by_type[t.tensor_type.name] = by_type.get(t.tensor_type.name, 0) + int(t.n_bytes)
    names = {t.name for t in r.tensors}
    tensor_bytes = sum(by_type.values())
    if "output.weight" in names:  # an untied embedding is only looked up, a row a token
        tensor_bytes -= next(int(t.n_bytes) for t in r.tensors if t.name == "token_embd.weight")
    return {"file_mb": os.path.getsize(path) / 1e6, "weight_bytes": tensor_bytes,
            "by_type": by_type}


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def run(cmd, timeout):
    log("  $", " ".join(str(c) for c in cmd))
    try:
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
    return p.stdout, None


def measure_membw(a):
    exe = Path("/tmp") / f"shardserve-membw-{os.getuid()}"
    subprocess.run(["c++", "-O3", "-march=native", "-pthread", ROOT / "bench/quant/membw.cc",
                    "-o", exe], check=True)
    out = subprocess.run([exe, "--gib", str(a.membw_gib), "--threads", str(a.threads)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["read_gb_per_s"]


def run_ours(a, path):
    out, err = run([a.bench_engine, path, "--threads", a.threads, "--repeat", 1,
                    "--prompt-tokens", a.prompt_tokens, "--decode-tokens", a.decode_tokens,
                    "--streams", a.streams, "--stream-prompt-tokens", a.stream_prompt_tokens,
                    "--stream-decode-tokens", a.stream_decode_tokens,
                    "--max-seconds", a.max_seconds], a.timeout)
    if err:
        return {"error": err}
    j = json.loads(out)
    return {"prefill": j["prefill_tokens_per_s"], "decode": j["decode_tokens_per_s"],
            "streams": j["stream_decode_tokens_per_s"],
            "capped": {"decode": j["decode_tokens"] < a.decode_tokens,
                       "streams": j["stream_decode_steps"] < a.stream_decode_tokens}}


def run_peer(a, path):
    bench = Path(a.peer_bin) / "llama-bench"
    res = {}
    out, err = run([bench, "-m", path, "-t", a.threads, "-r", 1, "-o", "json",
                    "-p", a.prompt_tokens, "-n", 0], a.timeout)
    if err:
        return {"error": err}
    res["prefill"] = json.loads(out)[0]["avg_ts"]
    out, err = run([bench, "-m", path, "-t", a.threads, "-r", 1, "-o", "json",
                    "-p", 0, "-n", a.decode_tokens, "-d", a.prompt_tokens], a.timeout)
    if err:
        return {"error": err}
    res["decode"] = json.loads(out)[0]["avg_ts"]
    n_ctx = a.streams * (a.stream_prompt_tokens + a.stream_decode_tokens)
    out, err = run([Path(a.peer_bin) / "llama-batched-bench", "-m", path, "-t", a.threads,
                    "-tb", a.threads, "-c", max(n_ctx, 512), "-npp", a.stream_prompt_tokens,
                    "-ntg", a.stream_decode_tokens, "-npl", a.streams,
                    "--output-format", "jsonl"] + a.peer_batched_args, a.timeout)
    if err:
        return {"error": err}
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    res["streams"] = rows[-1]["speed_tg"]
    return res


def fmt(x):
    return "-" if x is None else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--types", nargs="+", default=TYPES)
    ap.add_argument("--files", nargs="+", default=[],
                    help="GGUF files to compare instead of make_models.sh's")
    ap.add_argument("--models-dir",
                    default=os.environ.get("BENCH_MODELS", str(ROOT / "models/bench")))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--stream-prompt-tokens", type=int, default=16)
    ap.add_argument("--stream-decode-tokens", type=int, default=32)
    ap.add_argument("--max-seconds", type=float, default=20,
                    help="cap on each of our decode measurements (0: none)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per process")
    ap.add_argument("--bench-engine", default=str(ROOT / "build/bench/engine/bench_engine"))
    ap.add_argument("--peer-bin",
                    default=os.environ.get("PEER_SERVER", "/opt/llama-server") + "/bin")
    ap.add_argument("--peer-batched-args", nargs="*", default=[],
                    help="extra llama-batched-bench options (e.g. -kvu: one unified KV cache)")
    ap.add_argument("--membw-gib", type=float, default=4)
    ap.add_argument("--json-out")
    a = ap.parse_args()

    files = [("file", "as made", Path(f)) for f in a.files]
    for m in ([] if a.files else a.models):
        for t in a.types:
            p = Path(a.models_dir) / f"{MODELS[m]}.{t}.gguf"
            if p.exists():
                files.append((m, t, p))
            else:
                log(f"skipping {p}: missing (bench/quant/make_models.sh)")
    membw = measure_membw(a)
    log(f"memory read bandwidth, {a.threads} threads: {membw:.1f} GB/s")
    info = {str(p): file_info(str(p)) for _, _, p in files}
    results = {str(p): {"ours": [], "peer": []} for _, _, p in files}
    t_start = time.time()
    for r in range(a.rounds):
        engines = [("ours", run_ours), ("peer", run_peer)]
        if r % 2:
            engines.reverse()
        for m, t, p in files:
            log(f"round {r + 1}/{a.rounds}: {p.name}")
            for name, fn in engines:
                runs = results[str(p)][name]
                if runs and "error" in runs[-1]:
                    continue  # it failed once: it fails again
                runs.append(fn(a, str(p)))
    elapsed = time.time() - t_start

    def med(runs, key):
        v = [x[key] for x in runs if key in x]
        return statistics.median(v) if v else None

    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    flags_file = Path(a.peer_bin).parent / "BUILD_FLAGS"
    peer_flags = flags_file.read_text().strip() if flags_file.exists() else "?"
    print(f"{cpu_name()}, {a.threads} threads; ours {a.bench_engine} (repository at {rev}); "
          f"peer {a.peer_bin} ({peer_flags.split(' -D')[0]}); memory read bandwidth {membw:.1f} GB/s "
          f"(membw.cc, {a.membw_gib:g} GiB, {a.threads} threads); median of {a.rounds} "
          f"alternating rounds ({elapsed / 60:.0f} min)\n")
    print(f"| model | type | file MB | prefill {a.prompt_tokens} tok/s ours / peer (ratio) "
          f"| decode b1 tok/s ours / peer (ratio) "
          f"| decode {a.streams} streams tok/s ours / peer (ratio) "
          f"| b1 weight GB/s ours / peer | % of memory bandwidth ours / peer |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    notes = []
    for m, t, p in files:
        res, fi = results[str(p)], info[str(p)]
        ours, peer = res["ours"], res["peer"]
        cells = []
        for key in FIGURES:
            o, q = med(ours, key), med(peer, key)
            ratio = f" ({o / q:.2f}x)" if o and q else ""
            star = "*" if any(x.get("capped", {}).get(key) for x in ours) else ""
            cells.append(f"{fmt(o)}{star} / {fmt(q)}{ratio}")
        gbs = [None if med(x, "decode") is None else fi["weight_bytes"] * med(x, "decode") / 1e9
               for x in (ours, peer)]
        cells.append(" / ".join(fmt(g) for g in gbs))
        cells.append(" / ".join("-" if g is None else f"{100 * g / membw:.0f}%" for g in gbs))
        for name, runs in (("ours", ours), ("peer", peer)):
            if runs and "error" in runs[-1]:
                notes.append(f"{p.name}, {name}: {runs[-1]['error']}")
        print(f"| {MODELS.get(m, p.stem)} | {t} | {fi['file_mb']:.0f} | " + " | ".join(cells) + " |")
    print("\nWeights by type (share of tensor bytes):\n")
    for m, t, p in files:
        by = info[str(p)]["by_type"]
        total = sum(by.values())
        mix = ", ".join(f"{k} {100 * v / total:.0f}%"
                        for k, v in sorted(by.items(), key=lambda kv: -kv[1]) if v / total >= 0.005)
        print(f"- {p.name}: {mix}")
    if any(any(x.get("capped", {}).values()) for r in results.values() for x in r["ours"]):
        print(f"\n\\* our decode stopped by --max-seconds {a.max_seconds:g} before all its steps")
    if notes:
        print("\nFailures:\n")
        for n in notes:
            print(f"- {n}")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(
            {"membw_gb_per_s": membw, "args": vars(a), "info": info, "results": results},
            indent=1))


if __name__ == "__main__":
    main()
