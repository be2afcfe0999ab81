#!/usr/bin/env python3
"""`shardserve generate` through the real binary on the default model: by default its greedy
text is the served model's (`shardserve worker --offline` with the group of configs/local.yaml,
the arithmetic the API uses), and with --llama-cpp-arithmetic it is llama.cpp's (the golden
greedy text of tests/golden/generation_golden.json, made with llama-cpp-python).

    tests/cli/generate_test.py --shardserve build/cli/shardserve
"""
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from script_tests import MODEL, run_tests  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "generation_golden.json"
CONFIG = ROOT / "configs" / "local.yaml"
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]


def plain_cases():
    """(prompt text, tokens to generate, llama.cpp's greedy text) of the golden plain prompts."""
    golden = json.loads(GOLDEN.read_text())
    return [(c["prompt"], golden["n_generate"], c["greedy_text"])
            for c in golden["cases"] if c["kind"] == "plain"]


def generate(shardserve, prompt, n, *flags):
    run = subprocess.run([shardserve, "generate", "-m", str(MODEL), "-p", prompt, "-n", str(n),
                          "--temperature", "0", *flags],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"generate {flags} failed:\n{run.stderr}"
    assert run.stdout.endswith("\n"), repr(run.stdout)
    return run.stdout[:-1]


def served_texts(shardserve, tmp, cases):
    """The offline worker's text for each case: the group smollm2-tp2 (tp 2) of local.yaml."""
    requests = os.path.join(tmp, "requests.jsonl")
    with open(requests, "w") as f:
        for i, (prompt, n, _) in enumerate(cases):
            f.write(json.dumps({"id": i, "prompt": prompt, "max_tokens": n,
                                "temperature": 0}) + "\n")
    run = subprocess.run(MPIRUN + ["-np", "2", shardserve, "worker", "-c", str(CONFIG),
                                   "--group", "smollm2-tp2", "--offline", requests],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"the offline worker failed:\n{run.stderr}"
    results = {r["id"]: r for r in map(json.loads, run.stdout.splitlines())}
    assert sorted(results) == list(range(len(cases))), run.stdout
    return [results[i]["text"] for i in range(len(cases))]


def test_generate_gives_the_served_text(shardserve, tmp):
    cases = plain_cases()
    for (prompt, n, _), served in zip(cases, served_texts(shardserve, tmp, cases)):
        got = generate(shardserve, prompt, n)
        assert got == served, f"prompt {prompt!r}:\ngenerate: {got!r}\nserved:   {served!r}"


def test_llama_cpp_arithmetic_gives_llama_cpps_text(shardserve, tmp):
    for prompt, n, want in plain_cases():
        got = generate(shardserve, prompt, n, "--llama-cpp-arithmetic")
        assert got == want, f"prompt {prompt!r}:\ngenerate:  {got!r}\nllama.cpp: {want!r}"


def test_chat_template_file_replaces_the_models(shardserve, tmp):
    template = os.path.join(tmp, "chat.jinja")
    with open(template, "w") as f:
        f.write("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    run = subprocess.run([shardserve, "generate", "-m", str(MODEL), "-p", "Hi there", "-n", "4",
                          "--temperature", "0", "--system", "Be brief.", "--chat-template",
                          template, "--verbose-prompt"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    want = "prompt text: <|system|>Be brief.\n<|user|>Hi there\n<|assistant|>\n"
    assert want in run.stderr, run.stderr
    # A template that does not parse is named, with what is wrong, and nothing is generated.
    with open(template, "w") as f:
        f.write("{% for m in messages %}{{ m.content }")
    run = subprocess.run([shardserve, "generate", "-m", str(MODEL), "-p", "Hi", "-n", "4",
                          "--chat-template", template], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 1 and run.stdout == "", (run.returncode, run.stdout)
    assert f"shardserve generate: {template}: " in run.stderr, run.stderr


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
