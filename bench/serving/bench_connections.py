#!/usr/bin/env python3
"""Connections at scale, against the peer in the same run: how long a new chat request takes
while N idle TCP connections are open to the server (a client pool, a load balancer's spare
connections, or someone holding sockets open), for shardserve and llama.cpp's llama-server.

For each server: the time of a short chat completion (8 tokens, greedy) with no other
connection, then with --idle connections open that never send a byte, then after those
connections were closed again. A server that gives each connection a thread until its read
timeout answers late or not at all (the request's own timeout is --timeout seconds).

    .venv/bin/python bench/serving/bench_connections.py [--idle 1000] [--peers llama-server]
"""
import argparse
import json
import resource
import socket
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import MODEL, ROOT, free_port, running  # noqa: E402


def chat(base, model, timeout):
    """Seconds for one short chat completion, or None if it failed or timed out."""
    body = json.dumps({"model": model, "max_tokens": 8, "temperature": 0,
                       "messages": [{"role": "user", "content": "Say hello."}]}).encode()
    req = urllib.request.Request(base + "/v1/chat/completions", body,
                                 {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
        return time.perf_counter() - t0
    except OSError:
        return None


def measure(base, model, idle, timeout):
    def best_of(n):
        times = [chat(base, model, timeout) for _ in range(n)]
        ok = [t for t in times if t is not None]
        return (min(ok) if ok else None), len(times) - len(ok)

    alone, _ = best_of(3)
    host, port = base.removeprefix("http://").split(":")
    sockets = []
    for _ in range(idle):
        s = socket.create_connection((host, int(port)), timeout=10)
        sockets.append(s)
    time.sleep(1.0)  # every connection accepted and parked
    crowded, failed = best_of(3)
    for s in sockets:
        s.close()
    time.sleep(1.0)
    after, _ = best_of(1)
    return {"alone_s": alone, "with_idle_s": crowded, "failed_with_idle": failed,
            "after_s": after}


def show(name, r, idle, timeout):
    def t(x):
        return f"{1e3 * x:8.0f} ms" if x is not None else f"  > {timeout} s (failed)"
    print(f"{name:12s} | alone {t(r['alone_s'])} | with {idle} idle {t(r['with_idle_s'])} "
          f"({r['failed_with_idle']} of 3 failed) | after {t(r['after_s'])}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--shardserve", default=str(ROOT / "build/cli/shardserve"))
    ap.add_argument("--llama-server", default="/opt/llama-server/bin/llama-server")
    ap.add_argument("--peers", default="llama-server")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log = open("/tmp/bench_connections.log", "w")
    results = {}

    port, zmq = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    with running([a.shardserve, "up", "-c", str(ROOT / "configs/local.yaml"), "--set",
                  f"server.port={port}", "--set",
                  f"server.coordinator_endpoint=tcp://127.0.0.1:{zmq}"], base + "/ready", log):
        chat(base, "smollm2-135m-instruct", a.timeout)  # warm-up
        results["shardserve"] = measure(base, "smollm2-135m-instruct", a.idle, a.timeout)

    if "llama-server" in a.peers.split(","):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with running([a.llama_server, "-m", str(MODEL), "-t", "2", "-tb", "2", "-np", "4", "-c",
                      "4096", "--host", "127.0.0.1", "--port", str(port)], base + "/health", log):
            chat(base, "SmolLM2", a.timeout)
            results["llama-server"] = measure(base, "SmolLM2", a.idle, a.timeout)

    for name, r in results.items():
        show(name, r, a.idle, a.timeout)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
