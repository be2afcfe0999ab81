"""What the fault tests need of a running `shardserve up`: its ranks (to kill one), its metrics,
and waiting for something to become true."""
import re
import time
import urllib.request
from pathlib import Path

from shardserve_cluster import descendants  # noqa: F401 (the tests import it from here)


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
