"""A crash takes down one group, not the service: `shardserve up` runs each worker group as its
own mpirun job. SIGKILL on the embedding group's rank leaves a chat stream running to its end;
the coordinator keeps serving; the dead group's job is started again and serves again; the exit
and the restart are in /metrics. Then a chat rank is killed mid-stream: the stream waits for the
restart and continues with the text it would have had. And SIGTERM drains: requests in flight finish while new ones are refused."""
import json
import os
import signal
import threading
import time

import pytest

from conftest import MODEL, MODEL_NAME, Cluster, shardserve_binary
from cluster_processes import metric_sum, rank_of, wait_for


def start_stream(client, content, max_tokens):
    """A greedy chat stream on a thread: (thread, its text pieces, its finish reasons)."""
    text, finish = [], []

    def stream():
        s = client.chat.completions.create(
            model=MODEL_NAME, messages=[{"role": "user", "content": content}],
            max_tokens=max_tokens, temperature=0, stream=True, logit_bias={"2": -100})
        for chunk in s:
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
            if chunk.choices and chunk.choices[0].finish_reason:
                finish.append(chunk.choices[0].finish_reason)

    t = threading.Thread(target=stream)
    t.start()
    return t, text, finish


@pytest.fixture(scope="module")
def own_cluster():
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    c = Cluster(shardserve_binary())
    yield c
    c.stop()


def test_a_dead_group_restarts_while_the_others_serve(own_cluster):
    import openai
    base = own_cluster.base
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    assert client.embeddings.create(model="all-minilm-l6-v2", input="before").data

    # A chat stream in flight while the embedding group dies.
    t, text, finish = start_stream(client, "Count to fifty.", 96)
    wait_for(lambda: len(text) > 3, 60, "the chat stream to start")
    victim = rank_of(own_cluster, "minilm-tp1")
    assert victim, "no embedding rank found"
    os.kill(victim, signal.SIGKILL)
    t.join(120)
    assert finish == ["length"], (finish, "".join(text))  # the chat group never noticed
    assert own_cluster.proc.poll() is None, "shardserve up exited"

    # The embedding group is started again and serves; /metrics says what happened.
    wait_for(lambda: metric_sum(base, "shardserve_group_job_restarts_total",
                                'group="minilm-tp1"') >= 1, 60, "the embedding group's restart")
    assert metric_sum(base, "shardserve_group_job_exits_total", 'group="minilm-tp1"') >= 1
    wait_for(lambda: client.embeddings.create(model="all-minilm-l6-v2", input="after").data,
             90, "embeddings after the restart")

    # A chat rank dies mid-stream, and the model has no other replica: the stream waits for
    # the group's restart and goes on from where it stopped, with exactly the text of the run
    # above (greedy), which the embedding group's death did not touch.
    undisturbed = "".join(text)
    t, text, finish = start_stream(client, "Count to fifty.", 96)
    wait_for(lambda: len(text) > 3, 60, "the second chat stream to start")
    victim = rank_of(own_cluster, "smollm2-tp2")
    assert victim, "no chat rank found"
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: metric_sum(base, "shardserve_group_job_restarts_total",
                                'group="smollm2-tp2"') >= 1, 60, "the chat group's restart")
    t.join(120)
    assert finish == ["length"], (finish, "".join(text))
    assert "".join(text) == undisturbed
    assert metric_sum(base, "shardserve_request_failovers_total", 'outcome="resumed"') >= 1
    wait_for(lambda: client.chat.completions.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": "Hi"}], max_tokens=4).choices,
        120, "chat after the restart")
    assert own_cluster.proc.poll() is None


def test_sigterm_drains_then_exits(tmp_path):
    """Graceful drain: on SIGTERM new requests get 503 with Retry-After, /health says so, the
    stream in flight runs to its end, and `shardserve up` exits 0."""
    import http.client
    import openai
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    c = Cluster(shardserve_binary(), ["--set", "server.drain_timeout_s=60"])
    try:
        client = openai.OpenAI(base_url=c.base + "/v1", api_key="unused", max_retries=0)
        t, text, finish = start_stream(client, "Tell a story.", 128)
        wait_for(lambda: len(text) > 3, 60, "the stream to start")
        c.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        host, port = c.base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("POST", "/v1/chat/completions",
                     json.dumps({"model": MODEL_NAME, "messages": [{"role": "user",
                                                                    "content": "Hi"}]}),
                     {"Content-Type": "application/json"})
        refused = conn.getresponse()
        body = json.loads(refused.read())
        assert refused.status == 503, body
        assert refused.getheader("Retry-After") == "5"
        assert body["error"]["code"] == "service_unavailable"
        conn.request("GET", "/health")
        health = conn.getresponse()
        assert health.status == 503 and json.loads(health.read())["status"] == "draining"
        t.join(120)
        assert finish == ["length"], (finish, "".join(text))
        assert c.proc.wait(timeout=60) == 0
    finally:
        c.stop()
