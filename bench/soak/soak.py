#!/usr/bin/env python3
"""Soak: many concurrent chat streams for a long time while worker ranks are killed at random.

Starts a cluster with `shardserve up` from a config this script writes: the default chat model
(models/SmolLM2-135M-Instruct.Q4_1.gguf) in two replica groups of tp 1 or 2 (so one serves while
the other restarts) and, unless --no-embed, the embedding group (idle: it only adds a process).
Then --streams clients (default 64) each loop on streamed chat completions (a short prompt from
a fixed list, 32/48/64 tokens, temperature 0.7 with a seed, or --greedy) until --duration
(default 600 s), while every --kill-every seconds (default 60) a random rank of a random chat
group gets SIGKILL. `shardserve up` starts the dead group's mpirun job again with backoff.

Every request ends as one of:
  completed  the stream ended with a finish_reason and `data: [DONE]`;
  failed     an answer that is an error: an HTTP status other than 200, or an error event in
             the stream (the message is recorded);
  dropped    no answer: the connection failed or dropped, the stream ended without
             finish_reason or [DONE], or nothing came within --request-timeout.
Lost = failed + dropped: every request that did not complete. The report lists the reasons.
Completed answers are also compared: the same prompt, seed and max_tokens must give the same
text on any replica, in any batch (DESIGN.md 3 and 9), so a failover that repeats or skips
tokens shows up as an inconsistent answer.

Report (stdout, and as JSON with --json FILE): duration, requests completed / failed / dropped
with reasons, generated tokens/s, request latency and time to first token p50/p99 (completed
requests), kills and the group restarts seen in /metrics (shardserve_group_job_restarts_total),
in-flight requests moved to another replica (shardserve_request_failovers_total, where the
build has it), and the coordinator's resident memory (VmRSS) at the start of the load and at
its end. `shardserve up` runs the coordinator in its own process (cli/up.cc; its children are the
mpirun jobs), so that is the process measured. Exit status 1 when any request was lost, an
answer was inconsistent or a killed group did not come back; 2 when the cluster could not be
started.

    .venv/bin/python bench/soak/soak.py                      # 64 streams, 10 minutes, tp 1
    nice .venv/bin/python bench/soak/soak.py --duration 90 --kill-every 30 --streams 16
        [--tp 2] [--greedy] [--json soak.json] [--log /tmp/soak.log] [--set KEY=VALUE]

The binary is copied to a temporary folder first: `shardserve up` starts a restarted group from
its own executable's path, so a rebuild of build/ during the soak would otherwise bring up
workers of another protocol version, which the coordinator refuses.

Standard library only, but for bench/serving/bench_serving.py's helpers (which import openai).
"""
import argparse
import collections
import http.client
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from shardserve_cluster import descendants  # noqa: E402
from bench_serving import MODEL, ROOT, free_port, running  # noqa: E402

MODEL_NAME = "smollm2-135m-instruct"
EMBED_DIR = ROOT / "models" / "all-MiniLM-L6-v2"
CHAT_GROUPS = ["soak-a", "soak-b"]
EMBED_GROUP = "soak-embed"
MAX_TOKENS = (32, 48, 64)
SEEDS = 8  # seeds per prompt: a finite set of (prompt, seed, max_tokens) keys to compare

PROMPTS = [
    "Name three uses of a paperclip.",
    "What is the capital of France? Answer in one sentence.",
    "Write a haiku about autumn rain.",
    "Explain what a prime number is.",
    "Give me a tip for sleeping better.",
    "What does a compiler do?",
    "Describe the colour blue to someone who cannot see.",
    "List four animals that live in the ocean.",
    "Why is the sky blue?",
    "Suggest a name for a small bakery.",
    "How do I boil an egg?",
    "Tell me a short joke about computers.",
    "What is the difference between weather and climate?",
    "Translate 'good morning' into Spanish and German.",
    "Write one sentence about a lighthouse keeper.",
    "What are the three states of matter?",
    "Give two reasons to learn a musical instrument.",
    "Summarize the plot of Cinderella in two sentences.",
    "What is photosynthesis?",
    "Recommend a book for a long train journey.",
    "How many legs does a spider have?",
    "Write a limerick about a cat.",
    "What should I pack for a day hike?",
    "Explain recursion to a ten-year-old.",
]


# ---------------------------------------------------------------------------------------------
# The cluster

def write_config(path, tp, threads, embed, kv_cache_mb):
    groups = [f"""  - name: {name}
    model: {MODEL_NAME}
    tp: {tp}
    threads_per_rank: {threads}
    kv_cache_mb: {kv_cache_mb}
    max_batch: 32
    max_batch_tokens: 128
    max_prefill_tokens_while_decoding: 32
""" for name in CHAT_GROUPS]
    models = [f"""  - name: {MODEL_NAME}
    file: {MODEL}
    task: chat
    context_length: 2048
"""]
    if embed:
        models.append(f"""  - name: all-minilm-l6-v2
    file: {EMBED_DIR}
    task: embed
""")
        groups.append(f"""  - name: {EMBED_GROUP}
    model: all-minilm-l6-v2
    tp: 1
    threads_per_rank: 1
    max_batch: 64
    max_batch_tokens: 2048
""")
    path.write_text("# Written by bench/soak/soak.py\nserver:\n  host: 127.0.0.1\n"
                    "  max_queued_requests: 256\n  request_timeout_s: 600\n  web_root: null\n"
                    "models:\n" + "".join(models) + "groups:\n" + "".join(groups))


def ranks_of(up_pid, group):
    """{pid: world rank} of the `shardserve worker --group GROUP` processes under `up_pid`
    (the group's mpirun job's children; not the mpirun itself)."""
    out = {}
    for pid in descendants(up_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if not (argv and argv[0].endswith(b"shardserve") and b"worker" in argv
                    and group.encode() in argv):
                continue
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        rank = next((int(e.split(b"=", 1)[1]) for e in env
                     if e.startswith(b"OMPI_COMM_WORLD_RANK=")), None)
        out[pid] = rank
    return out


def coordinator_pid(up_pid):
    """The process the coordinator runs in: `shardserve up` itself (cli/up.cc runs it
    in-process), unless a child was started as `shardserve coordinator`."""
    for pid in descendants(up_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[0].endswith(b"shardserve") and argv[1] == b"coordinator":
            return pid
    return up_pid


def memory_mib(pid):
    """(VmRSS, VmHWM) of `pid` in MiB, from /proc/PID/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS"), fields.get("VmHWM")


def metrics(base):
    """{(name, labels): value} of the coordinator's /metrics."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for name, labels, value in re.findall(r"^(\w+)(?:\{([^}]*)\})? (\S+)$", text, re.M):
        out[(name, labels or "")] = float(value)
    return out


def per_group(m, name, groups):
    return {g: sum(v for (n, labels), v in m.items() if n == name and f'group="{g}"' in labels)
            for g in groups}


def by_outcome(m, name):
    """{outcome label: value} of a counter (shardserve_request_failovers_total)."""
    out = collections.Counter()
    for (n, labels), v in m.items():
        found = re.search(r'outcome="([^"]*)"', labels)
        if n == name and found:
            out[found.group(1)] += v
    return out


def wait_groups_up(base, groups, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if all(v == 1 for v in per_group(metrics(base), "shardserve_group_up",
                                               groups).values()):
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


# ---------------------------------------------------------------------------------------------
# One streamed request, and its accounting

def normalize(message):
    """A reason to count by: ids and long numbers out, at most 160 characters."""
    message = re.sub(r"\b(chatcmpl|req|cmpl)-[\w-]+", r"\1-…", message)
    message = re.sub(r"\d{4,}", "N", message)
    return " ".join(message.split())[:160]


def error_message(payload):
    try:
        err = json.loads(payload).get("error")
        if isinstance(err, dict):
            return f"{err.get('code') or err.get('type')}: {err.get('message')}"
        return str(err)
    except (ValueError, AttributeError):
        return payload[:200].decode(errors="replace") if isinstance(payload, bytes) else payload


def one_request(host, port, body, read_timeout, request_timeout):
    """Sends one streamed chat completion; returns its record: outcome (completed | failed |
    dropped), reason, start, end, ttft, tokens, text."""
    rec = {"outcome": "dropped", "reason": "", "ttft": None, "tokens": 0, "text": "",
           "start": time.monotonic()}
    text, finish, done = [], None, False
    conn = http.client.HTTPConnection(host, port, timeout=read_timeout)
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body),
                     {"Content-Type": "application/json", "Accept": "text/event-stream"})
        resp = conn.getresponse()
        if resp.status != 200:
            rec["outcome"] = "failed"
            rec["reason"] = f"HTTP {resp.status}: {error_message(resp.read())}"
            return rec
        while True:
            if time.monotonic() - rec["start"] > request_timeout:
                rec["reason"] = f"no complete answer within {request_timeout:.0f} s"
                return rec
            raw = resp.readline()
            if not raw:
                break  # the stream ended
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line.startswith("data:"):
                continue  # blank separators and ": keep-alive" comments
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            obj = json.loads(data)
            if "error" in obj:
                rec["outcome"] = "failed"
                rec["reason"] = f"error event: {error_message(data)}"
                return rec
            for choice in obj.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    if rec["ttft"] is None:
                        rec["ttft"] = time.monotonic() - rec["start"]
                    text.append(piece)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
            if obj.get("usage"):
                rec["tokens"] = obj["usage"].get("completion_tokens", 0)
        if finish and done:
            rec["outcome"] = "completed"
            rec["finish"] = finish
        elif finish:
            rec["reason"] = "stream ended after finish_reason without [DONE]"
        elif done:
            rec["reason"] = "[DONE] without a finish_reason"
        else:
            rec["reason"] = "stream ended without finish_reason or [DONE]"
        return rec
    except TimeoutError:
        rec["reason"] = f"nothing received for {read_timeout:.0f} s (read timeout)"
        return rec
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        rec["outcome"] = "failed"
        rec["reason"] = f"unparseable event: {e}"
        return rec
    except (OSError, http.client.HTTPException) as e:
        rec["reason"] = f"connection: {type(e).__name__}: {e}"
        return rec
    finally:
        rec["end"] = time.monotonic()
        rec["text"] = "".join(text)
        conn.close()


class Tally:
    """Every request's outcome, shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []  # (outcome, start, end, ttft, tokens, reason)
        self.answers = {}  # (prompt, seed, max_tokens) -> first completed text
        self.inconsistent = []
        self.in_flight = 0

    def add(self, key, rec):
        with self.lock:
            self.records.append((rec["outcome"], rec["start"], rec["end"], rec["ttft"],
                                 rec["tokens"], normalize(rec["reason"]), rec["reason"]))
            if rec["outcome"] == "completed":
                first = self.answers.setdefault(key, rec["text"])
                if first != rec["text"]:
                    self.inconsistent.append({"prompt": PROMPTS[key[0]], "seed": key[1],
                                              "max_tokens": key[2], "first": first,
                                              "now": rec["text"]})

    def counts(self):
        with self.lock:
            c = collections.Counter(r[0] for r in self.records)
            return c["completed"], c["failed"], c["dropped"], self.in_flight


def client(i, a, host, port, end_at, tally):
    rng = random.Random(a.seed * 100003 + i)
    while time.monotonic() < end_at:
        p, s, n = rng.randrange(len(PROMPTS)), rng.randrange(SEEDS), rng.choice(MAX_TOKENS)
        body = {"model": MODEL_NAME, "messages": [{"role": "user", "content": PROMPTS[p]}],
                "max_tokens": n, "stream": True, "stream_options": {"include_usage": True},
                "temperature": 0 if a.greedy else a.temperature, "seed": s}
        with tally.lock:
            tally.in_flight += 1
        rec = one_request(host, port, body, a.read_timeout, a.request_timeout)
        with tally.lock:
            tally.in_flight -= 1
        tally.add((p, 0 if a.greedy else s, n), rec)
        if rec["outcome"] != "completed":
            time.sleep(0.5)  # no tight loop against a cluster that refuses


# ---------------------------------------------------------------------------------------------
# The run

def pct(values, q):
    """Nearest-rank percentile (as bench/serving)."""
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else None


def log(t0, message):
    print(f"[{time.monotonic() - t0:6.1f} s] {message}", file=sys.stderr, flush=True)


def soak(a, proc, base, host, port):
    chat = list(CHAT_GROUPS)
    groups = chat + ([EMBED_GROUP] if not a.no_embed else [])
    t0 = time.monotonic()
    if not wait_groups_up(base, groups, 180):
        raise RuntimeError("not every group came up within 180 s")
    # Warm-up: one request per chat group's worth, so both replicas have loaded their pages.
    warm = Tally()
    for i in range(2 * len(chat)):
        body = {"model": MODEL_NAME, "messages": [{"role": "user", "content": PROMPTS[i]}],
                "max_tokens": 8, "stream": True}
        warm.add((i, 0, 8), one_request(host, port, body, a.read_timeout, a.request_timeout))
    if warm.counts()[0] != 2 * len(chat):
        raise RuntimeError(f"warm-up requests failed: {[r[6] for r in warm.records]}")

    coord = coordinator_pid(proc.pid)
    m0 = metrics(base)
    restarts0 = per_group(m0, "shardserve_group_job_restarts_total", groups)
    routed0 = per_group(m0, "shardserve_router_decisions_total", chat)
    failovers0 = by_outcome(m0, "shardserve_request_failovers_total")
    rss_start, _ = memory_mib(coord)
    rss_series = [(0.0, rss_start)]
    where = "shardserve up itself" if coord == proc.pid else "a child of shardserve up"
    log(t0, f"cluster ready: coordinator pid {coord} ({where}), "
            f"VmRSS {rss_start:.1f} MiB; {a.streams} streams for {a.duration:.0f} s, "
            f"a rank killed every {a.kill_every:.0f} s")

    tally = Tally()
    start = t0 = time.monotonic()  # the log's clock from here on: seconds of load
    end_at = start + a.duration
    threads = [threading.Thread(target=client, args=(i, a, host, port, end_at, tally),
                                daemon=True) for i in range(a.streams)]
    for t in threads:
        t.start()

    rng = random.Random(a.seed)
    kills, deferred = [], 0
    next_kill = start + a.kill_every
    next_sample = start + 10
    next_report = start + 30
    while time.monotonic() < end_at:
        now = time.monotonic()
        if proc.poll() is not None:
            raise RuntimeError(f"shardserve up exited with status {proc.returncode}")
        if now >= next_sample:
            rss_series.append((round(now - start, 1), memory_mib(coord)[0]))
            next_sample += 10
        if now >= next_report:
            c, f, d, inflight = tally.counts()
            log(t0, f"completed {c}, failed {f}, dropped {d}, in flight {inflight}, "
                    f"coordinator VmRSS {rss_series[-1][1]:.1f} MiB")
            next_report += 30
        if a.kill_every > 0 and now >= next_kill:
            try:
                m = metrics(base)
                up = per_group(m, "shardserve_group_up", chat)
                running_seqs = per_group(m, "shardserve_group_running_sequences", chat)
            except OSError:
                up, running_seqs = {}, {}
            live = {g: ranks_of(proc.pid, g) for g in chat}
            # A rank of a live group; by default only while every chat group is up, so one
            # replica serves while the other restarts (--overlap-kills: whenever one is up).
            candidates = [g for g in chat if live[g] and up.get(g) == 1]
            if candidates and (a.overlap_kills or len(candidates) == len(chat)):
                group = rng.choice(candidates)
                pid = rng.choice(sorted(live[group]))
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills.append({"t": round(now - start, 1), "group": group, "pid": pid,
                                  "rank": live[group][pid],
                                  "running": int(running_seqs.get(group, 0))})
                    log(t0, f"SIGKILL rank {live[group][pid]} (pid {pid}) of {group}, "
                            f"{int(running_seqs.get(group, 0))} sequences running there")
                except ProcessLookupError:
                    pass
                next_kill += a.kill_every
            else:
                deferred += 1
                if deferred == 1 or deferred % 20 == 0:
                    log(t0, f"kill deferred: groups up {up}")
                next_kill = now + 1  # try again in a second
        time.sleep(0.2)

    log(t0, "duration over: waiting for the requests in flight")
    for t in threads:
        t.join(a.request_timeout + a.read_timeout + 10)
    stopped = time.monotonic()
    rss_end, hwm_end = memory_mib(coord)
    rss_series.append((round(stopped - start, 1), rss_end))
    # Let the last killed group come back, so its restart is counted.
    back = wait_groups_up(base, groups, 90)
    m1 = metrics(base)
    restarts = {g: m1_v - restarts0[g] for g, m1_v in
                per_group(m1, "shardserve_group_job_restarts_total", groups).items()}
    routed = {g: v - routed0[g] for g, v in
              per_group(m1, "shardserve_router_decisions_total", chat).items()}
    failovers = by_outcome(m1, "shardserve_request_failovers_total")
    failovers = {k: v - failovers0[k] for k, v in failovers.items()}
    exits = {labels: v for (n, labels), v in m1.items()
             if n == "shardserve_group_job_exits_total"}

    recs = tally.records
    done = [r for r in recs if r[0] == "completed"]
    lost = [r for r in recs if r[0] != "completed"]
    wall = max((r[2] for r in recs), default=stopped) - start
    reasons = {kind: dict(collections.Counter(r[5] for r in recs if r[0] == kind).most_common())
               for kind in ("failed", "dropped")}
    for k, after in zip(kills, kills[1:] + [None]):  # lost after this kill, before the next
        lo, hi = start + k["t"], start + after["t"] if after else float("inf")
        k["lost_after"] = sum(1 for r in lost if lo <= r[2] < hi)
    warnings = []
    if not back:
        warnings.append("not every group was up again 90 s after the load ended "
                        "(the cluster's output says why)")
    for g in chat:
        killed = sum(1 for k in kills if k["group"] == g)
        if restarts[g] < killed:
            warnings.append(f"{g}: {killed} kills but {restarts[g]:.0f} restarts")
    lat = [r[2] - r[1] for r in done]
    ttft = [r[3] for r in done if r[3] is not None]
    tokens = sum(r[4] for r in done)
    return {
        "config": {"streams": a.streams, "duration_s": a.duration, "kill_every_s": a.kill_every,
                   "tp": a.tp, "threads_per_rank": a.threads, "groups": groups,
                   "temperature": 0 if a.greedy else a.temperature, "seed": a.seed,
                   "overrides": a.set},
        "duration_s": round(wall, 1),
        "requests": len(recs),
        "completed": len(done),
        "failed": sum(1 for r in recs if r[0] == "failed"),
        "dropped": sum(1 for r in recs if r[0] == "dropped"),
        "lost": len(lost),
        "reasons": reasons,
        "inconsistent_answers": len(tally.inconsistent),
        "inconsistent_examples": tally.inconsistent[:5],
        "distinct_answers_checked": len(tally.answers),
        "generated_tokens": tokens,
        "tokens_per_s": round(tokens / wall, 1) if wall > 0 else None,
        "requests_per_s": round(len(done) / wall, 2) if wall > 0 else None,
        "latency_s": {"p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": max(lat, default=None)},
        "ttft_s": {"p50": pct(ttft, 0.5), "p99": pct(ttft, 0.99), "max": max(ttft, default=None)},
        "kills": kills,
        "kills_deferred_checks": deferred,
        "group_restarts": restarts,
        "requests_routed": routed,
        "failovers": failovers,
        "group_job_exits": exits,
        "groups_up_at_end": back,
        "warnings": warnings,
        "coordinator": {"pid": coord, "in_up_process": coord == proc.pid,
                        "rss_mib_start": rss_start, "rss_mib_end": rss_end,
                        "rss_mib_peak_hwm": hwm_end, "rss_mib_series": rss_series},
    }


def print_report(r):
    f = lambda v, unit="s": "-" if v is None else f"{v:.3f} {unit}"  # noqa: E731
    c = r["coordinator"]
    print(f"soak: {r['config']['streams']} streams, {r['duration_s']} s, "
          f"{len(r['kills'])} ranks killed (every {r['config']['kill_every_s']:.0f} s), "
          f"2 chat groups of tp {r['config']['tp']}, temperature {r['config']['temperature']}")
    print(f"requests            {r['requests']}")
    print(f"completed           {r['completed']}")
    print(f"lost                {r['lost']}  (failed with an error {r['failed']}, "
          f"dropped without an answer {r['dropped']})")
    for kind in ("failed", "dropped"):
        for reason, n in r["reasons"][kind].items():
            print(f"  {kind:7s} {n:5d}  {reason}")
    print(f"inconsistent answers {r['inconsistent_answers']} "
          f"(of {r['distinct_answers_checked']} prompt/seed/length keys)")
    print(f"generated tokens/s  {r['tokens_per_s']}  ({r['generated_tokens']} tokens, "
          f"{r['requests_per_s']} requests/s)")
    print(f"latency p50 / p99   {f(r['latency_s']['p50'])} / {f(r['latency_s']['p99'])}"
          f"  (max {f(r['latency_s']['max'])})")
    print(f"TTFT p50 / p99      {f(r['ttft_s']['p50'])} / {f(r['ttft_s']['p99'])}"
          f"  (max {f(r['ttft_s']['max'])})")
    for k in r["kills"]:
        print(f"  kill at {k['t']:6.1f} s: {k['group']} rank {k['rank']} (pid {k['pid']}, "
              f"{k['running']} sequences running there); lost before the next kill: "
              f"{k['lost_after']}")
    print(f"requests routed     {r['requests_routed']}")
    print(f"failovers           {r['failovers'] or '- (no shardserve_request_failovers_total)'}")
    print(f"group restarts      {r['group_restarts']}  (all groups up at the end: "
          f"{r['groups_up_at_end']})")
    print(f"coordinator VmRSS   {c['rss_mib_start']:.1f} MiB at start, {c['rss_mib_end']:.1f} "
          f"MiB at end (peak {c['rss_mib_peak_hwm']:.1f} MiB; pid {c['pid']}, "
          f"{'the shardserve up process' if c['in_up_process'] else 'a child of shardserve up'})")
    for w in r["warnings"]:
        print(f"WARNING: {w}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shardserve", default=str(ROOT / "build/cli/shardserve"))
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--duration", type=float, default=600, help="seconds of load")
    ap.add_argument("--kill-every", type=float, default=60,
                    help="seconds between rank kills (0: none)")
    ap.add_argument("--overlap-kills", action="store_true",
                    help="kill even while the other chat group is down (default: wait for it)")
    ap.add_argument("--tp", type=int, choices=(1, 2), default=1, help="ranks per chat group")
    ap.add_argument("--threads", type=int, default=1, help="threads per rank")
    ap.add_argument("--kv-cache-mb", type=int, default=128, help="per rank")
    ap.add_argument("--no-embed", action="store_true", help="leave the embedding group out")
    ap.add_argument("--greedy", action="store_true", help="temperature 0 (default: 0.7, seeded)")
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=1, help="for the clients' choices and the kills")
    ap.add_argument("--request-timeout", type=float, default=180,
                    help="a request with no complete answer by then is dropped")
    ap.add_argument("--read-timeout", type=float, default=60,
                    help="silence on a connection (the server sends keep-alives every second)")
    ap.add_argument("--set", action="append", default=[],
                    help="config override for shardserve up, e.g. groups[soak-a].max_batch=16")
    ap.add_argument("--json", help="write the report here as JSON")
    ap.add_argument("--log", default="/tmp/soak_shardserve.log", help="the cluster's output")
    a = ap.parse_args()

    if not a.no_embed and not EMBED_DIR.exists():
        print(f"soak: {EMBED_DIR} absent: no embedding group", file=sys.stderr)
        a.no_embed = True
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        config = Path(tmp) / "soak.yaml"
        write_config(config, a.tp, a.threads, not a.no_embed, a.kv_cache_mb)
        # `shardserve up` restarts a group from its own executable's path: run a copy, so that
        # a rebuild of build/ during the soak cannot start workers of another protocol version.
        binary = Path(tmp) / "shardserve"
        shutil.copy2(a.shardserve, binary)
        port = free_port()
        command = [str(binary), "up", "-c", str(config), "--set", f"server.port={port}",
                   "--set", f"server.coordinator_endpoint=tcp://127.0.0.1:{free_port()}",
                   *[x for kv in a.set for x in ("--set", kv)]]
        base = f"http://127.0.0.1:{port}"
        with open(a.log, "w") as log_file:
            try:
                with running(command, base + "/ready", log=log_file) as proc:
                    report = soak(a, proc, base, "127.0.0.1", port)
            except RuntimeError as e:
                print(f"soak: {e} (cluster output: {a.log})", file=sys.stderr)
                return 2
    print_report(report)
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if report["lost"] or report["inconsistent_answers"] or report["warnings"] else 0


if __name__ == "__main__":
    sys.exit(main())
