"""A real local cluster for the end-to-end tests: `shardserve up` (coordinator + a tp = 2
worker group under mpirun) on the default model, on free loopback ports."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"
SCHEMAS = ROOT.parent / "shared" / "openai" / "openai_schemas.json"
API_KEY = "test-key-123"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, shardserve, extra=()):
        self.port, zmq_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.environ.get("SHARDSERVE_E2E_LOG", "/dev/null"), "a")
        self.proc = subprocess.Popen(
            [shardserve, "up", "-c", str(ROOT / "configs/local.yaml"),
             "--set", f"server.port={self.port}",
             "--set", f"server.coordinator_endpoint=tcp://127.0.0.1:{zmq_port}", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            assert self.proc.poll() is None, "shardserve up exited during start-up"
            try:
                with urllib.request.urlopen(self.base + "/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("the cluster did not become ready in 120 s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def shardserve_binary():
    return os.environ.get("SHARDSERVE_BIN", str(ROOT / "build" / "cli" / "shardserve"))


@pytest.fixture(scope="session")
def cluster():
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    c = Cluster(shardserve_binary())
    yield c
    c.stop()


@pytest.fixture(scope="session")
def secured_cluster():
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    c = Cluster(shardserve_binary(), ["--set", f"server.api_keys=[{API_KEY}]",
                                      "--set", "server.max_body_bytes=4096"])
    yield c
    c.stop()


@pytest.fixture(scope="session")
def schemas():
    if not SCHEMAS.exists():
        pytest.skip(f"{SCHEMAS} absent (the shared/ folder beside the repository)")
    return json.loads(SCHEMAS.read_text())["schemas"]


@pytest.fixture
def client(cluster):
    import openai
    return openai.OpenAI(base_url=cluster.base + "/v1", api_key="unused", max_retries=0)
