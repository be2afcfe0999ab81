"""A real local cluster for the end-to-end tests: `shardserve up` (coordinator + the worker
groups of configs/local.yaml, or another config, under mpirun) on free loopback ports.

Shared by the pytest suites under tests/ (e2e, web, deploy); their conftest.py files put this
folder on sys.path. Environment:
    SHARDSERVE_BIN       the shardserve binary (default: build/cli/shardserve)
    SHARDSERVE_E2E_LOG   a file that collects the cluster's output (default: discarded)
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, shardserve, extra=(), config="configs/local.yaml"):
        self.port, zmq_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.environ.get("SHARDSERVE_E2E_LOG", "/dev/null"), "a")
        # Each cluster its own knowledge base (where the config has one): never the operator's
        # var/knowledge, never another test's.
        self.data = tempfile.TemporaryDirectory(prefix="shardserve-kb-")
        config_text = (ROOT / config).read_text()
        knowledge = (["--set", f"knowledge.data_dir={self.data.name}"]
                     if re.search(r"^knowledge:", config_text, re.M) else [])
        # The repository root as the working directory: server.web_root defaults to ./web.
        self.proc = subprocess.Popen(
            [shardserve, "up", "-c", str(ROOT / config),
             "--set", f"server.port={self.port}",
             "--set", f"server.coordinator_endpoint=tcp://127.0.0.1:{zmq_port}",
             *knowledge, *extra],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
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
        if getattr(self, "data", None):  # subclasses that start their own process have none
            self.data.cleanup()


def shardserve_binary():
    return os.environ.get("SHARDSERVE_BIN", str(ROOT / "build" / "cli" / "shardserve"))


def descendants(pid):
    """Every process below `pid`, from /proc (the ranks under `shardserve up`'s mpirun jobs)."""
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
