"""Many clients at once against a real cluster: batching must not change any sequence's
output, the server stays responsive, and a client that goes away frees its sequence."""
import re
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import http.client
import json

from conftest import MODEL_NAME

PROMPTS = [f"Write one sentence about the number {i}." for i in range(16)]


def greedy_stream(client, prompt, max_tokens=24):
    stream = client.chat.completions.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens, temperature=0, stream=True)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def running_sequences(base):
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(r'shardserve_group_running_sequences\{group="[^"]+"\} (\S+)', text)
    return float(m.group(1)) if m else None


def test_16_concurrent_streams_get_the_text_they_get_alone(client):
    alone = [greedy_stream(client, p) for p in PROMPTS]
    with ThreadPoolExecutor(max_workers=16) as pool:
        together = list(pool.map(lambda p: greedy_stream(client, p), PROMPTS))
    assert together == alone


def test_64_streams_while_health_answers_quickly(client, cluster):
    worst = 0.0
    stop = threading.Event()

    def probe():
        nonlocal worst
        while not stop.is_set():
            t0 = time.time()
            with urllib.request.urlopen(cluster.base + "/health", timeout=5) as r:
                assert r.status == 200
            worst = max(worst, time.time() - t0)
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with ThreadPoolExecutor(max_workers=64) as pool:
            texts = list(pool.map(lambda i: greedy_stream(client, f"Say a word about {i}.", 8),
                                  range(64)))
    finally:
        stop.set()
        prober.join()
    assert all(texts)
    assert worst < 1.0, f"/health took {worst:.2f} s under 64 streams"


def test_a_client_that_disconnects_frees_its_sequence(cluster):
    body = {"model": MODEL_NAME, "messages": [{"role": "user", "content": "Tell a long story."}],
            "max_tokens": 2000, "temperature": 0, "ignore_eos": True, "stream": True}
    conn = http.client.HTTPConnection("127.0.0.1", cluster.port, timeout=30)
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200
    for _ in range(10):
        r.readline()
    conn.close()  # leave mid-stream
    deadline = time.time() + 20
    while time.time() < deadline:
        if running_sequences(cluster.base) == 0:
            return
        time.sleep(0.25)
    raise AssertionError(f"the sequence still runs: {running_sequences(cluster.base)} running")
