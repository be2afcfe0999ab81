"""Several coordinators behind the repository's nginx site (deploy/nginx): two whole clusters
(`shardserve up`, each with its own tp 1 group of the default model, since a worker group
registers with one coordinator only) on fixed loopback ports, and Debian's nginx in front with
both in UPSTREAMS (fixtures: conftest.py). Requests are spread over both; a coordinator whose
processes all get SIGKILL is passed over without a client error; a coordinator drained with
SIGTERM finishes the stream it holds while new requests go to the other one, and once started
again it is taken back (a rolling restart loses nothing). Registered in ctest as
e2e_nginx_balance:

    ctest --test-dir build -R e2e_nginx_balance --output-on-failure

By hand: SHARDSERVE_BIN=build/cli/shardserve .venv/bin/python -m pytest -q \\
             tests/deploy/test_nginx_balance.py
"""
import os
import re
import signal
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import Nginx, PinnedCluster, api_client, free_port, shardserve_binary
from shardserve_cluster import MODEL_NAME, descendants

HELLO = [{"role": "user", "content": "Say hello."}]
STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]
NO_END = {"2": -100}  # SmolLM2's <|im_end|>: every answer runs to max_tokens
CHAT = "/v1/chat/completions"


def requests_total(cluster, status="200"):
    """shardserve_requests_total of chat completions with `status`, from the coordinator itself."""
    with urllib.request.urlopen(cluster.base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for labels, value in re.findall(r"^shardserve_requests_total\{([^}]*)\} (\S+)$", text, re.M):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if pairs.get("endpoint") == CHAT and pairs.get("status") == status:
            total += float(value)
    return int(total)


def status_of(url, cert=None):
    """The HTTP status of a GET (trusting the test certificate for https)."""
    context = ssl.create_default_context(cafile=cert) if cert else None
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def chat(client, stream):
    """One short chat request through nginx; any error fails the test (the client never retries)."""
    if not stream:
        done = client.chat.completions.create(model=MODEL_NAME, messages=HELLO, max_tokens=8)
        assert done.choices[0].finish_reason in ("stop", "length"), done
        return done.choices[0].message.content
    pieces, finish = [], None
    for chunk in client.chat.completions.create(model=MODEL_NAME, messages=HELLO, max_tokens=8,
                                                stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert finish in ("stop", "length"), (finish, pieces)
    return "".join(pieces)


class Stream(threading.Thread):
    """A long greedy chat stream through nginx on its own thread, with its usage at the end."""

    def __init__(self, client, max_tokens):
        super().__init__(daemon=True)
        self.client, self.max_tokens = client, max_tokens
        self.pieces, self.finish, self.usage, self.error = [], None, None, None
        self.first_piece = threading.Event()
        self.start()

    def run(self):
        try:
            for chunk in self.client.chat.completions.create(
                    model=MODEL_NAME, messages=STORY, max_tokens=self.max_tokens, temperature=0,
                    logit_bias=NO_END, stream=True, stream_options={"include_usage": True}):
                if chunk.choices and chunk.choices[0].delta.content:
                    self.pieces.append(chunk.choices[0].delta.content)
                    self.first_piece.set()
                if chunk.choices and chunk.choices[0].finish_reason:
                    self.finish = chunk.choices[0].finish_reason
                if chunk.usage:
                    self.usage = chunk.usage
        except Exception as e:  # noqa: BLE001 (reported by the test)
            self.error = e
        finally:
            self.first_piece.set()

    def wait_started(self):
        assert self.first_piece.wait(60) and not self.error, self.error

    def result(self):
        self.join(180)
        assert not self.is_alive(), "the stream did not end in 180 s"
        assert self.error is None, repr(self.error)
        return self.finish, self.usage.completion_tokens if self.usage else None


def kill_everything(cluster):
    """SIGKILL on the cluster's process group (`shardserve up`, its coordinator, mpirun) and on
    the ranks below it, which mpirun puts in process groups of their own."""
    below = descendants(cluster.proc.pid)
    os.killpg(cluster.proc.pid, signal.SIGKILL)
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    cluster.proc.wait(10)


class Site:
    """Two clusters on fixed ports and nginx balancing over both."""

    def __init__(self, config, tls, prefix):
        self.config, self.cert = config, tls[0]
        self.ports = [(free_port(), free_port()) for _ in range(2)]
        self.clusters, self.nginx = [], None
        try:
            for ports in self.ports:
                self.clusters.append(self.start(*ports))
            self.nginx = Nginx(prefix, " ".join(f"127.0.0.1:{port}" for port, _ in self.ports),
                               *tls)
        except BaseException:
            self.stop()
            raise
        self.client = api_client(self.nginx.https, self.cert)

    def start(self, port, zmq_port):
        return PinnedCluster(shardserve_binary(), port, zmq_port, self.config)

    def ensure_both_up(self):
        """Starts again, on its ports, a cluster an earlier test stopped (or left draining),
        and waits until nginx sends it requests again (it may hold it out for the upstream's
        fail_timeout)."""
        for i, cluster in enumerate(self.clusters):
            if cluster.proc.poll() is None and status_of(cluster.base + "/health") == 200:
                continue
            cluster.stop()
            self.clusters[i] = back = self.start(*self.ports[i])
            deadline = time.time() + 30
            while requests_total(back) == 0:
                assert time.time() < deadline, "nginx did not send requests to the restarted one"
                chat(self.client, stream=False)
                time.sleep(0.3)

    def stop(self):
        if self.nginx:
            self.nginx.stop()
        for cluster in self.clusters:
            cluster.stop()


@pytest.fixture(scope="module")
def site(light_config, tls, tmp_path_factory):
    s = Site(light_config, tls, tmp_path_factory.mktemp("nginx-balance"))
    yield s
    s.stop()


def test_requests_are_spread_over_both_coordinators(site):
    site.ensure_both_up()
    before = [requests_total(c) for c in site.clusters]
    for i in range(6):
        chat(site.client, stream=i % 2 == 1)
    gained = [requests_total(c) - b for c, b in zip(site.clusters, before)]
    # least_conn with both idle alternates between them.
    assert sum(gained) == 6 and min(gained) >= 2, gained


def test_a_drained_coordinator_finishes_its_stream_while_the_other_takes_new_requests(site):
    """A rolling restart: SIGTERM on the coordinator holding a stream; the stream runs to its
    end, new requests (streamed or not) all succeed on the other coordinator, including those
    nginx first sent to the draining one (its 503 is retried before the client sees a byte);
    started again on its port, the coordinator gets requests again."""
    site.ensure_both_up()
    before = [requests_total(c) for c in site.clusters]
    long = Stream(site.client, max_tokens=800)
    long.wait_started()
    holding = [i for i, c in enumerate(site.clusters) if requests_total(c) > before[i]]
    assert len(holding) == 1, holding
    a = holding[0]
    draining, other = site.clusters[a], site.clusters[1 - a]

    draining.proc.send_signal(signal.SIGTERM)
    deadline = time.time() + 10
    while status_of(draining.base + "/health") != 503:
        assert time.time() < deadline, "the coordinator did not start draining"
        time.sleep(0.1)
    served_by = [requests_total(draining), requests_total(other)]

    # A second stream goes to the other coordinator (least_conn: the draining one holds a
    # connection, the other none). With one stream each, the requests below find both level
    # and alternate: those sent to the draining one get its 503 and are passed on.
    second = Stream(site.client, max_tokens=200)
    second.wait_started()
    for i in range(6):
        chat(site.client, stream=i % 2 == 1)
    assert status_of(site.nginx.https + "/ready", site.cert) == 200
    assert long.is_alive(), "the long stream ended too soon for the checks below"
    refused = requests_total(draining, "503")
    assert requests_total(draining) == served_by[0], "the draining coordinator took a request"
    assert refused >= 1, "nginx never tried the draining coordinator: nothing was retried"
    assert second.result() == ("length", 200)
    assert requests_total(other) == served_by[1] + 7
    assert long.result() == ("length", 800)
    assert draining.proc.wait(60) == 0

    site.ensure_both_up()  # the restart: nginx takes it back


def test_a_killed_coordinator_is_passed_over(site):
    site.ensure_both_up()
    victim, survivor = site.clusters
    before = requests_total(survivor)
    kill_everything(victim)
    for i in range(8):
        chat(site.client, stream=i % 2 == 1)
    assert requests_total(survivor) == before + 8
