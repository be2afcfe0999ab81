"""Cache-aware routing against a real cluster with two replicas of the default model (two tp = 1
groups in one mpirun job): two conversations started at the same time land on different
replicas (the least busy); their next turns, sent one after the other to an idle cluster, each
go back to the replica holding their history (least-busy routing would send both to the
first), so both find it cached. /metrics shows the choices and each group's hits."""
import re
import threading
import time
import urllib.request
import uuid

import pytest

from conftest import MODEL, MODEL_NAME, Cluster, shardserve_binary

HISTORY = ("You are the help desk of a mountain railway. Trains leave every half hour. " * 25)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    config = tmp_path_factory.mktemp("replicas") / "two-replicas.yaml"
    groups = "".join(f"""
  - name: replica-{i}
    model: {MODEL_NAME}
    tp: 1
    threads_per_rank: 1
    kv_cache_mb: 192
    max_batch: 8
    max_batch_tokens: 256
""" for i in (1, 2))
    config.write_text(f"""
server:
  host: 127.0.0.1
  port: 8080
  coordinator_endpoint: tcp://127.0.0.1:5555
models:
  - name: {MODEL_NAME}
    file: {MODEL}
    task: chat
groups:{groups}""")
    c = Cluster(shardserve_binary(), config=str(config))
    yield c
    c.stop()


def metrics(base):
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        return r.read().decode()


def samples(text, name):
    return {labels: float(v) for labels, v in re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$", text,
                                                           re.M)}


def test_next_turns_go_back_to_the_replica_holding_the_history(replicas):
    import openai
    client = openai.OpenAI(base_url=replicas.base + "/v1", api_key="unused", max_retries=0)
    conversations = [[{"role": "system", "content": f"[{uuid.uuid4()}] {HISTORY}"},
                      {"role": "user", "content": question}]
                     for question in ("When is the first train?", "Can I bring a bicycle?")]

    def ask(messages, out, i):
        out[i] = client.chat.completions.create(model=MODEL_NAME, messages=messages,
                                                max_tokens=16, temperature=0)

    first = [None, None]
    threads = [threading.Thread(target=ask, args=(m, first, i))
               for i, m in enumerate(conversations)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, m in enumerate(conversations):
        assert first[i].usage.prompt_tokens_details.cached_tokens == 0
        m.append({"role": "assistant", "content": first[i].choices[0].message.content})
        m.append({"role": "user", "content": "Thank you. And the last one?"})
    second = [None, None]
    for i, m in enumerate(conversations):  # one at a time: both replicas idle each time
        ask(m, second, i)
        assert second[i].usage.prompt_tokens_details.cached_tokens >= 16 * (
            (first[i].usage.prompt_tokens - 1) // 16), (i, second[i].usage)

    time.sleep(1.5)  # a heartbeat carries the groups' counts
    text = metrics(replicas.base)
    decisions = samples(text, "shardserve_router_decisions_total")
    prefix = sum(v for labels, v in decisions.items() if 'reason="prefix"' in labels)
    assert prefix >= 2, decisions
    hits = samples(text, "shardserve_prefix_cache_hits_total")
    assert all(v > 0 for v in hits.values()) and len(hits) == 2, hits
