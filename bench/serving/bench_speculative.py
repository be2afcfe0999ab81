#!/usr/bin/env python3
"""Speculative decoding by prompt lookup: decode tokens/s with it (speculative_tokens, default 4)
and without (0), the same cluster (configs/local.yaml) started twice in the same run, on
input-grounded work (quote a passage, edit a given code file, summarize a given text: answers
that repeat their input), on an open-ended story at one stream, and on 32 concurrent stories.
Greedy; decode tokens/s = completion tokens / (time after the first token). The texts are
checked equal between the two runs (speculation changes no token).

    /opt/peer-venv/bin/python bench/serving/bench_speculative.py [--repeats 3] [--draft 4]

Needs the openai package in the Python that runs it (the peer venv has it).
"""
import argparse
import statistics
import threading
import time

from openai import OpenAI

from bench_serving import ROOT, free_port, running

PASSAGE = (
    "The lighthouse at the end of the harbour was built in 1871 from granite quarried on the "
    "island. Its lamp burned paraffin until 1923, when an electric lantern replaced it, and its "
    "keeper lived in the small stone house beside the tower with his wife and three children. "
    "Every evening he climbed the one hundred and twelve steps to light the lamp, and every "
    "morning he climbed them again to put it out, polish the brass and trim the wicks. In the "
    "great storm of 1899 the sea broke the windows of the house, and the family spent the night "
    "in the tower, where the keeper kept the light burning until dawn.")
CODE = '''def parse_config(path):
    settings = {}
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise ValueError(f"line {number}: expected key = value")
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    return settings


def write_config(path, settings):
    with open(path, "w") as handle:
        for key, value in sorted(settings.items()):
            handle.write(f"{key} = {value}\\n")
'''
WORKLOADS = {
    "quote": f"Repeat the following text exactly, word for word:\n\n{PASSAGE}",
    "code edit": "Rename the variable `handle` to `stream` in this code and give the whole code "
                 f"back:\n\n```python\n{CODE}```",
    "summarize": f"Summarize this text, keeping its key phrases:\n\n{PASSAGE}",
    "story": "Write a long story about a dragon who learns to bake bread.",
}
EOS_BIAS = {"2": -100}  # the story runs to max_tokens


def one(client, prompt, max_tokens, open_ended):
    start = time.perf_counter()
    first, text, tokens = None, [], 0
    stream = client.chat.completions.create(
        model="smollm2-135m-instruct", messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens, temperature=0, stream=True,
        stream_options={"include_usage": True}, **({"logit_bias": EOS_BIAS} if open_ended else {}))
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter()
            text.append(chunk.choices[0].delta.content)
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    end = time.perf_counter()
    return "".join(text), tokens, end - (first or start)


def measure(binary, draft, repeats, streams):
    port = free_port()
    command = [binary, "up", "-c", str(ROOT / "configs/local.yaml"), "--set", f"server.port={port}",
               "--set", f"server.coordinator_endpoint=tcp://127.0.0.1:{free_port()}",
               "--set", f"groups[0].speculative_tokens={draft}"]
    with running(command, f"http://127.0.0.1:{port}/ready"):
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        one(client, "Hello", 8, False)  # warm-up
        out = {}
        for name, prompt in WORKLOADS.items():
            runs = [one(client, prompt, 256, name == "story") for _ in range(repeats)]
            out[name] = (runs[0][0], statistics.median(t / d for _, t, d in runs))
        # Many streams: tokens/s over all of them.
        results = []

        def worker(i):
            results.append(one(client, WORKLOADS["story"] + f" ({i})", 128, True))
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(streams)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out[f"{streams} stories"] = ("", sum(r[1] for r in results) / (time.perf_counter() - start))
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--draft", type=int, default=4)
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--shardserve", default=str(ROOT / "build/cli/shardserve"))
    a = ap.parse_args()
    plain = measure(a.shardserve, 0, a.repeats, a.streams)
    fast = measure(a.shardserve, a.draft, a.repeats, a.streams)
    print(f"decode tokens/s, speculative_tokens={a.draft} vs 0 (median of {a.repeats})")
    print(f"{'workload':>12} | {'off':>7} | {'on':>7} | ratio | same text")
    for name in plain:
        (t0, off), (t1, on) = plain[name], fast[name]
        print(f"{name:>12} | {off:7.1f} | {on:7.1f} | {on / off:5.2f} | {t0 == t1}")


if __name__ == "__main__":
    main()
