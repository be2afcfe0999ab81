#!/usr/bin/env python3
"""Tensor parallelism through the real path: `shardserve worker` under mpirun on the default
model. Greedy output must not depend on tp (nor, for a mixture-of-experts model, on tp and
how its experts are split), and a rank that dies or hangs mid-step must bring the job down
with a clear message in bounded time.

    tests/tp/tp_test.py --shardserve build/cli/shardserve [--only NAME]
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from script_tests import run_tests  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "generation_golden.json"
CONFIG = ROOT / "configs" / "local.yaml"
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]


def write_requests(path, max_tokens=32):
    cases = json.loads(GOLDEN.read_text())["cases"]
    with open(path, "w") as f:
        for i, c in enumerate(cases):
            f.write(json.dumps({"id": i, "prompt_tokens": c["prompt_tokens"],
                                "max_tokens": max_tokens, "temperature": 0,
                                "ignore_eos": True}) + "\n")
    return len(cases)


def worker_cmd(shardserve, tp, requests, extra=()):
    return MPIRUN + ["-np", str(tp), shardserve, "worker", "-c", str(CONFIG),
                     "--group", "smollm2-tp2", "--set", f"groups[0].tp={tp}",
                     "--offline", requests, *extra]


def test_greedy_output_is_the_same_for_every_tp(shardserve, tmp):
    requests = os.path.join(tmp, "requests.jsonl")
    n = write_requests(requests)
    outputs = {}
    for tp in (1, 2, 3):
        run = subprocess.run(worker_cmd(shardserve, tp, requests), capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, f"tp={tp} failed:\n{run.stderr}"
        results = [json.loads(line) for line in run.stdout.splitlines()]
        assert len(results) == n, f"tp={tp}: {len(results)} results for {n} requests"
        outputs[tp] = {r["id"]: r["tokens"] for r in results}
        print(f"  tp={tp}: " + run.stderr.strip().splitlines()[-1 - tp], file=sys.stderr)
    for tp in (2, 3):
        for i in range(n):
            assert outputs[tp][i] == outputs[1][i], (
                f"prompt {i}: tp={tp} differs from tp=1\n{outputs[tp][i]}\n{outputs[1][i]}")


def test_prefix_cache_and_speculation_change_no_token_at_any_tp(shardserve, tmp):
    # Each golden prompt of more than one KV block (16 tokens) twice, one sequence at a time:
    # the second copy starts from the first's cached blocks (shared by every rank's block
    # table), and every decode may carry drafts.
    cases = [c for c in json.loads(GOLDEN.read_text())["cases"] if len(c["prompt_tokens"]) > 16]
    requests = os.path.join(tmp, "twice.jsonl")
    with open(requests, "w") as f:
        for i, c in enumerate(cases + cases):
            f.write(json.dumps({"id": i, "prompt_tokens": c["prompt_tokens"], "max_tokens": 48,
                                "temperature": 0.7 if i % len(cases) % 2 else 0,
                                "seed": 11 + i % len(cases),
                                "ignore_eos": True}) + "\n")
    one_at_a_time = ["--set", "groups[0].max_batch=1"]
    plain = ["--set", "groups[0].prefix_caching=false", "--set", "groups[0].speculative_tokens=0"]
    outputs = {}
    for name, tp, extra in (("plain", 1, plain), ("tp1", 1, []), ("tp2", 2, []), ("tp3", 3, [])):
        run = subprocess.run(worker_cmd(shardserve, tp, requests, one_at_a_time + extra),
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"{name} failed:\n{run.stderr}"
        outputs[name] = {r["id"]: r["tokens"] for r in map(json.loads, run.stdout.splitlines())}
        stats = next(line for line in run.stderr.splitlines() if "prefix cache" in line)
        print(f"  {name}: {stats}", file=sys.stderr)
        if name != "plain":
            hit = int(stats.split("prefix cache ")[1].split(" of ")[0])
            accepted = int(stats.split("speculation ")[1].split(" of ")[0])
            assert hit > 0 and accepted > 0, stats
    for name in ("tp1", "tp2", "tp3"):
        for i in outputs["plain"]:
            assert outputs[name][i] == outputs["plain"][i], (
                f"request {i}: {name} differs from plain decoding\n{outputs[name][i]}\n"
                f"{outputs['plain'][i]}")
        for i in range(len(cases)):  # the cached copy answers as the first did
            assert outputs[name][i + len(cases)] == outputs[name][i], (name, i)


def test_moe_output_is_the_same_for_every_tp_and_split(shardserve, tmp):
    """The synthetic Mixtral-layout model (tests/golden/synthetic/mixtral.gguf: 4 experts, 2
    used per token, expert width 128 in Q8_0 blocks): greedy tokens of a group at tp 1, 2
    and 3, its experts split between the ranks or every expert sliced."""
    config = os.path.join(tmp, "moe.yaml")
    with open(config, "w") as f:
        f.write(f"""models:
  - name: mixtral
    file: {ROOT / "tests/golden/synthetic/mixtral.gguf"}
groups:
  - name: moe
    model: mixtral
    kv_cache_mb: 16
""")
    requests = os.path.join(tmp, "moe.jsonl")
    with open(requests, "w") as f:
        for i in range(4):
            f.write(json.dumps({"id": i, "prompt_tokens": [1 + 17 * i + j for j in range(9 + i)],
                                "max_tokens": 24, "temperature": 0, "ignore_eos": True}) + "\n")
    outputs = {}
    for split in ("experts", "slices"):
        for tp in (1, 2, 3):
            run = subprocess.run(
                MPIRUN + ["-np", str(tp), shardserve, "worker", "-c", config,
                          "--set", f"groups[0].tp={tp}", "--set", f"groups[0].moe_split={split}",
                          "--offline", requests],
                capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, f"tp={tp} {split} failed:\n{run.stderr}"
            results = {r["id"]: r["tokens"] for r in map(json.loads, run.stdout.splitlines())}
            assert sorted(results) == [0, 1, 2, 3], run.stdout
            assert all(len(t) == 24 for t in results.values()), results
            outputs[tp, split] = results
    for split in ("experts", "slices"):
        for tp in (2, 3):
            assert outputs[tp, split] == outputs[1, split], (
                f"tp={tp} with moe_split {split} differs from tp=1:\n{outputs[tp, split]}\n"
                f"{outputs[1, split]}")


def test_a_constrained_neighbour_leaves_greedy_output_unchanged(shardserve, tmp):
    """Sequences with and without a grammar share steps: the unconstrained ones give the same
    tokens as alone, and the constrained ones follow their grammar (a JSON object here)."""
    golden = json.loads(GOLDEN.read_text())["cases"]
    grammar = ('root ::= "{" ws "\\"answer\\"" ws ":" ws "\\"" [a-zA-Z ,.]{1,40} "\\"" ws "}"\n'
               'ws ::= [ \\n]?\n')
    plain = [{"id": i, "prompt_tokens": c["prompt_tokens"], "max_tokens": 24,
              "temperature": 0} for i, c in enumerate(golden)]
    constrained = [{"id": 100 + i, "prompt_tokens": c["prompt_tokens"], "max_tokens": 48,
                    "temperature": 0, "grammar": grammar} for i, c in enumerate(golden)]
    outputs = {}
    for name, requests in (("alone", plain), ("mixed", [r for pair in zip(plain, constrained)
                                                        for r in pair])):
        path = os.path.join(tmp, f"{name}.jsonl")
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in requests)
        run = subprocess.run(worker_cmd(shardserve, 2, path), capture_output=True, text=True,
                             timeout=600)
        assert run.returncode == 0, f"{name} failed:\n{run.stderr}"
        outputs[name] = {r["id"]: r for r in map(json.loads, run.stdout.splitlines())}
    for r in plain:
        assert outputs["mixed"][r["id"]]["tokens"] == outputs["alone"][r["id"]]["tokens"], (
            f"prompt {r['id']} changed beside a constrained sequence")
    for r in constrained:
        got = outputs["mixed"][r["id"]]
        assert got["finish_reason"] == "stop", got
        answer = json.loads(got["text"])
        assert list(answer) == ["answer"] and 1 <= len(answer["answer"]) <= 40, got["text"]


def rank_pids(mpirun_pid):
    """World rank -> pid of the processes mpirun started."""
    pids = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if int((proc / "stat").read_text().split()[3]) != mpirun_pid:
                continue
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for var in env:
            if var.startswith(b"OMPI_COMM_WORLD_RANK="):
                pids[int(var.split(b"=")[1])] = int(proc.name)
    return pids


def start_long_job(shardserve, tmp, extra=()):
    requests = os.path.join(tmp, "long.jsonl")
    with open(requests, "w") as f:
        for i in range(4):
            f.write(json.dumps({"id": i, "prompt": "Tell me a long story.", "max_tokens": 4000,
                                "temperature": 0, "ignore_eos": True}) + "\n")
    job = subprocess.Popen(worker_cmd(shardserve, 2, requests, extra), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        pids = rank_pids(job.pid)
        if len(pids) == 2:
            time.sleep(3)  # let it load and start stepping
            return job, pids
        time.sleep(0.2)
    job.kill()
    raise AssertionError("the worker ranks did not start")


def test_a_killed_rank_ends_the_job(shardserve, tmp):
    job, pids = start_long_job(shardserve, tmp)
    os.kill(pids[1], signal.SIGKILL)
    t0 = time.time()
    try:
        _, err = job.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        job.kill()
        raise AssertionError("the job hung after rank 1 was killed")
    print(f"  ended {time.time() - t0:.1f} s after the kill, exit {job.returncode}",
          file=sys.stderr)
    assert job.returncode != 0
    assert "rank 1" in err or "signal 9" in err, err


def test_a_hung_rank_ends_the_job_after_the_timeout(shardserve, tmp):
    job, pids = start_long_job(shardserve, tmp, ["--collective-timeout", "3"])
    os.kill(pids[1], signal.SIGSTOP)
    t0 = time.time()
    try:
        _, err = job.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        job.kill()
        raise AssertionError("the job hung after rank 1 stopped answering")
    finally:
        try:
            os.kill(pids[1], signal.SIGKILL)
        except ProcessLookupError:
            pass
    waited = time.time() - t0
    print(f"  ended {waited:.1f} s after the stop, exit {job.returncode}", file=sys.stderr)
    assert job.returncode != 0
    assert "stopped answering" in err, err
    assert waited < 30


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
