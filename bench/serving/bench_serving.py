#!/usr/bin/env python3
"""Serving under concurrent streams: shardserve (`shardserve up`, configs/local.yaml: one tp = 2
group on the 2 cores) and the llama.cpp peers on the same GGUF and the same 2 cores, one after
the other in the same run:
  - llama-server: llama.cpp's own server with as many parallel slots as the highest level
    (continuous batching), 2 threads (bench/install-peer builds it into /opt/llama-server);
  - llama-cpp-python: llama-cpp-python[server]'s OpenAI server, 2 threads (one request at a
    time: it does not batch).
For 1, 4, 16 and 32 concurrent streaming clients (prompt ~100 tokens, 128 generated,
end-of-sequence suppressed by logit_bias so every request generates exactly 128 tokens, greedy)
it reports generated tokens/s, time to first token and inter-token latency (p50, p99), and
shardserve/peer ratios. Every prompt is unique within the run (no server can reuse a cached
prefix from an earlier level).

    /opt/peer-venv/bin/python bench/serving/bench_serving.py [--levels 1,4,16,32]
        [--peers llama-server,llama-cpp-python]

Needs the openai package (and llama-cpp-python[server] for that peer) in the Python that runs it.
"""
import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from openai import OpenAI

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = ("The history of the lighthouse is a story of engineering, solitude and the sea. " * 6
          + "Tell it in detail:")
EOS_BIAS = {"2": -100}  # SmolLM2's <|im_end|> / end of text: keep generating


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, seconds=180):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.args}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready")


def one_stream(client, model, tag, i, results, errors):
    t0 = time.perf_counter()
    times = []
    try:
        # A distinct first line per stream, so no server can reuse another stream's prompt.
        stream = client.completions.create(model=model, prompt=f"{tag}, story {i}. " + PROMPT,
                                           max_tokens=128, temperature=0, stream=True,
                                           logit_bias=EOS_BIAS)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].text:
                times.append(time.perf_counter())
    except Exception as e:  # noqa: BLE001 - reported, and the level counts what arrived
        errors.append(f"{type(e).__name__}: {e}")
    if times:
        results.append({"ttft": times[0] - t0, "gaps": [b - a for a, b in zip(times, times[1:])],
                        "chunks": len(times), "end": times[-1]})


def run_level(base, model, streams, tag):
    client = OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=600)
    results, errors = [], []
    threads = [threading.Thread(target=one_stream, args=(client, model, tag, i, results, errors))
               for i in range(streams)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = max(r["end"] for r in results) - t0
    gaps = sorted(g for r in results for g in r["gaps"])
    ttfts = sorted(r["ttft"] for r in results)
    pct = lambda v, q: v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")
    return {"tokens_per_s": sum(r["chunks"] for r in results) / wall, "errors": len(errors),
            "complete": sum(r["chunks"] >= 120 for r in results),
            "ttft_p50": statistics.median(ttfts), "ttft_p99": pct(ttfts, 0.99),
            "itl_p50": pct(gaps, 0.5), "itl_p99": pct(gaps, 0.99)}


def stop(proc):
    """SIGINT to a server's process group, SIGKILL after 30 s."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def running(command, ready_url, log=subprocess.DEVNULL):
    """A server started in its own process group, once `ready_url` answers 200; stopped after."""
    proc = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_ready(ready_url, proc)
        yield proc
    finally:
        stop(proc)


def measure(name, start, base, model, levels):
    proc = start()
    try:
        wait_ready(base + {"shardserve": "/ready", "llama-server": "/health"}.get(name, "/v1/models"), proc)
        run_level(base, model, 1, "Warm-up")
        time.sleep(1)
        return {n: run_level(base, model, n, f"Level {n}") for n in levels}
    finally:
        stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="1,4,16,32")
    ap.add_argument("--shardserve", default=str(ROOT / "build/cli/shardserve"))
    ap.add_argument("--llama-server", default="/opt/llama-server/bin/llama-server")
    ap.add_argument("--peers", default="llama-server,llama-cpp-python")
    ap.add_argument("--set", action="append", default=[],
                    help="config override for shardserve up, e.g. groups[0].tp=1")
    a = ap.parse_args()
    levels = [int(x) for x in a.levels.split(",")]
    log = open("/tmp/bench_serving.log", "w")

    results = {}
    port, zmq = free_port(), free_port()
    results["shardserve"] = measure("shardserve", lambda: subprocess.Popen(
        [a.shardserve, "up", "-c", str(ROOT / "configs/local.yaml"), "--set", f"server.port={port}",
         "--set", f"server.coordinator_endpoint=tcp://127.0.0.1:{zmq}",
         *[x for kv in a.set for x in ("--set", kv)]],
        stdout=log, stderr=log, start_new_session=True),
        f"http://127.0.0.1:{port}", "smollm2-135m-instruct", levels)

    peers = a.peers.split(",") if a.peers else []
    if "llama-server" in peers:
        port, slots = free_port(), max(levels)
        results["llama-server"] = measure("llama-server", lambda: subprocess.Popen(
            [a.llama_server, "-m", str(MODEL), "-t", "2", "-tb", "2", "-np", str(slots),
             "-c", str(512 * slots), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=log, start_new_session=True),
            f"http://127.0.0.1:{port}", "SmolLM2", levels)
    if "llama-cpp-python" in peers:
        port = free_port()
        results["llama-cpp-python"] = measure("llama-cpp-python", lambda: subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(MODEL), "--n_threads", "2",
             "--n_threads_batch", "2", "--n_ctx", "8192", "--host", "127.0.0.1", "--port",
             str(port)], stdout=log, stderr=log, start_new_session=True),
            f"http://127.0.0.1:{port}", str(MODEL), levels)

    ours = results["shardserve"]
    print("shardserve " + " ".join(a.set))
    for n in levels:
        o = ours[n]
        print(f"{n:7d} streams | {o['tokens_per_s']:6.1f} tokens/s | TTFT p50 {o['ttft_p50']:.2f} s "
              f"| ITL p50 {1e3 * o['itl_p50']:.1f} ms, p99 {1e3 * o['itl_p99']:.1f} ms")
    for name in (p for p in peers if p in results):
        peer = results[name]
        print(f"\nshardserve vs {name}")
        print("streams | tokens/s: shardserve  peer  ratio | TTFT p50 s ours/peer | "
              "ITL p50 ms ours/peer | ITL p99 ms ours/peer | complete streams")
        for n in levels:
            o, p = ours[n], peer[n]
            print(f"{n:7d} | {o['tokens_per_s']:20.1f} {p['tokens_per_s']:5.1f} "
                  f"{o['tokens_per_s'] / p['tokens_per_s']:6.2f} | {o['ttft_p50']:6.2f} / "
                  f"{p['ttft_p50']:6.2f} | {1e3 * o['itl_p50']:6.1f} / {1e3 * p['itl_p50']:6.1f} | "
                  f"{1e3 * o['itl_p99']:6.1f} / {1e3 * p['itl_p99']:6.1f} | "
                  f"{o['complete']}/{n} vs {p['complete']}/{n}, errors {o['errors']} vs "
                  f"{p['errors']}")


if __name__ == "__main__":
    main()
