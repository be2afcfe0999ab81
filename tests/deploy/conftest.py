"""Fixtures for the nginx tests: a real local cluster (tests/shardserve_cluster.py), a self-signed
certificate from deploy/make-cert, and Debian's nginx running the repository's site
(deploy/nginx/render into a temporary prefix) on free loopback ports. For the balancing test
(test_nginx_balance.py): light clusters on fixed ports (PinnedCluster, light_config), so that
a coordinator started again comes back at the address nginx's upstream names."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shardserve_cluster import (  # noqa: E402
    MODEL, MODEL_NAME, ROOT, Cluster, free_port, shardserve_binary)


def nginx_binary():
    found = shutil.which("nginx") or "/usr/sbin/nginx"  # /usr/sbin: not on every user's PATH
    if not os.access(found, os.X_OK):
        pytest.fail("nginx not found (Debian package nginx): run scripts/install-deps")
    return found


class Nginx:
    """nginx in the foreground under PREFIX, proxying to UPSTREAM: https and http base URLs."""

    def __init__(self, prefix, upstream, cert, key):
        self.prefix, self.binary = Path(prefix), nginx_binary()
        http_port, https_port = free_port(), free_port()
        self.http, self.https = f"http://127.0.0.1:{http_port}", f"https://127.0.0.1:{https_port}"
        settings = [f"PREFIX={prefix}", f"LISTEN_HTTP=127.0.0.1:{http_port}",
                    f"LISTEN_HTTPS=127.0.0.1:{https_port}", f"UPSTREAMS={upstream}",
                    f"WEB_ROOT={ROOT / 'web'}", f"CERT={cert}", f"KEY={key}", "WORKERS=1",
                    f"NGINX={self.binary}"]
        if os.geteuid() == 0:
            # As root nginx would run its workers as nobody, who may not enter the checkout
            # (e.g. under /root) or the test's private temporary folder.
            settings.append("USER=root")
        run([str(ROOT / "deploy/nginx/render"), *settings])
        args = [self.binary, "-p", str(prefix), "-c", "conf/nginx.conf",
                "-e", str(self.prefix / "logs/error.log")]
        run([*args, "-t"])
        self.proc = subprocess.Popen([*args, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"nginx exited at start-up ({self.proc.returncode}):\n"
                            + self.error_log())
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"nginx did not listen on {https_port} in 20 s:\n{self.error_log()}")

    def error_log(self):
        log = self.prefix / "logs/error.log"
        return log.read_text() if log.exists() else "(no error log)"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class PinnedCluster(Cluster):
    """`shardserve up` as Cluster starts it, but on the HTTP and ZeroMQ ports given rather than
    free ones: a coordinator started again after a drain or a kill is where nginx expects it."""

    def __init__(self, shardserve, port, zmq_port, config, extra=()):
        self.port, self.zmq_port = port, zmq_port
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(os.environ.get("SHARDSERVE_E2E_LOG", "/dev/null"), "a")
        self.proc = subprocess.Popen(
            [shardserve, "up", "-c", str(config), "--set", f"server.port={port}",
             "--set", f"server.coordinator_endpoint=tcp://127.0.0.1:{zmq_port}", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                pytest.fail(f"shardserve up on port {port} exited during start-up "
                            f"({self.proc.returncode})")
            try:
                with urllib.request.urlopen(self.base + "/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"the cluster on port {port} did not become ready in 120 s")


def api_client(base, cert):
    """The official SDK against nginx's HTTPS URL `base`, trusting the test certificate. No
    retries of its own: a request that fails is the test's failure, not hidden by the SDK."""
    return openai.OpenAI(
        base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120,
        http_client=openai.DefaultHttpxClient(verify=ssl.create_default_context(cafile=cert)))


def run(args):
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def cluster():
    if not MODEL.exists():
        pytest.fail(f"{MODEL} absent: run scripts/fetch-models")
    c = Cluster(shardserve_binary())
    yield c
    c.stop()


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    """(CERT, KEY) made by deploy/make-cert, as `eval "$(deploy/make-cert)"` would set them."""
    if not shutil.which("openssl"):
        pytest.fail("openssl not found: run scripts/install-deps")
    out = run([str(ROOT / "deploy/make-cert"), "-d", str(tmp_path_factory.mktemp("tls"))])
    paths = dict(line.split("=", 1) for line in out.split())
    return paths["CERT"], paths["KEY"]


@pytest.fixture(scope="session")
def nginx(cluster, tls, tmp_path_factory):
    """nginx in front of the cluster."""
    n = Nginx(tmp_path_factory.mktemp("nginx"), f"127.0.0.1:{cluster.port}", *tls)
    yield n
    n.stop()


@pytest.fixture(scope="session")
def nginx_no_upstream(tls, tmp_path_factory):
    """nginx whose coordinator is down: nothing listens on its upstream port."""
    n = Nginx(tmp_path_factory.mktemp("nginx-down"), f"127.0.0.1:{free_port()}", *tls)
    yield n
    n.stop()


@pytest.fixture(scope="session")
def light_config(tmp_path_factory):
    """A cluster YAML lighter than configs/local.yaml, for running several at once on 2 cores:
    the default chat model in one tp 1 group of one thread, no embedding group."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} absent: run scripts/fetch-models")
    path = tmp_path_factory.mktemp("config") / "light.yaml"
    path.write_text(f"""\
server:
  host: 127.0.0.1
  drain_timeout_s: 60
models:
  - name: {MODEL_NAME}
    file: {MODEL}
    task: chat
    context_length: 2048
groups:
  - name: smollm2-tp1
    model: {MODEL_NAME}
    tp: 1
    threads_per_rank: 1
    kv_cache_mb: 64
    max_batch: 8
    max_batch_tokens: 128
    max_prefill_tokens_while_decoding: 32
""")
    return path
