#!/usr/bin/env python3
"""A chat that re-sends its history: time to first token of each turn of a five-turn
conversation under a ~1.5k-token system prompt, streamed, greedy, 32 tokens an answer. Three
servers on the same GGUF and the same 2 cores, one after the other in the same run:
  - shardserve (`shardserve up`, configs/local.yaml) with prefix caching (the default);
  - shardserve with `groups[0].prefix_caching=false`;
  - llama.cpp's llama-server, 2 threads, one slot (it keeps the slot's KV cache and reuses
    the common prefix of the next prompt: `cache_prompt`, on by default).
Each server gets its own system prompt (a different first line), so nothing cached by one run
helps another. Prints the TTFT of each turn and, from the second turn on, the ratios.

    /opt/peer-venv/bin/python bench/serving/bench_prefix.py [--turns 5] [--repeats 3]

Needs the openai package in the Python that runs it (the peer venv has it).
"""
import argparse
import statistics
import time
from pathlib import Path

from openai import OpenAI

from bench_serving import MODEL, ROOT, free_port, running

TOPICS = ["brakes", "gears", "chains", "tyres", "wheels", "saddles", "pedals", "lights",
          "frames", "forks", "cables", "bearings", "handlebars", "spokes", "hubs", "racks"]
QUESTIONS = ["How often should I check my brakes?", "My chain skips under load. Why?",
             "What tyre pressure for a 28 mm road tyre?", "How do I true a wheel at home?",
             "Which lights are legal at night?", "How tight should the headset be?"]


def system_prompt(tag):
    lines = [f"[{tag}] You are the assistant of a bicycle repair shop. Shop rules follow."]
    for i in range(70):
        topic = TOPICS[i % len(TOPICS)]
        lines.append(f"Rule {i + 1}: when a customer asks about {topic}, first ask which bicycle "
                     f"they ride, then explain the check step by step, and offer an appointment.")
    return "\n".join(lines)


def conversation(client, model, tag, turns):
    """TTFT of each turn, in seconds; the answers are appended to the history."""
    messages = [{"role": "system", "content": system_prompt(tag)}]
    ttfts = []
    for turn in range(turns):
        messages.append({"role": "user", "content": QUESTIONS[turn % len(QUESTIONS)]})
        start = time.perf_counter()
        first = None
        text = []
        stream = client.chat.completions.create(model=model, messages=messages, max_tokens=32,
                                                temperature=0, stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if first is None:
                    first = time.perf_counter() - start
                text.append(chunk.choices[0].delta.content)
        ttfts.append(first if first is not None else time.perf_counter() - start)
        messages.append({"role": "assistant", "content": "".join(text)})
    return ttfts


def run(name, command, port, ready_path, model, turns, repeats):
    url = f"http://127.0.0.1:{port}"
    with running(command, url + ready_path):
        client = OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        conversation(client, model, f"{name} warm-up", 1)
        runs = [conversation(client, model, f"{name} run {r}", turns) for r in range(repeats)]
        return [statistics.median(run[t] for run in runs) for t in range(turns)]


def shardserve_command(binary, port, extra):
    return [binary, "up", "-c", str(ROOT / "configs/local.yaml"), "--set", f"server.port={port}",
            "--set", f"server.coordinator_endpoint=tcp://127.0.0.1:{free_port()}", *extra]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shardserve", default=str(ROOT / "build/cli/shardserve"))
    ap.add_argument("--llama-server", default="/opt/llama-server/bin/llama-server")
    a = ap.parse_args()

    results = {}
    port = free_port()
    results["shardserve"] = run("shardserve", shardserve_command(a.shardserve, port, []), port,
                                "/ready", "smollm2-135m-instruct", a.turns, a.repeats)
    port = free_port()
    results["shardserve, no prefix cache"] = run(
        "nocache", shardserve_command(a.shardserve, port,
                                      ["--set", "groups[0].prefix_caching=false"]),
        port, "/ready", "smollm2-135m-instruct", a.turns, a.repeats)
    port = free_port()
    results["llama-server"] = run(
        "llama-server", [a.llama_server, "-m", str(MODEL), "-t", "2", "-tb", "2", "-np", "1",
                         "-c", "8192", "--host", "127.0.0.1", "--port", str(port)],
        port, "/health", "SmolLM2", a.turns, a.repeats)

    print(f"time to first token, s (median of {a.repeats} conversations)")
    print("turn | " + " | ".join(f"{name:>28}" for name in results))
    for t in range(a.turns):
        print(f"{t + 1:4d} | " + " | ".join(f"{r[t]:28.3f}" for r in results.values()))
    ours, nocache, peer = (results[k] for k in results)
    later = range(1, a.turns)
    print("\nturns 2+: shardserve / llama-server TTFT "
          + ", ".join(f"{ours[t] / peer[t]:.2f}" for t in later)
          + "; no cache / cache " + ", ".join(f"{nocache[t] / ours[t]:.1f}x" for t in later))


if __name__ == "__main__":
    main()
