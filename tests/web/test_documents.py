"""The chat page's Documents panel and citations (web/js/documents.js, citations.js) in headless
Chromium against a real shardserve with its knowledge base (each test cluster has its own,
tests/shardserve_cluster.py): files go up through the file input with a progress row, are
listed, gathered in a collection that the chat then searches, and the answer cites them.

    SHARDSERVE_BIN=build/cli/shardserve .venv/bin/python -m pytest -q tests/web/test_documents.py

Screenshots: documents-panel, documents-answer, documents-passage, documents-passage-dark,
documents-phone, documents-phone-dark (in SHARDSERVE_WEB_SHOTS, like the chat page's).
"""
import json
import os
import re
import sys
import urllib.request
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from test_chat_page import (  # noqa: F401  (page is a fixture)
    CHAT_MODEL, ask, chunk, fake_chat_fetch, last_answer, page, sent_bodies, set_setting, wait)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "coordinator" / "knowledge" / "testdata"))
from make_sample_pdf import build as build_pdf  # noqa: E402
from shardserve_cluster import Cluster, shardserve_binary  # noqa: E402  (conftest puts tests/ on the path)

# Facts no model knows, one per document: the question about the PDF's must find the PDF first.
PDF_NAME = "lighthouse-log.pdf"
PDF_PAGES = ["Keeper's log of the Puffin Rock lighthouse.",
             "Every morning the keeper Marigold Quenby counts exactly 417 gulls on Puffin Rock."]
TXT_NAME = "bakery-notes.txt"
TXT_TEXT = ("The bakery on Elm Street sells dark rye bread with caraway seeds, "
            "but only on Tuesdays, and the baker is called Tobias Wren.\n")
QUESTION = "How many gulls does Marigold Quenby count every morning on Puffin Rock?"
STORE = "Lighthouse notes"


def api(server, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def size_text(n):
    """What the page shows for n bytes (documents.js: formatBytes)."""
    if n < 1024:
        return f"{n} B"
    kib = n / 1024
    return f"{kib:.1f} KiB" if kib < 10 else f"{round(kib)} KiB"


@pytest.fixture()
def knowledge(server):
    """An empty knowledge base before and after the test (the cluster is shared)."""
    def clear():
        for s in api(server, "GET", "/v1/vector_stores?limit=100")["data"]:
            api(server, "DELETE", f"/v1/vector_stores/{s['id']}")
        for f in api(server, "GET", "/v1/files")["data"]:
            api(server, "DELETE", f"/v1/files/{f['id']}")
    clear()
    yield
    clear()


@pytest.fixture()
def documents(tmp_path):
    pdf = tmp_path / PDF_NAME
    pdf.write_bytes(build_pdf(PDF_PAGES))
    txt = tmp_path / TXT_NAME
    txt.write_text(TXT_TEXT)
    return pdf, txt


def open_panel(driver):
    if not driver.find_element(By.ID, "documents").is_displayed():
        driver.find_element(By.ID, "documents-toggle").click()
    settled(driver)


def settled(driver):
    """Waits until the panel's lists are read and drawn (it reads them again when opened)."""
    wait(driver, lambda d: d.find_element(By.ID, "documents").is_displayed()
         and d.find_element(By.ID, "documents").get_attribute("data-state") == "ready")


def file_rows(driver):
    """[(name, meta)] of the files list, as shown (read in one go: the list is redrawn whole)."""
    return [tuple(r) for r in driver.execute_script("""
        return [...document.querySelectorAll('#doc-files .doc-file')].map((r) =>
          [r.querySelector('.doc-name').textContent, r.querySelector('.doc-meta').textContent]);""")]


def store_row(driver, name):
    rows = [r for r in driver.find_elements(By.CSS_SELECTOR, "#doc-stores .doc-store")
            if r.find_element(By.CSS_SELECTOR, ".doc-store-name").text == name]
    return rows[0] if rows else None


def members(driver, name):
    """The file names shown in collection `name`, sorted; None while it is not listed."""
    names = driver.execute_script("""
        const row = [...document.querySelectorAll('#doc-stores .doc-store')]
          .find((r) => r.querySelector('.doc-store-name').textContent === arguments[0]);
        return row ? [...row.querySelectorAll('.doc-member-name')].map((m) => m.textContent) : null;""", name)
    return None if names is None else sorted(names)


def chips(driver):
    return driver.execute_script("""
        const answers = document.querySelectorAll('.message.assistant');
        const last = answers[answers.length - 1];
        return [...last.querySelectorAll('.citations .cite-chip')].map((c) => c.textContent);""")


def passage(driver):
    dialog = driver.find_element(By.ID, "citation-dialog")
    assert dialog.get_attribute("open") is not None, "the passage dialog did not open"
    return (dialog.find_element(By.CSS_SELECTOR, ".citation-title").text,
            dialog.find_element(By.CSS_SELECTOR, ".citation-text").text,
            dialog.find_element(By.CSS_SELECTOR, ".citation-file").get_attribute("href"))


def close_passage(driver):
    driver.find_element(By.CSS_SELECTOR, "#citation-dialog .citation-close").click()
    wait(driver, lambda d: d.find_element(By.ID, "citation-dialog").get_attribute("open") is None, timeout=5)


def test_upload_collect_ask_cite_delete_and_reload(page, server, knowledge, documents, tmp_path, screenshot):
    pdf, txt = documents
    Select(page.find_element(By.ID, "model")).select_by_value(CHAT_MODEL)
    set_setting(page, "temperature", "0")
    set_setting(page, "max-tokens", "48")
    open_panel(page)
    assert page.find_element(By.ID, "documents-toggle").get_attribute("aria-expanded") == "true"
    assert page.find_element(By.ID, "doc-files-empty").is_displayed()

    # Upload both through the file input; every phase an upload row goes through is recorded.
    page.execute_script("""
        window.uploadPhases = {};
        new MutationObserver((records) => {
          for (const r of records) {
            const row = r.target.closest && r.target.closest('.doc-upload');
            if (!row || r.attributeName !== 'data-phase') continue;
            const name = row.querySelector('.doc-name').textContent;
            (window.uploadPhases[name] ||= []).push(row.dataset.phase);
          }
        }).observe(document.getElementById('doc-uploads'),
                   { subtree: true, attributes: true, attributeFilter: ['data-phase'] });
    """)
    page.find_element(By.ID, "doc-input").send_keys(f"{pdf}\n{txt}")
    wait(page, lambda d: [r.get_attribute("data-phase") for r in d.find_elements(By.CSS_SELECTOR, ".doc-upload")]
         == ["done", "done"], timeout=120)
    phases = page.execute_script("return window.uploadPhases")
    for name in (PDF_NAME, TXT_NAME):
        seen = phases[name]
        # queued -> sending (progress events) -> processing (all bytes sent, server embedding) -> done
        assert seen[0] == "sending" and seen[-2:] == ["processing", "done"], (name, seen)
    statuses = [s.text for s in page.find_elements(By.CSS_SELECTOR, ".doc-upload .doc-upload-status")]
    assert statuses == ["Added", "Added"]
    bars = page.find_elements(By.CSS_SELECTOR, ".doc-upload progress")
    assert [b.get_attribute("value") for b in bars] == ["1", "1"]

    # The list: newest first, as the server has it, with sizes.
    served = api(server, "GET", "/v1/files")["data"]
    assert sorted(f["filename"] for f in served) == sorted([PDF_NAME, TXT_NAME])
    ids = {f["filename"]: f["id"] for f in served}
    wait(page, lambda d: len(file_rows(d)) == 2)
    rows = file_rows(page)
    assert [name for name, _ in rows] == [f["filename"] for f in served]
    for name, meta in rows:
        size = (pdf if name == PDF_NAME else txt).stat().st_size
        assert meta.startswith(size_text(size) + " \u00b7 "), (name, meta)

    # A collection of both, chosen for this chat.
    for box in page.find_elements(By.CSS_SELECTOR, "#doc-files .doc-pick"):
        box.click()
    assert "2 picked files" in page.find_element(By.ID, "doc-new-store-hint").text
    page.find_element(By.ID, "doc-store-name").send_keys(STORE)
    page.find_element(By.CSS_SELECTOR, "#doc-new-store button[type=submit]").click()
    wait(page, lambda d: members(d, STORE) == sorted([PDF_NAME, TXT_NAME]))
    settled(page)
    row = store_row(page, STORE)
    assert row.find_element(By.CSS_SELECTOR, ".doc-meta").text.startswith("2 files")
    stores = api(server, "GET", "/v1/vector_stores?limit=100")["data"]
    assert [(s["name"], s["file_counts"]["total"]) for s in stores] == [(STORE, 2)]
    store_id = stores[0]["id"]
    assert row.get_attribute("data-id") == store_id
    count = page.find_element(By.CSS_SELECTOR, "#documents-toggle .doc-count")
    assert not count.is_displayed()
    row.find_element(By.CSS_SELECTOR, ".doc-use-box").click()
    assert count.is_displayed() and count.text == "1"
    page.execute_script("const p = document.getElementById('documents'); p.scrollTop = p.scrollHeight;")
    screenshot(page, "documents-panel")
    page.find_element(By.ID, "documents-close").click()
    assert not page.find_element(By.ID, "documents").is_displayed()

    # Ask about the PDF's fact: the request carries the tool, the answer cites the PDF first.
    fake_chat_fetch(page)  # records the request; the real server answers
    ask(page, QUESTION)
    wait(page, lambda d: last_answer(d).get_attribute("data-state") != "streaming", timeout=120)
    assert last_answer(page).get_attribute("data-state") == "done"
    assert sent_bodies(page)[0]["tools"] == [
        {"type": "file_search", "vector_store_ids": [store_id], "max_num_results": 5}]
    cited = chips(page)
    assert cited, "no citation chips under the answer"
    assert cited[0].startswith(f"[1] {PDF_NAME} \u00b7 chunk "), cited
    screenshot(page, "documents-answer")

    last_answer(page).find_element(By.CSS_SELECTOR, ".cite-chip").click()
    title, text, href = passage(page)
    assert title == cited[0]
    assert "417 gulls" in text and "Marigold Quenby" in text, text
    assert href == f"{server}/v1/files/{ids[PDF_NAME]}/content"
    screenshot(page, "documents-passage")
    close_passage(page)

    # A reload keeps the citations with the answer and the collection with the chat.
    page.refresh()
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, ".message.assistant .cite-chip"))
    assert chips(page) == cited
    last_answer(page).find_element(By.CSS_SELECTOR, ".cite-chip").click()
    assert "417 gulls" in passage(page)[1]
    close_passage(page)
    wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "#documents-toggle .doc-count").text == "1")
    open_panel(page)
    assert store_row(page, STORE).find_element(By.CSS_SELECTOR, ".doc-use-box").is_selected()

    # Delete the text file: it leaves the list and the collection, on the page and the server.
    txt_row = [r for r in page.find_elements(By.CSS_SELECTOR, "#doc-files .doc-file")
               if r.find_element(By.CSS_SELECTOR, ".doc-name").text == TXT_NAME][0]
    txt_row.find_element(By.CSS_SELECTOR, "[data-action=delete-file]").click()
    assert TXT_NAME in page.switch_to.alert.text
    page.switch_to.alert.accept()
    wait(page, lambda d: [name for name, _ in file_rows(d)] == [PDF_NAME])
    wait(page, lambda d: members(d, STORE) == [PDF_NAME])
    settled(page)
    assert [f["filename"] for f in api(server, "GET", "/v1/files")["data"]] == [PDF_NAME]
    assert [f["id"] for f in api(server, "GET", f"/v1/vector_stores/{store_id}/files")["data"]] == [ids[PDF_NAME]]

    # Unticked, the next request goes without the tool.
    store_row(page, STORE).find_element(By.CSS_SELECTOR, ".doc-use-box").click()
    assert not page.find_element(By.CSS_SELECTOR, "#documents-toggle .doc-count").is_displayed()
    fake_chat_fetch(page, [chunk({"role": "assistant", "content": "Fine."}), chunk({}, "stop")])
    ask(page, "Thanks.")
    wait(page, lambda d: last_answer(d).get_attribute("data-state") == "done", timeout=30)
    assert "tools" not in sent_bodies(page)[0]


def test_progress_while_the_bytes_go_up_then_a_refusal_in_plain_words(page, knowledge, documents, tmp_path,
                                                                         screenshot):
    """A slow link (Chromium's network throttling) shows the bar part-filled; the server then
    refuses the file's type, and the next file in the queue goes up all the same."""
    pdf, _ = documents
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 1200)  # ~300 KiB
    open_panel(page)
    page.execute_cdp_cmd("Network.enable", {})
    page.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 100 * 1024})
    try:
        page.find_element(By.ID, "doc-input").send_keys(f"{png}\n{pdf}")
        midway = wait(page, lambda d: d.execute_script("""
            const row = document.querySelector('.doc-upload');
            const bar = row && row.querySelector('progress');
            const text = row && row.querySelector('.doc-upload-status').textContent;
            const m = /^Sending (\\d+)% /.exec(text || '');
            return m && +m[1] > 0 && +m[1] < 100 && bar.value > 0 && bar.value < 1 ? [text, bar.value] : null;"""),
            timeout=30)
        assert re.fullmatch(r"Sending \d+% \(\d+ KiB of \d+ KiB\)", midway[0]), midway
        assert page.find_elements(By.CSS_SELECTOR, ".doc-upload")[1].get_attribute("data-phase") == "queued"
        screenshot(page, "documents-uploading")
    finally:
        page.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        page.execute_cdp_cmd("Network.disable", {})
    wait(page, lambda d: [r.get_attribute("data-phase") for r in d.find_elements(By.CSS_SELECTOR, ".doc-upload")]
         == ["error", "done"], timeout=120)
    error = page.find_element(By.CSS_SELECTOR, ".doc-upload[data-phase=error] .doc-upload-status").text
    assert error.startswith("The server refused it:"), error
    assert not page.find_element(By.CSS_SELECTOR, ".doc-upload[data-phase=error] progress").is_displayed()
    wait(page, lambda d: [name for name, _ in file_rows(d)] == [PDF_NAME])


def test_a_dropped_file_and_a_collection_edited_by_hand(page, server, knowledge, documents):
    pdf, _ = documents
    open_panel(page)
    page.find_element(By.ID, "doc-input").send_keys(str(pdf))
    wait(page, lambda d: [name for name, _ in file_rows(d)] == [PDF_NAME], timeout=120)
    # A file dragged onto the drop zone (a DataTransfer made in the page, as a drag brings one).
    page.execute_script("""
        const drop = document.getElementById('doc-drop');
        const data = new DataTransfer();
        data.items.add(new File(['Otters hold hands while they sleep.'], 'otters.md', { type: 'text/markdown' }));
        const fire = (type) => drop.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
        window.dragoverTaken = !fire('dragover'); // preventDefault: the page takes the drop
        window.dragging = drop.classList.contains('dragging');
        fire('drop');""")
    assert page.execute_script("return [window.dragoverTaken, window.dragging]") == [True, True]
    wait(page, lambda d: [name for name, _ in file_rows(d)] == ["otters.md", PDF_NAME], timeout=120)
    assert "dragging" not in page.find_element(By.ID, "doc-drop").get_attribute("class")
    ids = {f["filename"]: f["id"] for f in api(server, "GET", "/v1/files")["data"]}
    with urllib.request.urlopen(f"{server}/v1/files/{ids['otters.md']}/content", timeout=10) as r:
        assert r.read() == b"Otters hold hands while they sleep."

    # An empty collection; a file added with its select, then removed with its x.
    page.find_element(By.ID, "doc-store-name").send_keys("Animals")
    page.find_element(By.CSS_SELECTOR, "#doc-new-store button[type=submit]").click()
    wait(page, lambda d: members(d, "Animals") == [])
    settled(page)
    store_id = store_row(page, "Animals").get_attribute("data-id")
    Select(store_row(page, "Animals").find_element(By.CSS_SELECTOR, ".doc-add-select")).select_by_visible_text("otters.md")
    store_row(page, "Animals").find_element(By.CSS_SELECTOR, "[data-action=add-member]").click()
    wait(page, lambda d: members(d, "Animals") == ["otters.md"])
    settled(page)
    assert [f["id"] for f in api(server, "GET", f"/v1/vector_stores/{store_id}/files")["data"]] == [ids["otters.md"]]
    hits = api(server, "POST", f"/v1/vector_stores/{store_id}/search", {"query": "sleeping otters"})["data"]
    assert hits and hits[0]["filename"] == "otters.md"
    store_row(page, "Animals").find_element(By.CSS_SELECTOR, "[data-action=remove-member]").click()
    wait(page, lambda d: members(d, "Animals") == [])
    settled(page)
    assert api(server, "GET", f"/v1/vector_stores/{store_id}/files")["data"] == []

    # The collection deleted (the files stay).
    store_row(page, "Animals").find_element(By.CSS_SELECTOR, "[data-action=delete-store]").click()
    assert "Animals" in page.switch_to.alert.text
    page.switch_to.alert.accept()
    wait(page, lambda d: members(d, "Animals") is None)
    assert api(server, "GET", "/v1/vector_stores?limit=100")["data"] == []
    assert page.find_element(By.ID, "doc-stores-empty").is_displayed()
    assert len(file_rows(page)) == 2


def test_streamed_citations_link_the_markers_in_the_text(page, knowledge, screenshot):
    """The [n] markers a model writes become buttons that open the same passage as the chips."""
    citations = [
        {"index": 1, "file_id": "file-abc", "filename": PDF_NAME,
         "chunk": {"id": 7, "index": 1, "begin": 40, "end": 120}, "score": 0.8,
         "text": "Every morning the keeper Marigold Quenby counts exactly 417 gulls on Puffin Rock."},
        {"index": 2, "file_id": "file-def", "filename": TXT_NAME,
         "chunk": {"id": 9, "index": 0, "begin": 0, "end": 90}, "score": 0.2, "text": TXT_TEXT.strip()},
    ]
    fake_chat_fetch(page, [
        chunk({"role": "assistant", "content": "", "citations": citations}),
        chunk({"content": "She counts 417 gulls [1]; bread is [2]. "}),
        chunk({"content": "Not a source: [3], `code [1]`."}),
        chunk({}, "stop")])
    ask(page, QUESTION)
    wait(page, lambda d: last_answer(d).get_attribute("data-state") == "done", timeout=30)
    answer = last_answer(page)
    refs = answer.find_elements(By.CSS_SELECTOR, ".content .cite-ref")
    assert [(r.text, r.get_attribute("data-cite")) for r in refs] == [("[1]", "1"), ("[2]", "2")]
    assert answer.find_element(By.CSS_SELECTOR, ".content").text == \
        "She counts 417 gulls [1]; bread is [2]. Not a source: [3], code [1]."
    assert chips(page) == [f"[1] {PDF_NAME} \u00b7 chunk 2", f"[2] {TXT_NAME} \u00b7 chunk 1"]
    refs[1].click()
    title, text, _ = passage(page)
    assert title == f"[2] {TXT_NAME} \u00b7 chunk 1" and "Tobias Wren" in text
    page.find_element(By.CSS_SELECTOR, "#citation-dialog").send_keys("\ue00c")  # Escape
    wait(page, lambda d: d.find_element(By.ID, "citation-dialog").get_attribute("open") is None, timeout=5)
    assert page.switch_to.active_element == refs[1]  # focus goes back where it was

    page.execute_cdp_cmd("Emulation.setEmulatedMedia",
                         {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        refs[0].click()
        assert "417 gulls" in passage(page)[1]
        screenshot(page, "documents-passage-dark")
        close_passage(page)
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def test_phone_width_panel_fits(page, server, knowledge, documents, screenshot):
    pdf, txt = documents
    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                         {"width": 375, "height": 740, "deviceScaleFactor": 2, "mobile": True})
    page.refresh()
    wait(page, lambda d: d.find_element(By.ID, "model").get_attribute("value"))
    toggle = page.find_element(By.ID, "documents-toggle")
    # Short on a phone; its name for a screen reader stays "Documents".
    assert toggle.find_element(By.CSS_SELECTOR, ".doc-label-short").is_displayed()
    assert toggle.find_element(By.CSS_SELECTOR, ".doc-label").size["width"] <= 1
    assert toggle.accessible_name == "Documents"
    # The model picker keeps a usable width (its own row under the buttons).
    assert page.find_element(By.ID, "model").size["width"] >= 200
    open_panel(page)
    page.find_element(By.ID, "doc-input").send_keys(f"{pdf}\n{txt}")
    wait(page, lambda d: len(file_rows(d)) == 2, timeout=120)
    page.find_element(By.ID, "doc-store-name").send_keys("A collection with a rather long name for a phone")
    page.find_element(By.CSS_SELECTOR, "#doc-new-store button[type=submit]").click()
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#doc-stores .doc-store"))
    assert page.execute_script("return document.documentElement.scrollWidth") <= 375
    panel = page.find_element(By.ID, "documents")
    assert page.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", panel)
    screenshot(page, "documents-phone")
    background = "return getComputedStyle(arguments[0]).backgroundColor"
    light = page.execute_script(background, panel)
    page.execute_cdp_cmd("Emulation.setEmulatedMedia",
                         {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        dark = page.execute_script(background, panel)
        screenshot(page, "documents-phone-dark")
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert light != dark


# --- with API keys ------------------------------------------------------------------------------

API_KEY = "sk-documents-test"


@pytest.fixture(scope="module")
def keyed_server():
    """A second cluster that wants an API key (the page, served by the first, is pointed at it
    through Settings: uploads then cross origins with Authorization, as a remote page would)."""
    if os.environ.get("SHARDSERVE_URL"):
        pytest.skip("SHARDSERVE_URL set: no cluster of our own to start")
    cluster = Cluster(shardserve_binary(), ["--set", f"server.api_keys=[{API_KEY}]"])
    yield cluster.base
    cluster.stop()


def test_with_an_api_key_the_panel_sends_it(page, keyed_server, documents):
    pdf, _ = documents
    set_setting(page, "api-base", keyed_server)
    set_setting(page, "api-key", "sk-wrong")
    page.find_element(By.ID, "documents-toggle").click()
    wait(page, lambda d: d.find_element(By.ID, "documents").get_attribute("data-state") == "error")
    assert page.find_element(By.ID, "doc-problem").text == "The server did not accept the API key. Check it in Settings."
    assert not page.find_element(By.ID, "doc-body").is_displayed()
    page.find_element(By.ID, "documents-close").click()

    set_setting(page, "api-key", API_KEY)  # committing the key reads the lists again
    open_panel(page)
    page.find_element(By.ID, "doc-input").send_keys(str(pdf))
    wait(page, lambda d: [name for name, _ in file_rows(d)] == [PDF_NAME], timeout=120)
    req = urllib.request.Request(keyed_server + "/v1/files", headers={"Authorization": f"Bearer {API_KEY}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        served = json.load(r)["data"]
    assert [f["filename"] for f in served] == [PDF_NAME]
    # The file's content as the passage dialog's link fetches it: with the key.
    content = page.execute_async_script("""
        const [conn, id, done] = arguments;
        import('./js/knowledge_api.js').then((kb) => kb.fileBlob(conn, id))
          .then((blob) => blob.arrayBuffer()).then((b) => done(b.byteLength), (e) => done(String(e)));""",
        {"base": keyed_server, "key": API_KEY}, served[0]["id"])
    assert content == pdf.stat().st_size
