"""The knowledge base end to end (issue 19): real processes, real sockets, the real models.

The coordinator and the worker groups of configs/local.yaml are started by hand (the groups
under mpirun), so that the coordinator alone can be killed and started again while the groups
reconnect. Two API keys. Documents with facts no model knows go in as text, Markdown, HTML and
PDF through the official SDK; held questions must find them; a chat with the file_search tool
must cite them; a second key must see nothing; a restart must keep everything; a coordinator
killed in the middle of an upload must leave nothing half-written."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import openai
try:  # the HTTP client the official SDK brings (renamed httpx2 in newer releases)
    import httpx2 as httpx
except ImportError:
    import httpx
import pytest
from openai.types import FileDeleted, FileObject, VectorStore, VectorStoreDeleted
from openai.types.vector_stores import VectorStoreFile

from cluster_processes import wait_for
from conftest import MODEL, MODEL_NAME, ROOT, free_port, shardserve_binary

sys.path.insert(0, str(ROOT / "coordinator" / "knowledge" / "testdata"))
from make_sample_pdf import build as build_pdf  # noqa: E402

KEY_A, KEY_B = "key-alice-1", "key-bob-2"
DOCUMENTS = {
    "lighthouse.txt": ("text/plain",
                       "The Brasswick lighthouse was built in 1887 by the engineer Tobias Quell.\n\n"
                       "Its keepers rowed supplies across the bay every Thursday."),
    "garden.md": ("text/markdown",
                  "# Moonleaf\n\nMoonleaf grows only in volcanic soil on the island of Sarvo.\n\n"
                  "Gardeners water moonleaf with seawater every ninth day."),
    "stew.html": ("text/html",
                  "<html><head><title>Recipes</title></head><body><h1>Starfruit stew</h1>"
                  "<p>Simmer the starfruit with cardamom for forty minutes.</p>"
                  "<script>var hidden = 'zanzibar quokka never indexed';</script></body></html>"),
}
PDF_PAGES = ["The Kelvara satellite orbits the Earth at an altitude of 712 kilometres.",
             "Kelvara was launched from the Andenne spaceport in 2019."]
QUESTIONS = {  # held questions -> the file holding the answer, and a phrase of the passage
    "When was the Brasswick lighthouse built, and by whom?": ("lighthouse.txt", "1887"),
    "What kind of soil does moonleaf need?": ("garden.md", "volcanic soil"),
    "How long should starfruit stew simmer?": ("stew.html", "forty minutes"),
    "At what altitude does the Kelvara satellite orbit?": ("orbit.pdf", "712 kilometres"),
}


class KnowledgeCluster:
    """The coordinator (restartable) and the groups of configs/local.yaml, one data dir."""

    def __init__(self, data_dir):
        self.binary = shardserve_binary()
        self.port, zmq = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.sets = ["--set", f"server.port={self.port}",
                     "--set", f"server.coordinator_endpoint=tcp://127.0.0.1:{zmq}",
                     "--set", f"knowledge.data_dir={data_dir}"]
        self.config = str(ROOT / "configs/local.yaml")
        self.log = open(os.environ.get("SHARDSERVE_E2E_LOG", "/dev/null"), "a")
        self.coordinator = None
        self.start_coordinator()
        self.groups = [
            subprocess.Popen(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(n),
                              self.binary, "worker", "-c", self.config, "--group", group,
                              *self.sets], stdout=self.log, stderr=subprocess.STDOUT,
                             start_new_session=True)
            for group, n in (("smollm2-tp2", 2), ("minilm-tp1", 1))]
        self.wait_ready()

    def start_coordinator(self):
        self.coordinator = subprocess.Popen(
            [self.binary, "coordinator", "-c", self.config, *self.sets,
             "--set", f"server.api_keys=[{KEY_A},{KEY_B}]"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self):
        wait_for(lambda: httpx.get(self.base + "/ready", timeout=2).status_code == 200, 120,
                 "the coordinator and both groups")

    def kill_coordinator(self):
        self.coordinator.send_signal(signal.SIGKILL)
        self.coordinator.wait()

    def stop(self):
        if self.coordinator.poll() is None:
            self.coordinator.send_signal(signal.SIGINT)
            try:
                self.coordinator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.coordinator.kill()
        for g in self.groups:
            if g.poll() is None:
                os.killpg(g.pid, signal.SIGTERM)
        for g in self.groups:
            try:
                g.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(g.pid, signal.SIGKILL)
                g.wait()
        self.log.close()

    def client(self, key):
        return openai.OpenAI(base_url=self.base + "/v1", api_key=key, max_retries=0,
                             timeout=300)


@pytest.fixture(scope="module")
def kc(tmp_path_factory):
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    c = KnowledgeCluster(tmp_path_factory.mktemp("knowledge"))
    yield c
    c.stop()


@pytest.fixture(scope="module")
def library(kc, tmp_path_factory):
    """Key A's four documents and one vector store holding them: {filename: id}, store id."""
    folder = tmp_path_factory.mktemp("docs")
    client = kc.client(KEY_A)
    ids = {}
    for name, (mime, text) in DOCUMENTS.items():
        path = folder / name
        path.write_text(text)
        with open(path, "rb") as f:
            uploaded = client.files.create(file=(name, f, mime), purpose="assistants")
        FileObject.model_validate(uploaded.model_dump())
        assert uploaded.filename == name and uploaded.bytes == len(text.encode())
        assert uploaded.status == "processed" and uploaded.purpose == "assistants"
        ids[name] = uploaded.id
    (folder / "orbit.pdf").write_bytes(build_pdf(PDF_PAGES))
    uploaded = client.files.create(file=open(folder / "orbit.pdf", "rb"), purpose="assistants")
    ids["orbit.pdf"] = uploaded.id
    store = client.vector_stores.create(name="facts", file_ids=list(ids.values()))
    VectorStore.model_validate(store.model_dump())
    assert store.file_counts.completed == 4 and store.file_counts.total == 4
    assert store.status == "completed" and store.name == "facts"
    return ids, store.id


def top_file(client, store_id, question, ids):
    page = client.vector_stores.search(store_id, query=question, max_num_results=3)
    results = list(page)
    assert results, f"no result for {question!r}"
    names = {v: k for k, v in ids.items()}
    return names[results[0].file_id], results


def test_held_questions_find_their_passage(kc, library):
    ids, store_id = library
    client = kc.client(KEY_A)
    for question, (filename, phrase) in QUESTIONS.items():
        found, results = top_file(client, store_id, question, ids)
        assert found == filename, f"{question!r} found {found}, expected {filename}"
        top = results[0]
        assert top.filename == filename
        assert phrase in top.content[0].text
        assert 0 < top.score <= 1
        assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    # The HTML's script is not text of the page.
    page = httpx.post(f"{kc.base}/v1/vector_stores/{store_id}/search",
                      headers={"Authorization": f"Bearer {KEY_A}"},
                      json={"query": "zanzibar quokka", "max_num_results": 10}).json()
    assert all("zanzibar" not in r["content"][0]["text"] for r in page["data"])
    assert page["object"] == "vector_store.search_results.page"
    assert page["search_query"] == ["zanzibar quokka"]


def test_files_and_stores_are_listed_read_back_and_attached(kc, library):
    ids, store_id = library
    client = kc.client(KEY_A)
    listed = {f.id for f in client.files.list()}
    assert set(ids.values()) <= listed
    pdf = client.files.retrieve(ids["orbit.pdf"])
    assert pdf.filename == "orbit.pdf"
    assert client.files.content(ids["orbit.pdf"]).read() == build_pdf(PDF_PAGES)
    files = list(client.vector_stores.files.list(store_id))
    assert {f.id for f in files} == set(ids.values())
    for f in files:
        VectorStoreFile.model_validate(f.model_dump())
        assert f.vector_store_id == store_id and f.status == "completed"
    # A second store with one file: search there sees only it.
    other = client.vector_stores.create(name="only-stew")
    client.vector_stores.files.create(other.id, file_id=ids["stew.html"])
    found, _ = top_file(client, other.id, "When was the lighthouse built?", ids)
    assert found == "stew.html"
    deleted = client.vector_stores.delete(other.id)
    VectorStoreDeleted.model_validate(deleted.model_dump())
    assert deleted.deleted


def test_a_grounded_chat_cites_the_document(kc, library):
    ids, store_id = library
    question = "At what altitude does the Kelvara satellite orbit?"
    body = {"model": MODEL_NAME, "max_tokens": 40, "temperature": 0,
            "messages": [{"role": "user", "content": question}],
            "tools": [{"type": "file_search", "vector_store_ids": [store_id],
                       "max_num_results": 2}]}
    headers = {"Authorization": f"Bearer {KEY_A}"}
    r = httpx.post(kc.base + "/v1/chat/completions", json=body, headers=headers, timeout=300)
    assert r.status_code == 200, r.text
    message = r.json()["choices"][0]["message"]
    citations = message["citations"]
    assert citations[0]["index"] == 1
    assert citations[0]["file_id"] == ids["orbit.pdf"]
    assert citations[0]["filename"] == "orbit.pdf"
    assert "712 kilometres" in citations[0]["text"]
    assert citations[0]["chunk"]["index"] == 0
    # The passage reached the model: the answer repeats the figure only the document holds.
    assert "712" in message["content"], message["content"]

    # Streaming: the citations come with the first delta, then the same text streams.
    text, first = "", None
    with httpx.stream("POST", kc.base + "/v1/chat/completions", json={**body, "stream": True},
                      headers=headers, timeout=300) as s:
        for line in s.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"]
            if first is None:
                first = delta
            text += delta.get("content") or ""
    assert first["role"] == "assistant"
    assert first["citations"] == citations
    assert text == message["content"]

    # Without the tool the same question knows nothing of Kelvara's figure.
    plain = {k: v for k, v in body.items() if k != "tools"}
    r = httpx.post(kc.base + "/v1/chat/completions", json=plain, headers=headers, timeout=300)
    assert "citations" not in r.json()["choices"][0]["message"]


def test_a_second_key_sees_nothing_of_the_first(kc, library):
    ids, store_id = library
    bob = kc.client(KEY_B)
    assert list(bob.files.list()) == []
    assert list(bob.vector_stores.list()) == []
    with pytest.raises(openai.NotFoundError):
        bob.files.retrieve(ids["orbit.pdf"])
    with pytest.raises(openai.NotFoundError):
        bob.files.content(ids["orbit.pdf"])
    with pytest.raises(openai.NotFoundError):
        bob.files.delete(ids["orbit.pdf"])
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.search(store_id, query="Kelvara")
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.files.create(store_id, file_id=ids["orbit.pdf"])
    with pytest.raises(openai.BadRequestError):  # A's file into B's own store
        bob.vector_stores.create(name="steal", file_ids=[ids["orbit.pdf"]])
    r = httpx.post(kc.base + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY_B}"},
                   json={"model": MODEL_NAME, "max_tokens": 5,
                         "messages": [{"role": "user", "content": "Kelvara?"}],
                         "tools": [{"type": "file_search", "vector_store_ids": [store_id]}]})
    assert r.status_code == 404, r.text
    # And A still has everything.
    assert kc.client(KEY_A).files.retrieve(ids["orbit.pdf"]).filename == "orbit.pdf"


def test_bad_uploads_get_clear_errors(kc):
    auth = {"Authorization": f"Bearer {KEY_A}"}
    url = kc.base + "/v1/files"

    def post(**kw):
        r = httpx.post(url, timeout=60, **kw)
        return r.status_code, r.json()["error"]

    status, e = post(files={"file": ("a.txt", b"hello")}, data={"purpose": "assistants"})
    assert status == 401
    status, e = post(headers=auth, json={"file": "x"})
    assert status == 400 and "multipart/form-data" in e["message"]
    status, e = post(headers=auth, files={"file": ("a.txt", b"hello")})
    assert status == 400 and e["param"] == "purpose"
    status, e = post(headers=auth, data={"purpose": "assistants"}, files={"other": ("a", b"x")})
    assert status == 400
    status, e = post(headers=auth, files={"file": ("pic.png", b"\x89PNG\r\n\x1a\n" + bytes(64),
                                                    "image/png")}, data={"purpose": "assistants"})
    assert status == 400 and e["param"] == "file"
    status, e = post(headers=auth, files={"file": ("broken.pdf", b"%PDF-1.4 garbage")},
                     data={"purpose": "assistants"})
    assert status == 400 and "PDF" in e["message"]
    big = b"a" * (33 * 1024 * 1024)
    status, e = post(headers=auth, files={"file": ("big.txt", big)}, data={"purpose": "assistants"})
    assert status == 413 and "knowledge.max_file_bytes" in e["message"]
    r = httpx.request("PUT", url, headers=auth)
    assert r.status_code == 405
    r = httpx.get(kc.base + "/v1/vector_stores/vs_nope", headers=auth)
    assert r.status_code == 404 and "vs_nope" in r.json()["error"]["message"]
    r = httpx.post(kc.base + "/v1/vector_stores", headers=auth, json={"nme": "typo"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "nme"
    # Counted: the four documents stored, the PNG and the broken PDF refused, searches timed.
    metrics = httpx.get(kc.base + "/metrics").text
    assert metric(metrics, 'shardserve_knowledge_uploads_total{outcome="stored"}') >= 4
    assert metric(metrics, 'shardserve_knowledge_uploads_total{outcome="refused"}') >= 2
    assert metric(metrics, "shardserve_knowledge_chunks_embedded_total") >= 4
    assert metric(metrics, "shardserve_knowledge_search_duration_seconds_count") >= 5
    # Nothing of these was kept, and nothing waits in incoming/.
    assert not any(f.filename in ("a.txt", "pic.png", "broken.pdf", "big.txt")
                   for f in kc.client(KEY_A).files.list())
    assert list((Path(kc.data_dir) / "incoming").iterdir()) == []


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} is not in /metrics")


def db_state(data_dir):
    db = sqlite3.connect(f"file:{data_dir}/knowledge.db?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        files = {r[0] for r in db.execute("SELECT id FROM files")}
        orphans = db.execute(
            "SELECT COUNT(*) FROM chunks WHERE file_id NOT IN (SELECT id FROM files)").fetchone()[0]
        unembedded = db.execute(
            "SELECT COUNT(*) FROM chunks WHERE id NOT IN (SELECT chunk_id FROM embeddings)"
        ).fetchone()[0]
        return files, orphans, unembedded
    finally:
        db.close()


def test_a_restart_keeps_everything_and_a_killed_upload_leaves_nothing(kc, library, tmp_path):
    ids, store_id = library
    client = kc.client(KEY_A)
    before = {q: top_file(client, store_id, q, ids)[1][0].model_dump() for q in QUESTIONS}
    files_before = {f.id for f in client.files.list()}

    # An upload big enough to be embedding for seconds, and the coordinator killed meanwhile.
    big = tmp_path / "atlas.txt"
    big.write_text("\n\n".join(f"Atlas entry {i}: the river Vell{i} flows past the town of "
                               f"Quarn{i} into the lake Ossa{i}." for i in range(15000)))
    outcome = {}

    def upload():
        try:
            with open(big, "rb") as f:
                outcome["file"] = client.files.create(file=f, purpose="assistants")
        except Exception as e:  # noqa: BLE001 (the connection dies with the coordinator)
            outcome["error"] = e

    t = threading.Thread(target=upload)
    t.start()
    incoming = Path(kc.data_dir) / "incoming"
    wait_for(lambda: any(incoming.iterdir()), 30, "the upload to reach the disk")
    time.sleep(2)  # extracting, chunking, embedding
    assert "file" not in outcome, "the upload finished before the kill: make it bigger"
    kc.kill_coordinator()
    t.join(60)
    assert "error" in outcome

    files, orphans, unembedded = db_state(kc.data_dir)
    assert files == files_before, "a killed upload must leave no row"
    assert orphans == 0 and unembedded == 0

    kc.start_coordinator()
    kc.wait_ready()
    assert list(incoming.iterdir()) == [], "the half-streamed upload is swept at start"
    raw = {p.name for p in (Path(kc.data_dir) / "files").iterdir()}
    assert raw == files_before, "raw files are exactly the acknowledged uploads"
    client = kc.client(KEY_A)
    assert {f.id for f in client.files.list()} == files_before
    for q in QUESTIONS:
        after = top_file(client, store_id, q, ids)[1][0].model_dump()
        assert after["file_id"] == before[q]["file_id"]
        assert after["content"] == before[q]["content"]
        assert abs(after["score"] - before[q]["score"]) < 1e-5
    # Deleting works after the restart, and takes the file out of search.
    deleted = client.files.delete(ids["garden.md"])
    FileDeleted.model_validate(deleted.model_dump())
    found, _ = top_file(client, store_id, "What kind of soil does moonleaf need?", ids)
    assert found != "garden.md"
    assert ids["garden.md"] not in {p.name for p in (Path(kc.data_dir) / "files").iterdir()}
