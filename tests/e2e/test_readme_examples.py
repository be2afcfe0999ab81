"""The README's examples, run as a reader would paste them, against a live cluster.

README.md marks each runnable example with an HTML comment right before its fenced block:

    <!-- test: NAME -->
    ```sh          (or bash, python)
    ...
    ```

This test extracts the marked blocks, puts the cluster fixture's address in place of the
documented one (http://127.0.0.1:8080), runs shell blocks with bash (-e -o pipefail) and Python
blocks as a file with this interpreter (the .venv that has the openai SDK), and checks what they
print with CHECKS[NAME]: valid JSON with the fields OpenAI's clients read, a stream of
chat.completion.chunk events ending in [DONE] with non-empty text, 384 floats per embedding, ...

Every marked example needs a check and every check needs its example, so a README that lost its
examples (or its markers) fails test_the_readme_marks_its_examples, and an example edited into
something broken fails test_readme_example[NAME].
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MODEL_NAME = "smollm2-135m-instruct"
DOCUMENTED_BASE = "http://127.0.0.1:8080"
EMBED_MODEL = "all-minilm-l6-v2"
EMBED_DIM = 384
LANGUAGES = {"sh": "shell", "bash": "shell", "python": "python"}
TIMEOUT_S = 180

MARKER = re.compile(r"<!--\s*test:\s*(\S+?)\s*-->")
# The fenced block that must follow a marker (only blank space between them).
FENCE = re.compile(r"[ \t]*\n(?:[ \t]*\n)*```([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


@dataclass
class Example:
    name: str
    language: str
    code: str
    line: int  # of the marker in README.md

    def __str__(self):
        return f"README.md:{self.line} ({self.name})"


def extract(text):
    """(examples, problems): the marked blocks of `text` in order, and what is wrong with the
    markers (a marker without a fenced block right after it)."""
    examples, problems = [], []
    for m in MARKER.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        fence = FENCE.match(text, m.end())
        if not fence:
            problems.append(f"README.md:{line}: '{m.group(0)}' is not followed by a fenced block")
            continue
        examples.append(Example(m.group(1), fence.group(1), fence.group(2), line))
    return examples, problems


EXAMPLES, MARKER_PROBLEMS = extract(README.read_text(encoding="utf-8"))


# ---- checks of what each example prints ----------------------------------------------------

def json_body(out):
    try:
        body = json.loads(out)
    except json.JSONDecodeError as e:
        raise AssertionError(f"not one JSON document ({e}):\n{out[:2000]}") from None
    assert isinstance(body, dict), body
    assert "error" not in body, f"the server answered with an error: {body['error']}"
    return body


def check_usage(usage, completion=True):
    assert usage["prompt_tokens"] > 0, usage
    if completion:
        assert usage["completion_tokens"] > 0, usage
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"], usage


def check_models(out):
    body = json_body(out)
    assert body["object"] == "list"
    assert all(m["object"] == "model" and m["owned_by"] for m in body["data"]), body
    assert {MODEL_NAME, EMBED_MODEL} <= {m["id"] for m in body["data"]}, body


def check_chat(out):
    body = json_body(out)
    assert body["object"] == "chat.completion", body
    assert body["model"] == MODEL_NAME and body["id"].startswith("chatcmpl-"), body
    [choice] = body["choices"]
    assert choice["message"]["role"] == "assistant", choice
    assert choice["message"]["content"].strip(), choice
    assert choice["finish_reason"] in ("stop", "length"), choice
    check_usage(body["usage"])


def check_chat_stream(out):
    data = []
    for line in out.splitlines():
        if line.startswith("data: "):
            data.append(line[len("data: "):])
        else:  # between events: blank lines and SSE comments (keep-alives) only
            assert line == "" or line.startswith(":"), f"not an SSE line: {line!r}\n{out[:2000]}"
    assert data and data[-1] == "[DONE]", f"the stream does not end with [DONE]:\n{out[-2000:]}"
    assert "[DONE]" not in data[:-1]
    chunks = [json.loads(d) for d in data[:-1]]
    assert len(chunks) >= 3, chunks  # role, some text, finish: streamed, not one block
    for c in chunks:
        assert "error" not in c, c
        assert c["object"] == "chat.completion.chunk", c
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
    assert text.strip(), f"no text streamed:\n{out[:2000]}"
    finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
    assert finishes in (["stop"], ["length"]), finishes


def check_completion(out):
    body = json_body(out)
    assert body["object"] == "text_completion", body
    [choice] = body["choices"]
    assert choice["text"].strip(), choice
    assert "\n" not in choice["text"], choice  # the documented stop string
    assert choice["finish_reason"] in ("stop", "length"), choice
    check_usage(body["usage"])


def check_embeddings(out):
    body = json_body(out)
    assert body["object"] == "list" and body["model"] == EMBED_MODEL, body
    assert body["data"], body
    for i, item in enumerate(body["data"]):
        assert item["object"] == "embedding" and item["index"] == i, item
        v = item["embedding"]
        assert len(v) == EMBED_DIM and all(isinstance(x, float) for x in v), len(v)
        assert abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-3  # normalised, as the model's
    check_usage(body["usage"], completion=False)


def check_python_chat(out):
    assert out.strip(), "the example printed nothing"
    assert re.search(r"completion_tokens=[1-9]", out), out  # print(response.usage)


def check_python_stream(out):
    assert out.strip(), "the example streamed no text"


def check_python_embeddings(out):
    m = re.search(r"^(\d+) dimensions, (\d+) tokens$", out, re.M)
    assert m, out
    assert int(m.group(1)) == EMBED_DIM and int(m.group(2)) > 0, out
    m = re.search(r"^cosine similarity: (\S+)$", out, re.M)
    assert m and -1 <= float(m.group(1)) <= 1, out


CHECKS = {
    "models": check_models,
    "chat": check_chat,
    "chat-stream": check_chat_stream,
    "completion": check_completion,
    "embeddings": check_embeddings,
    "python-chat": check_python_chat,
    "python-stream": check_python_stream,
    "python-embeddings": check_python_embeddings,
}


# ---- tests ---------------------------------------------------------------------------------

def test_the_readme_marks_its_examples():
    assert not MARKER_PROBLEMS, "\n".join(MARKER_PROBLEMS)
    assert EXAMPLES, "README.md has no '<!-- test: NAME -->' examples"
    names = [e.name for e in EXAMPLES]
    assert len(set(names)) == len(names), f"example names repeat: {names}"
    missing = sorted(set(CHECKS) - set(names))
    assert not missing, f"README.md lost the examples {missing}"
    unchecked = sorted(set(names) - set(CHECKS))
    assert not unchecked, f"examples without a check here (add one to CHECKS): {unchecked}"
    for e in EXAMPLES:
        assert e.language in LANGUAGES, f"{e}: fenced as '{e.language}', not one of {set(LANGUAGES)}"
        assert DOCUMENTED_BASE in e.code, f"{e} does not use the documented {DOCUMENTED_BASE}"


def test_the_readme_links_to_files_that_exist():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert local, "no relative links found"
    missing = [t for t in local if not (ROOT / t).resolve().is_relative_to(ROOT)
               or not (ROOT / t).exists()]
    assert not missing, f"README.md links to files outside the repository or absent: {missing}"


def run_example(example, base, workdir):
    code = example.code.replace(DOCUMENTED_BASE, base)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    # An example that forgets its base_url must not reach api.openai.com (or pass by luck).
    env["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    if LANGUAGES[example.language] == "shell":
        assert "curl" not in code or shutil.which("curl"), \
            "curl is not installed: run scripts/install-deps"
        cmd = ["bash", "-e", "-o", "pipefail", "-c", code]
    else:
        script = workdir / "example.py"
        script.write_text(code, encoding="utf-8")
        cmd = [sys.executable, str(script)]
    try:
        p = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                           timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{example} did not finish in {TIMEOUT_S} s:\n{code}")
    assert p.returncode == 0, (f"{example} exited with {p.returncode}\n--- code\n{code}\n"
                               f"--- stdout\n{p.stdout[-3000:]}\n--- stderr\n{p.stderr[-3000:]}")
    return p.stdout


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_readme_example(example, cluster, tmp_path):
    assert example.name in CHECKS, f"{example} has no check (see test_the_readme_marks_its_examples)"
    assert DOCUMENTED_BASE in example.code, f"{example} does not use {DOCUMENTED_BASE}"
    out = run_example(example, cluster.base, tmp_path)
    try:
        CHECKS[example.name](out)
    except (AssertionError, KeyError, TypeError, ValueError) as e:
        raise AssertionError(f"{example}: {type(e).__name__}: {e}\n--- code\n{example.code}\n"
                             f"--- output\n{out[:3000]}") from e
