"""A worker group that crashes mid-stream, with no replica and nobody to restart it (groups
started by hand, not by `shardserve up`): its streams wait for a replica up to
server.failover_timeout_s, then end with an error event; other calls get a 5xx error object, /ready and /metrics show it, the coordinator keeps serving, and a
restarted group registers and serves without restarting the coordinator."""
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import MODEL, MODEL_NAME, ROOT, free_port, shardserve_binary


def get(base, path):
    try:
        with urllib.request.urlopen(base + path, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:  # not listening yet
        return 0, ""


def post(base, body, path="/v1/chat/completions"):
    req = urllib.request.Request(base + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(pred, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_group_crash_and_restart():
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    binary = shardserve_binary()
    port, zmq = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    sets = ["--set", f"server.port={port}", "--set", f"server.coordinator_endpoint=tcp://127.0.0.1:{zmq}"]
    config = str(ROOT / "configs/local.yaml")
    log = open(os.environ.get("SHARDSERVE_E2E_LOG", "/dev/null"), "a")
    coordinator = subprocess.Popen([binary, "coordinator", "-c", config, *sets,
                                    "--set", "server.failover_timeout_s=3"], stdout=log,
                                   stderr=subprocess.STDOUT)
    # The config's two groups as two mpirun jobs, so one can die while the other serves.
    def mpirun(group, n):
        return ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(n), binary,
                "worker", "-c", config, "--group", group, *sets]
    workers = subprocess.Popen(mpirun("smollm2-tp2", 2), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    embedder = subprocess.Popen(mpirun("minilm-tp1", 1), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_for(lambda: get(base, "/ready")[0] == 200, 120, "the group to register")

        # A long stream, and the group killed while it runs.
        events = []

        def stream():
            req = urllib.request.Request(base + "/v1/chat/completions", json.dumps({
                "model": MODEL_NAME, "messages": [{"role": "user", "content": "A long story."}],
                "max_tokens": 4000, "ignore_eos": True, "stream": True}).encode(),
                {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=120) as r:
                for line in r:
                    line = line.decode().strip()
                    if line.startswith("data: "):
                        events.append(line[6:])

        reader = threading.Thread(target=stream)
        reader.start()
        wait_for(lambda: len(events) > 5, 60, "the stream to start")
        os.killpg(workers.pid, signal.SIGKILL)
        workers.wait()
        killed = time.time()
        reader.join(timeout=60)
        assert not reader.is_alive(), "the stream did not end after the group died"
        assert time.time() - killed >= 2.5, "the stream did not wait for a replica"
        errors = [e for e in events if '"error"' in e]
        assert errors and "came back within 3 s" in errors[0], events[-3:]
        assert 'shardserve_request_failovers_total{model="smollm2-135m-instruct",' \
               'outcome="failed"} 1' in get(base, "/metrics")[1]

        wait_for(lambda: get(base, "/ready")[0] == 503, 30, "/ready to report the loss")
        status, body = post(base, {"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}]})
        assert status == 503 and json.loads(body)["error"]["message"], body
        assert 'shardserve_group_up{group="smollm2-tp2"} 0' in get(base, "/metrics")[1]
        assert get(base, "/health")[0] == 200
        # The other group keeps serving its model.
        status, body = post(base, {"model": "all-minilm-l6-v2", "input": "still here"},
                            "/v1/embeddings")
        assert status == 200, body
        assert len(json.loads(body)["data"][0]["embedding"]) == 384

        # The group comes back; the same coordinator serves again.
        workers = subprocess.Popen(mpirun("smollm2-tp2", 2), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        wait_for(lambda: get(base, "/ready")[0] == 200, 120, "the restarted group to register")
        status, body = post(base, {"model": MODEL_NAME, "max_tokens": 8,
                                   "messages": [{"role": "user", "content": "hi"}]})
        assert status == 200, body
        assert json.loads(body)["choices"][0]["message"]["content"]
    finally:
        for job in (workers, embedder):
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)
                job.wait()
        coordinator.send_signal(signal.SIGINT)
        try:
            coordinator.wait(timeout=20)
        except subprocess.TimeoutExpired:
            coordinator.kill()
        log.close()
