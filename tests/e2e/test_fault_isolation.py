"""A crash takes down one group, not the service: `shardserve up` runs each worker group as its
own mpirun job. SIGKILL on the embedding group's rank leaves a chat stream running to its end;
the coordinator keeps serving; the dead group's job is started again and serves again; the exit
and the restart are in /metrics. Then a chat rank is killed: chat comes back on its own. And
SIGTERM drains: requests in flight finish while new ones are refused."""
import json
import os
import re
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import MODEL, MODEL_NAME, Cluster, shardserve_binary


def descendants(pid):
    """Every process below `pid`, from /proc."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def rank_of(cluster, group):
    """The pid of a rank of `group` (a `shardserve worker` process, not its mpirun)."""
    for pid in descendants(cluster.proc.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (argv and argv[0].endswith(b"shardserve") and b"worker" in argv
                and group.encode() in argv):
            return pid
    return None


def metric_sum(base, name, label_filter=""):
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(v) for labels, v in re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M)
               if label_filter in labels)


def wait_for(predicate, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 (not up yet)
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


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

    # A chat rank dies: chat comes back without anyone restarting the service.
    victim = rank_of(own_cluster, "smollm2-tp2")
    assert victim, "no chat rank found"
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: metric_sum(base, "shardserve_group_job_restarts_total",
                                'group="smollm2-tp2"') >= 1, 60, "the chat group's restart")
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
