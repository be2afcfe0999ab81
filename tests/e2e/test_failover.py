"""Failover of requests in flight: two replica groups of the chat model under `shardserve up`;
SIGKILL on the rank of the group serving a stream moves the stream to the other replica, which
recomputes the prompt and the tokens already sent and goes on. The client sees one unbroken
stream with exactly the text of an undisturbed run, greedy or seeded."""
import os
import signal
import threading

import pytest

from conftest import MODEL, MODEL_NAME, Cluster, shardserve_binary
from cluster_processes import metric_sum, rank_of, wait_for

REPLICAS = ("replica-a", "replica-b")
PROMPT = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    config = tmp_path_factory.mktemp("failover") / "replicas.yaml"
    groups = "".join(f"""
  - name: {name}
    model: {MODEL_NAME}
    tp: 1
    threads_per_rank: 1
    kv_cache_mb: 64
""" for name in REPLICAS)
    config.write_text(f"""
server:
  host: 127.0.0.1
  port: 8080
models:
  - name: {MODEL_NAME}
    file: {MODEL}
    task: chat
    context_length: 2048
groups:{groups}""")
    c = Cluster(shardserve_binary(), config=str(config))
    yield c
    c.stop()


def routed(base):
    return {g: metric_sum(base, "shardserve_router_decisions_total", f'group="{g}"')
            for g in REPLICAS}


def stream(client, sampling, on_chunk=None):
    """One chat stream: its text and finish reasons; on_chunk(n) after the n-th text chunk."""
    text, finish = [], []
    s = client.chat.completions.create(model=MODEL_NAME, messages=PROMPT, max_tokens=160,
                                       stream=True, logit_bias={"2": -100}, **sampling)
    for chunk in s:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
            if on_chunk:
                on_chunk(len(text))
        if chunk.choices and chunk.choices[0].finish_reason:
            finish.append(chunk.choices[0].finish_reason)
    return "".join(text), finish


@pytest.mark.parametrize("sampling", [{"temperature": 0}, {"temperature": 0.9, "seed": 1234}],
                         ids=["greedy", "seeded"])
def test_a_stream_continues_on_another_replica_with_the_same_text(replicas, sampling):
    import openai
    client = openai.OpenAI(base_url=replicas.base + "/v1", api_key="unused", max_retries=0)
    undisturbed, finish = stream(client, sampling)
    assert finish == ["length"]

    before = routed(replicas.base)
    resumed = metric_sum(replicas.base, "shardserve_request_failovers_total", 'outcome="resumed"')
    killed = threading.Event()

    def kill_its_group(n):
        if n < 12 or killed.is_set():
            return
        after = routed(replicas.base)
        group = next(g for g in REPLICAS if after[g] > before[g])
        victim = rank_of(replicas, group)
        assert victim, f"no rank of {group} found"
        os.kill(victim, signal.SIGKILL)
        killed.set()

    text, finish = stream(client, sampling, kill_its_group)
    assert killed.is_set()
    assert finish == ["length"]
    assert text == undisturbed
    assert metric_sum(replicas.base, "shardserve_request_failovers_total",
                      'outcome="resumed"') == resumed + 1
    # Both replicas serve again once `shardserve up` has restarted the dead one.
    wait_for(lambda: metric_sum(replicas.base, "shardserve_group_up") == 2, 90,
             "both replicas up again")


def test_a_hung_replica_is_restarted_and_its_stream_goes_on(replicas):
    """SIGSTOP on the rank of a one-rank group: its heartbeats stop, the coordinator declares it
    dead after heartbeat_timeout (5 s) and the stream continues on the other replica; `shardserve
    up` ends the hung job (its mpirun is alive) and starts it again."""
    import openai
    client = openai.OpenAI(base_url=replicas.base + "/v1", api_key="unused", max_retries=0)
    sampling = {"temperature": 0.9, "seed": 99}
    undisturbed, _ = stream(client, sampling)
    wait_for(lambda: metric_sum(replicas.base, "shardserve_group_up") == 2, 90, "both replicas")
    before = routed(replicas.base)
    exits = {g: metric_sum(replicas.base, "shardserve_group_job_exits_total", f'group="{g}"')
             for g in REPLICAS}
    stopped = []

    def stop_its_group(n):
        if n < 12 or stopped:
            return
        after = routed(replicas.base)
        group = next(g for g in REPLICAS if after[g] > before[g])
        victim = rank_of(replicas, group)
        assert victim, f"no rank of {group} found"
        os.kill(victim, signal.SIGSTOP)
        stopped.append(group)

    text, finish = stream(client, sampling, stop_its_group)
    assert stopped and finish == ["length"]
    assert text == undisturbed
    group = stopped[0]
    wait_for(lambda: metric_sum(replicas.base, "shardserve_group_job_exits_total",
                                f'group="{group}"') > exits[group], 60, "the hung job's end")
    wait_for(lambda: metric_sum(replicas.base, "shardserve_group_up") == 2, 90,
             "the hung replica back")
