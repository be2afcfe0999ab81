"""Fixtures for the nginx test: a real local cluster (tests/shardserve_cluster.py), a self-signed
certificate from deploy/make-cert, and Debian's nginx running the repository's site
(deploy/nginx/render into a temporary prefix) on free loopback ports."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shardserve_cluster import MODEL, ROOT, Cluster, free_port, shardserve_binary  # noqa: E402


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
