"""Hosts as hosts (issue 17, item 5): the two ranks of one tp 2 group run on two "hosts", Linux
network namespaces with addresses of their own, started by mpirun from a hostfile through an
rsh agent that enters the namespace instead of ssh (tests/e2e/netns_rsh). MPI runs over TCP
only, on the namespaces' subnet, so every all-reduce crosses the link between them; the
group's leader reaches the coordinator, which runs here in the root namespace, over that link.

    root namespace: bridge ssbrPID 10.231.X.1/24, the coordinator's ZeroMQ endpoint on it
                    (HTTP on 127.0.0.1), mpirun
       | veth                         | veth
    ss-hostA-PID: eth0 10.231.X.2    ss-hostB-PID: eth0 10.231.X.3
       orted, rank 0 (the leader)       orted, rank 1

A chat completion through the coordinator must give the greedy text of a local tp 1
`shardserve generate`; each namespace must hold one worker rank (`ip netns pids`), and the
ranks' TCP connection must join the two namespace addresses, the leader's the coordinator's
(`ip netns exec NS ss -tnp`). The namespaces, links and processes are removed afterwards, also
when the test fails; without the rights to make namespaces (root, CAP_NET_ADMIN and
CAP_SYS_ADMIN) the test is skipped with the failing command's message."""
import ipaddress
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import MODEL, MODEL_NAME, ROOT, free_port, shardserve_binary

AGENT = Path(__file__).resolve().with_name("netns_rsh")
GROUP = "smollm2-tp2"
PROMPT = "What is the capital of France?"
MAX_TOKENS = 24


class SetupFailed(Exception):
    pass


def ip(*args, check=True, timeout=30):
    """Runs `ip ARGS...`; with check, a failure raises SetupFailed naming the command."""
    cmd = ["ip", *args]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SetupFailed(f"`{' '.join(cmd)}`: {e}") from e
    if check and run.returncode != 0:
        raise SetupFailed(f"`{' '.join(cmd)}` failed: {(run.stderr or run.stdout).strip()}")
    return run


def netns_pids(ns):
    run = ip("netns", "pids", ns, check=False)
    return [int(p) for p in run.stdout.split()] if run.returncode == 0 else []


def namespaces():
    run = ip("netns", "list", check=False)
    return {line.split()[0] for line in run.stdout.splitlines() if line.strip()}


def link_exists(name):
    return ip("link", "show", "dev", name, check=False).returncode == 0


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


class NetnsHosts:
    """Two namespaces ss-hostA-TAG and ss-hostB-TAG, each with lo and an eth0 (a veth) on a
    bridge in the root namespace, all on one free 10.231.X.0/24. Everything made is removed by
    destroy(), which returns what it could not remove."""

    def __init__(self, tag):
        self.tag = tag
        self.names = {"A": f"ss-hostA-{tag}", "B": f"ss-hostB-{tag}"}
        self.bridge = f"ssbr{tag}"
        self.root_veths = {h: f"ssv{h}{tag}" for h in self.names}
        self.made_namespaces, self.made_links = [], []
        self.net = self.free_subnet()
        hosts = list(self.net.hosts())
        self.root_addr = str(hosts[0])
        self.addrs = {"A": str(hosts[1]), "B": str(hosts[2])}

    @staticmethod
    def free_subnet():
        """A 10.231.X.0/24 that overlaps no address or route of the root namespace."""
        used = []
        for args in (("-4", "-o", "addr", "show"), ("-4", "route", "show", "table", "all")):
            for word in ip(*args, check=False).stdout.split():
                try:
                    used.append(ipaddress.ip_network(word, strict=False))
                except ValueError:
                    pass
        start = os.getpid() % 250
        for i in range(250):
            net = ipaddress.ip_network(f"10.231.{(start + i) % 250 + 1}.0/24")
            if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
                return net
        raise SetupFailed("no free 10.231.X.0/24 subnet for the namespaces")

    def create(self):
        for ns in self.names.values():
            ip("netns", "add", ns)
            self.made_namespaces.append(ns)
        # Frames between the namespaces are bridged: keep them out of the host's iptables
        # (br_netfilter), where a FORWARD policy of DROP would eat them.
        if ip("link", "add", self.bridge, "type", "bridge", "nf_call_iptables", "0",
              "nf_call_ip6tables", "0", "nf_call_arptables", "0", check=False).returncode:
            ip("link", "add", self.bridge, "type", "bridge")
        self.made_links.append(self.bridge)
        ip("addr", "add", f"{self.root_addr}/{self.net.prefixlen}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for h, ns in self.names.items():
            outer, inner = self.root_veths[h], f"ssv{h}{self.tag}p"
            ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            self.made_links.append(outer)
            ip("link", "set", inner, "netns", ns)
            ip("link", "set", outer, "master", self.bridge)
            ip("link", "set", outer, "up")
            ip("-n", ns, "link", "set", inner, "name", "eth0")
            ip("-n", ns, "addr", "add", f"{self.addrs[h]}/{self.net.prefixlen}", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def destroy(self):
        """Removes what create() made; returns what is left (empty when all is gone)."""
        return remove(self.made_namespaces, self.made_links)


def remove(netns_names, links):
    """Kills what still runs in the namespaces, then deletes the links and the namespaces;
    returns a list of what is left."""
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        pids = [p for ns in netns_names for p in netns_pids(ns)]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + wait
        while pids and time.time() < deadline:
            pids = [p for ns in netns_names for p in netns_pids(ns)]
            time.sleep(0.1)
    # The root ends first: deleting a veth deletes its peer at once, while the links of a
    # deleted namespace go away later, in the kernel's own time.
    for link in reversed(links):
        if link_exists(link):
            ip("link", "del", link, check=False)
    for ns in netns_names:
        if ns in namespaces():
            ip("netns", "del", ns, check=False)
    deadline = time.time() + 5
    while True:
        left = [f"namespace {ns}" for ns in netns_names if ns in namespaces()]
        left += [f"link {link}" for link in links if link_exists(link)]
        left += [f"process {p} in {ns}" for ns in netns_names for p in netns_pids(ns)]
        if not left or time.time() > deadline:
            return left
        time.sleep(0.1)


def remove_stale_runs():
    """Namespaces and bridges of earlier runs of this test whose process is gone (killed by a
    timeout before it could clean up)."""
    for ns in namespaces():
        m = re.fullmatch(r"ss-host[AB]-(\d+)", ns)
        if m and not pid_alive(int(m.group(1))):
            remove([ns], [])
    for line in ip("-o", "link", "show", "type", "bridge", check=False).stdout.splitlines():
        m = re.match(r"\d+:\s+(ssbr(\d+))[:@]", line)
        if m and not pid_alive(int(m.group(2))):
            ip("link", "del", m.group(1), check=False)


def stop(proc, sig, grace):
    """Signals a process started with its own session, then kills the session after `grace`."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever it left in its session
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def established(ns):
    """(local addr, local port, peer addr, peer port, pids) of the namespace's TCP connections."""
    run = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Htnp"], capture_output=True,
                         text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    out = []
    for line in run.stdout.splitlines():
        f = line.split()
        if len(f) < 5 or f[0] != "ESTAB":
            continue
        (la, lp), (pa, pp) = (a.replace("[::ffff:", "").replace("]", "").rsplit(":", 1)
                              for a in (f[3], f[4]))
        out.append((la, int(lp), pa, int(pp), {int(p) for p in re.findall(r"pid=(\d+)", line)}))
    return out


def tail(path, n=60):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def test_a_group_spans_two_hosts():
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    shardserve = shardserve_binary()
    try:
        remove_stale_runs()
        hosts = NetnsHosts(os.getpid())
    except SetupFailed as e:
        pytest.skip(f"cannot make network namespaces here: {e}")
    try:
        hosts.create()
    except SetupFailed as e:
        left = hosts.destroy()
        assert not left, f"left behind after a failed set-up: {left}"
        pytest.skip(f"cannot make network namespaces here: {e}")

    work = Path(tempfile.mkdtemp(prefix="ss-hosts-"))  # short: Open MPI's sockets live below
    coordinator = mpirun = None
    logs = {"coordinator": work / "coordinator.log", "mpirun": work / "mpirun.log"}
    try:
        # The greedy reference: one local rank, the served arithmetic, the model's template.
        ref = subprocess.run([shardserve, "generate", "-m", str(MODEL), "-p", PROMPT, "--chat",
                              "-n", str(MAX_TOKENS), "--temperature", "0", "-t", "1"],
                             capture_output=True, text=True, timeout=120)
        assert ref.returncode == 0, ref.stderr
        want = ref.stdout[:-1] if ref.stdout.endswith("\n") else ref.stdout

        # The coordinator binds its ZeroMQ endpoint on the bridge: the one address every host
        # reaches. One config for the coordinator and the workers.
        with socket.socket() as s:
            s.bind((hosts.root_addr, 0))
            zmq_port = s.getsockname()[1]
        http_port = free_port()
        config = work / "cluster.yaml"
        config.write_text(f"""\
server:
  host: 127.0.0.1
  port: {http_port}
  coordinator_endpoint: tcp://{hosts.root_addr}:{zmq_port}
  web_root: null
models:
  - name: {MODEL_NAME}
    file: {MODEL}
    task: chat
    context_length: 2048
groups:
  - name: {GROUP}
    model: {MODEL_NAME}
    tp: 2
    backend: cpu
    threads_per_rank: 1
    kv_cache_mb: 32
    max_batch: 4
""")
        hostfile = work / "hostfile"
        hostfile.write_text(f"{hosts.addrs['A']} slots=1\n{hosts.addrs['B']} slots=1\n")
        agent = AGENT
        if not os.access(agent, os.X_OK):  # checked out without its mode bit
            agent = work / "netns_rsh"
            shutil.copy(AGENT, agent)
            agent.chmod(agent.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

        with open(logs["coordinator"], "w") as log:
            coordinator = subprocess.Popen([shardserve, "coordinator", "-c", str(config)],
                                           stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True, cwd=ROOT)
        subnet = str(hosts.net)
        argv = ["mpirun", "-np", "2", "--hostfile", str(hostfile), "--bind-to", "none",
                # mpirun (here) starts an orted on each host through the agent...
                "--mca", "plm_rsh_agent", str(agent), "--mca", "plm_rsh_no_tree_spawn", "1",
                "--mca", "orte_tmpdir_base", str(work),
                # ...and all of Open MPI's traffic goes over TCP on the namespaces' subnet.
                "--mca", "oob_tcp_if_include", subnet, "--mca", "pml", "ob1",
                "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", subnet]
        if os.geteuid() == 0:
            argv.append("--allow-run-as-root")
        argv += [shardserve, "worker", "-c", str(config), "--group", GROUP]
        env = dict(os.environ, SHARDSERVE_NETNS_HOSTS=" ".join(
            f"{hosts.addrs[h]}={hosts.names[h]}" for h in ("A", "B")))
        with open(logs["mpirun"], "w") as log:
            mpirun = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                      start_new_session=True, cwd=ROOT)

        def failure(what):
            return (f"{what}\n--- coordinator ---\n{tail(logs['coordinator'])}"
                    f"\n--- mpirun ---\n{tail(logs['mpirun'])}")

        base = f"http://127.0.0.1:{http_port}"
        deadline = time.time() + 90
        while True:
            assert coordinator.poll() is None, failure("the coordinator exited")
            assert mpirun.poll() is None, failure("the worker job exited")
            try:
                with urllib.request.urlopen(base + "/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.time() < deadline, failure("the group did not register in 90 s")
            time.sleep(0.3)

        import openai
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0,
                               timeout=60)
        answer = client.chat.completions.create(
            model=MODEL_NAME, messages=[{"role": "user", "content": PROMPT}], temperature=0,
            max_tokens=MAX_TOKENS)
        got = answer.choices[0].message.content
        assert got, failure("an empty answer")
        assert got == want, f"across the namespaces: {got!r}\nlocal tp 1:       {want!r}"

        # Each namespace holds one rank of the job: rank 0 (the leader) on A, rank 1 on B.
        workers = {}
        for h, ns in hosts.names.items():
            ranks = [p for p in netns_pids(ns)
                     if (args := cmdline(p)) and args[0].endswith(b"shardserve")
                     and b"worker" in args and str(config).encode() in args]
            assert len(ranks) == 1, failure(f"{ns} holds worker ranks {ranks}, not one")
            workers[h] = ranks[0]
        a, b = hosts.addrs["A"], hosts.addrs["B"]
        conns = {h: established(ns) for h, ns in hosts.names.items()}
        # The ranks' MPI connection joins the two addresses: seen from both ends.
        a_to_b = [(lp, pp) for la, lp, pa, pp, pids in conns["A"]
                  if workers["A"] in pids and la == a and pa == b]
        b_to_a = [(pp, lp) for la, lp, pa, pp, pids in conns["B"]
                  if workers["B"] in pids and la == b and pa == a]
        assert a_to_b and set(a_to_b) & set(b_to_a), (
            f"no TCP connection between the ranks over {a} <-> {b}: A {conns['A']}, "
            f"B {conns['B']}")
        # The leader reaches the coordinator over the link.
        assert any(workers["A"] in pids and la == a and (pa, pp) == (hosts.root_addr, zmq_port)
                   for la, lp, pa, pp, pids in conns["A"]), (
            f"the leader on {a} has no connection to {hosts.root_addr}:{zmq_port}: "
            f"{conns['A']}")
    finally:
        stop(mpirun, signal.SIGTERM, 15)     # mpirun passes it on to the ranks
        stop(coordinator, signal.SIGINT, 15)
        left = hosts.destroy()
        left += [f"process {p} ({b' '.join(cmdline(p)).decode(errors='replace')})"
                 for p in map(int, filter(str.isdigit, os.listdir("/proc")))
                 if str(work).encode() in b" ".join(cmdline(p))]
        if log_to := os.environ.get("SHARDSERVE_E2E_LOG"):
            with open(log_to, "a") as out:
                for name, path in logs.items():
                    out.write(f"--- test_hosts_as_hosts: {name} ---\n{tail(path, 10000)}\n")
        shutil.rmtree(work, ignore_errors=True)
    assert not left, f"left behind: {left}"
