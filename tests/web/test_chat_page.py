"""The chat page (web/) in headless Chromium (Debian's chromium + chromium-driver, driven by
selenium) against a real shardserve: a local cluster started for the session, or SHARDSERVE_URL.
Fixtures and environment variables: conftest.py. Registered in ctest as e2e_chat_page:

    ctest --test-dir build -R e2e_chat_page --output-on-failure

By hand (after scripts/install-deps, scripts/install-python-deps, a build):

    SHARDSERVE_BIN=build/cli/shardserve .venv/bin/python -m pytest -q tests/web

The server must serve a chat model whose name does not look like an embedding model's
(configs/local.yaml: smollm2-135m-instruct, plus all-minilm-l6-v2 which the picker must not
choose by default). Screenshots (desktop, stopped, json-answer, tool-calls, phone, dark, and
of the Cluster view cluster, cluster-dark, cluster-phone) go to SHARDSERVE_WEB_SHOTS; their
paths are printed at the end.

Tool calls: the server does not stream them yet, so those tests feed the page a recorded stream
(TOOL_STREAM) through a stand-in for window.fetch (fake_chat_fetch) and check what it draws,
saves and sends back.
"""
import json
import os
import re
import time
import urllib.request

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait
from shardserve_cluster import ROOT

CHAT_MODEL = "smollm2-135m-instruct"


@pytest.fixture()
def page(driver, server, page_url):
    """The page, freshly loaded with empty storage (pointed at the server when served elsewhere)."""
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.get(page_url)
    driver.execute_script("localStorage.clear();")
    if page_url.rstrip("/") != server:
        driver.execute_script(
            "localStorage.setItem('shardserve.settings.v1', JSON.stringify({apiBase: arguments[0]}));",
            server)
    driver.get(page_url)
    wait(driver, lambda d: d.find_element(By.ID, "model").get_attribute("value"))
    return driver


def wait(driver, condition, timeout=60):
    return WebDriverWait(driver, timeout, poll_frequency=0.02).until(condition)


def set_setting(driver, element_id, value):
    if not driver.find_element(By.ID, "settings").is_displayed():
        driver.find_element(By.ID, "settings-toggle").click()
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)
    field.send_keys(Keys.TAB)  # commits it ('change')
    driver.find_element(By.ID, "settings-close").click()


def ask(driver, text):
    box = driver.find_element(By.ID, "prompt")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def last_answer(driver):
    return driver.find_elements(By.CSS_SELECTOR, ".message.assistant")[-1]


def choose_setting(driver, element_id, value):
    """Picks `value` in the settings panel's <select> with the keyboard, as a person would."""
    if not driver.find_element(By.ID, "settings").is_displayed():
        driver.find_element(By.ID, "settings-toggle").click()
    select = driver.find_element(By.ID, element_id)
    options = [o.get_attribute("value") for o in select.find_elements(By.TAG_NAME, "option")]
    steps = options.index(value) - options.index(select.get_attribute("value"))
    for _ in range(abs(steps)):
        select.send_keys(Keys.ARROW_DOWN if steps > 0 else Keys.ARROW_UP)
    assert select.get_attribute("value") == value
    driver.find_element(By.ID, "settings-close").click()


def fake_chat_fetch(driver, chunks=None):
    """Records every POST /v1/chat/completions body in window.sentBodies; answers it with the
    SSE stream of `chunks` (then [DONE]) when given, else lets the real server answer. Other
    requests (the model list) go to the server. A reload undoes it."""
    driver.execute_script(r"""
        const chunks = arguments[0];
        window.sentBodies = [];
        const realFetch = window.realFetch || (window.realFetch = window.fetch);
        window.fetch = async (input, init = {}) => {
          const url = String((input && input.url) || input);
          if (!url.endsWith('/v1/chat/completions')) return realFetch(input, init);
          window.sentBodies.push(JSON.parse(init.body));
          if (!chunks) return realFetch(input, init);
          const enc = new TextEncoder();
          const events = [...chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`), 'data: [DONE]\n\n'];
          const body = new ReadableStream({
            async pull(controller) {
              const next = events.shift();
              if (next === undefined) return controller.close();
              await new Promise((r) => setTimeout(r, 5)); // arrives in pieces, as a stream does
              controller.enqueue(enc.encode(next));
            },
          });
          return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
        };
    """, chunks)


def sent_bodies(driver):
    return driver.execute_script("return window.sentBodies")


def chunk(delta, finish=None):
    return {"id": "chatcmpl-recorded", "object": "chat.completion.chunk", "created": 1,
            "model": CHAT_MODEL, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


# An answer that calls two tools, as OpenAI streams it: a call's id and name first, then its
# arguments in pieces (split mid-token), the calls told apart by index; finish_reason last.
TOOL_STREAM = [
    chunk({"role": "assistant", "content": None}),
    chunk({"tool_calls": [{"index": 0, "id": "call_paris", "type": "function",
                           "function": {"name": "get_weather", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Par'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'is", "unit": "celsius"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_tokyo", "type": "function",
                           "function": {"name": "get_time", "arguments": '{"timezone":'}}]}),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": ' "Asia/Tokyo", "hours": 12345678901234567890}'}}]}),
    chunk({}, "tool_calls"),
    {"id": "chatcmpl-recorded", "object": "chat.completion.chunk", "created": 1, "model": CHAT_MODEL,
     "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 31, "total_tokens": 51}},
]
PARIS_ARGS = '{"city": "Paris", "unit": "celsius"}'
TOKYO_ARGS = '{"timezone": "Asia/Tokyo", "hours": 12345678901234567890}'


def running_sequences(server):
    with urllib.request.urlopen(server + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(v) for v in re.findall(r"shardserve_group_running_sequences\{[^}]*\} (\S+)", text))


# --- modules, checked in the browser ----------------------------------------------------------

def test_sse_parser_handles_comments_split_lines_multiline_data_and_split_utf8(page):
    result = page.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import('./js/sse.js').then(async ({ sseEvents }) => {
          const enc = new TextEncoder();
          const euro = enc.encode('data: \\u20ac\\n\\n');
          const parts = [enc.encode(': keep-alive\\n\\ndata: {"a"'), enc.encode(':1}\\r'),
                         enc.encode('\\n\\r\\ndata: x\\ndata: y\\n\\n'), euro.slice(0, 7), euro.slice(7),
                         enc.encode('data: [DONE]\\n\\ndata: cut')];
          const body = new ReadableStream({ start(c) { parts.forEach((p) => c.enqueue(p)); c.close(); } });
          const comments = [], data = [];
          for await (const ev of sseEvents(body, { onComment: (t) => comments.push(t) })) data.push(ev.data);
          done({ comments, data });
        }).catch((e) => done({ error: String(e) }));
    """)
    assert result == {"comments": ["keep-alive"], "data": ['{"a":1}', "x\ny", "\u20ac", "[DONE]"]}


def test_markdown_builds_dom_and_never_html(page):
    result = page.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import('./js/markdown.js').then(({ renderMarkdown }) => {
          const div = document.createElement('div');
          div.appendChild(renderMarkdown([
            'Hi <img src=x onerror="window.pwned=1"> **bold** *it* `a<b>`',
            '[ok](https://example.com/a_(b)) [bad](javascript:alert(1)) [rel](/v1/models)',
            '', '- one', '  - nested', '2. two', '', '```python', 'print("<b>")', '```',
            '```', 'unclosed'].join('\\n')));
          done({
            img: div.querySelectorAll('img').length,
            strong: div.querySelector('strong')?.textContent,
            em: div.querySelector('em')?.textContent,
            code: div.querySelector('p code')?.textContent,
            links: [...div.querySelectorAll('a')].map((a) => a.getAttribute('href')),
            nested: div.querySelectorAll('ul ul li').length,
            olStart: div.querySelector('ol')?.start,
            langs: [...div.querySelectorAll('.code-lang')].map((n) => n.textContent),
            codes: [...div.querySelectorAll('.code-block code')].map((n) => n.textContent),
            copy: div.querySelectorAll('.code-block .copy').length,
            text: div.textContent.includes('<img src=x'),
          });
        }).catch((e) => done({ error: String(e) }));
    """)
    assert result == {
        "img": 0, "strong": "bold", "em": "it", "code": "a<b>",
        "links": ["https://example.com/a_(b)"], "nested": 1, "olStart": 2,
        "langs": ["python", "text"], "codes": ['print("<b>")', "unclosed"], "copy": 2, "text": True,
    }


def test_copy_button_copies_the_code_block(page):
    origin = page.execute_script("return location.origin")
    page.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    page.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import('./js/markdown.js').then(({ renderMarkdown }) => {
          document.getElementById('messages').appendChild(renderMarkdown('```sh\\necho "hi"\\n```'));
          done();
        });
    """)
    button = page.find_element(By.CSS_SELECTOR, "#messages .code-block .copy")
    button.click()
    wait(page, lambda d: button.text == "Copied", timeout=5)
    copied = page.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], (e) => arguments[0]('error: ' + e))")
    assert copied == 'echo "hi"'


def test_json_answers_are_pretty_printed_as_text_and_only_when_whole(page):
    result = page.execute_async_script(r"""
        const done = arguments[arguments.length - 1];
        Promise.all([import('./js/json.js'), import('./js/view.js')]).then(([json, view]) => {
          const answer = (content, extra = {}) => view.messageElement(
            { id: 'm', role: 'assistant', content, state: 'done', ...extra });
          const blockText = (el) => el.querySelector('.content .json-answer code')?.textContent ?? null;
          const evil = answer('{"html": "<img src=x onerror=\\"window.pwned=1\\">"}');
          done({
            pretty: json.prettyJson(' {"a":[1, 2.50,{}],"b" :{"c":"x,y:{z}\\"","big":12345678901234567890},"e":[]} '),
            scalar: json.prettyJson('"just a string"'),
            invalid: json.prettyJson('{"a": 1,'),
            asked: json.jsonAnswer('42', true),
            proseArray: json.jsonAnswer('[1] is a footnote', false),
            proseNumber: json.jsonAnswer('42', false),
            whole: blockText(answer('\n[1, {"k": true}]\n')),
            prose: blockText(answer('Here it is: {"a": 1}')),
            streaming: blockText(answer('{"a": 1}', { state: 'streaming' })),
            cut: [blockText(answer('{"a": "unfin', { format: 'json', finish: 'length' })),
                  answer('{"a": "unfin', { format: 'json', finish: 'length' }).querySelector('.note')?.textContent],
            label: answer('{}').querySelector('.json-answer .code-lang').textContent,
            copy: answer('{}').querySelectorAll('.json-answer .copy').length,
            evilImg: evil.querySelectorAll('img').length,
            evilText: blockText(evil),
          });
        }).catch((e) => done({ error: String(e) }));
    """)
    assert result == {
        # re-indented, not re-serialised: 2.50 and every digit of the big integer stay
        "pretty": '{\n  "a": [\n    1,\n    2.50,\n    {}\n  ],\n  "b": {\n    "c": "x,y:{z}\\"",\n'
                  '    "big": 12345678901234567890\n  },\n  "e": []\n}',
        "scalar": '"just a string"', "invalid": None, "asked": "42",
        "proseArray": None, "proseNumber": None,
        "whole": '[\n  1,\n  {\n    "k": true\n  }\n]', "prose": None, "streaming": None,
        "cut": [None, "The JSON was cut at max_tokens, so it is shown as text."],
        "label": "json", "copy": 1,
        "evilImg": 0, "evilText": '{\n  "html": "<img src=x onerror=\\"window.pwned=1\\">"\n}',
    }


def test_tool_call_deltas_are_gathered_per_index_and_drawn_readably(page):
    broken = [chunk({"tool_calls": [{"index": 2, "id": "call_cut", "type": "function",
                                     "function": {"name": "search"}}]}),
              chunk({"tool_calls": [{"index": 2, "function": {"arguments": '{"q": "<script>x</script>'}}]})]
    stream = TOOL_STREAM[:-2] + broken + TOOL_STREAM[-2:]
    result = page.execute_async_script("""
        const [stream, done] = arguments;
        Promise.all([import('./js/toolcalls.js'), import('./js/view.js')]).then(([tc, view]) => {
          const gathered = tc.collectStream(stream);
          const before = JSON.stringify(gathered.tool_calls);
          tc.mergeToolCallDeltas(gathered.tool_calls, [{ index: 0, function: { arguments: 'more' } }]);
          const draw = (state) => view.messageElement({ id: 'm', role: 'assistant', state,
            content: gathered.content, tool_calls: gathered.tool_calls, finish: gathered.finish,
            metrics: { ttft_s: 0.1, tokens: 31, tok_s: 50, counted: 'usage' } });
          const el = draw('done');
          const live = draw('streaming');
          done({
            gathered, untouched: before === JSON.stringify(gathered.tool_calls),
            sendable: tc.sendableToolCalls(gathered.tool_calls, 'call_x'),
            noId: tc.sendableToolCalls([{ index: 3, function: { name: 'f', arguments: '{}' } },
                                        { index: 4, function: { name: 'g', arguments: '[1]' } }], 'call_x'),
            labels: [...el.querySelectorAll('.tool-call')].map((b) => b.getAttribute('aria-label')),
            heads: [...el.querySelectorAll('.tool-call .code-lang')].map((n) => n.textContent),
            names: [...el.querySelectorAll('.tool-call .tool-name')].map((n) => n.textContent),
            args: [...el.querySelectorAll('.tool-call code')].map((n) => n.textContent),
            liveArgs: [...live.querySelectorAll('.tool-call code')].map((n) => n.textContent),
            copies: el.querySelectorAll('.tool-call .copy').length,
            scripts: el.querySelectorAll('script').length,
            errors: el.querySelectorAll('.error').length,
            metrics: el.querySelector('.metrics').textContent,
            state: el.dataset.state,
          });
        }).catch((e) => arguments[arguments.length - 1]({ error: String(e) }));
    """, stream)
    def call(index, call_id, name, args):
        return {"index": index, "id": call_id, "type": "function",
                "function": {"name": name, "arguments": args}}
    cut_args = '{"q": "<script>x</script>'
    assert result["gathered"] == {"content": "", "finish": "tool_calls", "tool_calls": [
        call(0, "call_paris", "get_weather", PARIS_ARGS), call(1, "call_tokyo", "get_time", TOKYO_ARGS),
        call(2, "call_cut", "search", cut_args)]}
    assert result["untouched"]
    # The cut call would be refused by the server (its arguments are not a JSON object).
    assert result["sendable"] == [{k: v for k, v in c.items() if k != "index"} for c in (
        call(0, "call_paris", "get_weather", PARIS_ARGS), call(1, "call_tokyo", "get_time", TOKYO_ARGS))]
    assert result["noId"] == [{"id": "call_x_3", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    assert result["labels"] == ["Tool call: get_weather", "Tool call: get_time", "Tool call: search"]
    assert result["heads"] == result["labels"]
    assert result["names"] == ["get_weather", "get_time", "search"]
    assert result["args"] == ['{\n  "city": "Paris",\n  "unit": "celsius"\n}',
                              '{\n  "timezone": "Asia/Tokyo",\n  "hours": 12345678901234567890\n}',
                              cut_args]  # not JSON: the raw text, as text
    assert json.loads(result["args"][0]) == json.loads(PARIS_ARGS)
    assert result["liveArgs"] == [PARIS_ARGS, TOKYO_ARGS, cut_args]  # raw while streaming
    assert result["copies"] == 3 and result["scripts"] == 0 and result["errors"] == 0
    assert result["state"] == "done" and result["metrics"].endswith("ended with 3 tool calls")


def test_default_model_is_not_an_embedding_model(page, server):
    select = page.find_element(By.ID, "model")
    ids = [o.get_attribute("value") for o in select.find_elements(By.TAG_NAME, "option")]
    with urllib.request.urlopen(server + "/v1/models", timeout=5) as r:
        served = [m["id"] for m in json.load(r)["data"]]
    assert ids == served  # every model is listed
    assert not re.search(r"minilm|embed", select.get_attribute("value"), re.I)


# --- chatting -----------------------------------------------------------------------------------

def test_answer_streams_in_and_ends_with_metrics(page, screenshot):
    Select(page.find_element(By.ID, "model")).select_by_value(CHAT_MODEL)
    set_setting(page, "temperature", "0")  # greedy: this prompt always runs to max_tokens
    set_setting(page, "max-tokens", "96")
    # Record the answer's text at every change of the page while it is still streaming: a fast
    # server finishes 96 tokens in a fraction of a second, faster than the driver can poll.
    page.execute_script("""
        window.partialAnswers = [];
        new MutationObserver(() => {
          const answers = document.querySelectorAll('.message.assistant');
          const answer = answers[answers.length - 1];
          if (!answer || answer.dataset.state !== 'streaming') return;
          const text = answer.querySelector('.content')?.textContent || '';
          const seen = window.partialAnswers;
          if (text && seen[seen.length - 1] !== text) seen.push(text);
        }).observe(document.getElementById('messages'),
                   { subtree: true, childList: true, characterData: true, attributes: true });
    """)
    ask(page, "Tell me a short story about a lighthouse.")
    wait(page, lambda d: last_answer(d).get_attribute("data-state") != "streaming", timeout=120)
    answer = last_answer(page)
    assert answer.get_attribute("data-state") == "done"
    partial = page.execute_script("return window.partialAnswers")
    final = answer.find_element(By.CSS_SELECTOR, ".content").get_attribute("textContent")
    assert len(partial) >= 2, f"the answer never showed partly before it finished: {partial}"
    assert len(partial[0]) < len(final), (partial[0], final)
    assert CHAT_MODEL in answer.find_element(By.CSS_SELECTOR, ".role").get_attribute("textContent")
    metrics = answer.find_element(By.CSS_SELECTOR, ".metrics").text
    assert re.search(r"[\d.]+ s to first token", metrics) and "tokens/s" in metrics, metrics
    screenshot(page, "desktop")


def test_shift_enter_is_a_new_line_and_enter_sends(page):
    box = page.find_element(By.ID, "prompt")
    box.send_keys("line one")
    box.send_keys(Keys.SHIFT, Keys.ENTER)
    box.send_keys("line two")
    assert box.get_attribute("value") == "line one\nline two"
    assert not page.find_elements(By.CSS_SELECTOR, ".message.user")
    set_setting(page, "max-tokens", "4")
    box.send_keys(Keys.ENTER)
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, ".message.user"))
    assert page.find_element(By.CSS_SELECTOR, ".message.user .content").text == "line one\nline two"
    wait(page, lambda d: last_answer(d).get_attribute("data-state") != "streaming", timeout=120)


def test_stop_aborts_the_stream_and_the_server_frees_the_sequence(page, server, screenshot):
    set_setting(page, "temperature", "0")  # greedy: this prompt runs on for 1000+ tokens
    set_setting(page, "max-tokens", "2000")
    ask(page, "Write a long story about a lighthouse keeper and a storm.")
    wait(page, lambda d: last_answer(d).find_element(By.CSS_SELECTOR, ".content").text)
    assert last_answer(page).get_attribute("data-state") == "streaming"  # mid-answer
    page.find_element(By.ID, "stop").click()
    wait(page, lambda d: last_answer(d).get_attribute("data-state") == "stopped", timeout=10)
    stopped_at = last_answer(page).find_element(By.CSS_SELECTOR, ".content").text
    assert page.find_element(By.ID, "send").is_displayed()
    assert not page.find_element(By.ID, "stop").is_displayed()
    deadline = time.time() + 15
    while running_sequences(server) > 0 and time.time() < deadline:
        time.sleep(0.2)
    assert running_sequences(server) == 0
    # The stream has ended: nothing more arrived while the server wound the sequence down.
    assert last_answer(page).find_element(By.CSS_SELECTOR, ".content").text == stopped_at
    screenshot(page, "stopped")


def test_history_survives_a_reload_and_chats_can_be_switched_and_deleted(page):
    set_setting(page, "temperature", "0")  # greedy: a non-empty answer, the same every time
    set_setting(page, "max-tokens", "8")
    ask(page, "Say hi.")
    wait(page, lambda d: last_answer(d).get_attribute("data-state") == "done", timeout=120)
    first_answer = last_answer(page).find_element(By.CSS_SELECTOR, ".content").text
    assert first_answer
    page.refresh()
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, ".message.assistant"))
    assert page.find_element(By.CSS_SELECTOR, ".message.user .content").text == "Say hi."
    assert last_answer(page).find_element(By.CSS_SELECTOR, ".content").text == first_answer
    assert len(page.find_elements(By.CSS_SELECTOR, "#history .history-item")) == 1

    page.find_element(By.ID, "new-chat").click()
    assert not page.find_elements(By.CSS_SELECTOR, ".message")
    ask(page, "Say bye.")
    wait(page, lambda d: last_answer(d).get_attribute("data-state") == "done", timeout=120)
    items = page.find_elements(By.CSS_SELECTOR, "#history .history-item")
    titles = [i.find_element(By.CSS_SELECTOR, ".chat-link").text for i in items]
    assert titles == ["Say bye.", "Say hi."]

    items[1].find_element(By.CSS_SELECTOR, ".chat-link").click()
    assert page.find_element(By.CSS_SELECTOR, ".message.user .content").text == "Say hi."
    items = page.find_elements(By.CSS_SELECTOR, "#history .history-item")
    items[0].find_element(By.CSS_SELECTOR, ".delete-chat").click()
    page.switch_to.alert.accept()
    assert len(page.find_elements(By.CSS_SELECTOR, "#history .history-item")) == 1


def test_answer_format_json_is_saved_sent_and_shown_formatted(page, screenshot):
    label = page.find_element(By.CSS_SELECTOR, "label[for=answer-format]")
    assert label.get_attribute("textContent") == "Answer format"
    assert page.find_element(By.ID, "answer-format").get_attribute("value") == "text"  # the default
    choose_setting(page, "answer-format", "json")
    page.refresh()
    wait(page, lambda d: d.find_element(By.ID, "model").get_attribute("value"))
    assert page.find_element(By.ID, "answer-format").get_attribute("value") == "json"  # kept

    Select(page.find_element(By.ID, "model")).select_by_value(CHAT_MODEL)
    set_setting(page, "temperature", "0")
    set_setting(page, "max-tokens", "200")
    fake_chat_fetch(page)  # records the request; the real server answers
    ask(page, "Give a short JSON object for a cat with a name and an age.")
    wait(page, lambda d: last_answer(d).get_attribute("data-state") != "streaming", timeout=120)
    answer = last_answer(page)
    assert answer.get_attribute("data-state") == "done"
    assert sent_bodies(page)[0]["response_format"] == {"type": "json_object"}
    code = answer.find_element(By.CSS_SELECTOR, ".content .code-block.json-answer code")
    text = code.get_attribute("textContent")
    value = json.loads(text)
    assert isinstance(value, dict), text
    if value:
        assert text.startswith('{\n  "') and text.endswith("\n}"), text  # pretty-printed
    assert answer.find_element(By.CSS_SELECTOR, ".json-answer .code-lang").text == "json"
    assert answer.find_elements(By.CSS_SELECTOR, ".json-answer .copy")
    screenshot(page, "json-answer")

    page.refresh()  # the answer remembers it was JSON
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, ".message.assistant .json-answer"))
    assert last_answer(page).find_element(By.CSS_SELECTOR, ".json-answer code").get_attribute("textContent") == text

    choose_setting(page, "answer-format", "text")
    page.refresh()
    wait(page, lambda d: d.find_element(By.ID, "model").get_attribute("value"))
    assert page.find_element(By.ID, "answer-format").get_attribute("value") == "text"


def test_a_streamed_tool_call_answer_is_shown_saved_and_sent_back(page, screenshot):
    fake_chat_fetch(page, TOOL_STREAM)
    ask(page, "What is the weather in Paris, and the time in Tokyo?")
    wait(page, lambda d: last_answer(d).get_attribute("data-state") != "streaming", timeout=30)
    answer = last_answer(page)
    assert answer.get_attribute("data-state") == "done"  # finish_reason tool_calls is no error
    assert not answer.find_elements(By.CSS_SELECTOR, ".error")

    def calls():
        blocks = last_answer(page).find_elements(By.CSS_SELECTOR, ".tool-calls .tool-call")
        return [(b.find_element(By.CSS_SELECTOR, ".code-lang").text,
                 json.loads(b.find_element(By.CSS_SELECTOR, "code").get_attribute("textContent")))
                for b in blocks]
    shown = [("Tool call: get_weather", json.loads(PARIS_ARGS)), ("Tool call: get_time", json.loads(TOKYO_ARGS))]
    assert calls() == shown
    metrics = answer.find_element(By.CSS_SELECTOR, ".metrics").text
    assert "31 tokens" in metrics and "ended with 2 tool calls" in metrics, metrics
    assert page.find_element(By.ID, "announcer").get_attribute("textContent") == \
        "Answer complete: it calls get_weather, get_time."
    screenshot(page, "tool-calls")

    page.refresh()  # saved with its calls (and no text)
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, ".message.assistant .tool-call"))
    assert calls() == shown

    # The next request sends the calls back as OpenAI's assistant message (content null).
    fake_chat_fetch(page, [chunk({"role": "assistant", "content": "Sunny, and noon."}), chunk({}, "stop")])
    ask(page, "Thanks!")
    wait(page, lambda d: last_answer(d).get_attribute("data-state") == "done", timeout=30)
    messages = sent_bodies(page)[0]["messages"]
    assert messages[1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_paris", "type": "function", "function": {"name": "get_weather", "arguments": PARIS_ARGS}},
            {"id": "call_tokyo", "type": "function", "function": {"name": "get_time", "arguments": TOKYO_ARGS}}]},
        {"role": "user", "content": "Thanks!"}]
    assert last_answer(page).find_element(By.CSS_SELECTOR, ".content").text == "Sunny, and noon."


# --- errors in plain words ----------------------------------------------------------------------

def test_a_refused_request_is_explained_next_to_the_answer(page):
    set_setting(page, "temperature", "5")  # above OpenAI's 2: the server answers 400
    ask(page, "Hello")
    wait(page, lambda d: last_answer(d).get_attribute("data-state") == "error")
    text = last_answer(page).find_element(By.CSS_SELECTOR, ".error").text
    assert text.startswith("The server refused the request:") and "temperature" in text, text
    set_setting(page, "temperature", "")
    set_setting(page, "max-tokens", "4")
    last_answer(page).find_element(By.CSS_SELECTOR, "[data-action=retry]").click()
    wait(page, lambda d: last_answer(d).get_attribute("data-state") == "done", timeout=120)
    assert len(page.find_elements(By.CSS_SELECTOR, ".message.assistant")) == 1


def test_an_unreachable_server_is_explained(page):
    set_setting(page, "api-base", "http://127.0.0.1:9")
    notice = wait(page, lambda d: d.find_element(By.ID, "notice").is_displayed()
                  and d.find_element(By.ID, "notice"))
    assert "Could not reach the server at http://127.0.0.1:9" in notice.text


# --- layout -------------------------------------------------------------------------------------

def test_phone_width_uses_a_drawer_and_nothing_overflows(page, screenshot):
    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                         {"width": 375, "height": 740, "deviceScaleFactor": 2, "mobile": True})
    page.refresh()
    wait(page, lambda d: d.find_element(By.ID, "model").get_attribute("value"))
    set_setting(page, "max-tokens", "24")
    ask(page, "Show a tiny Python function in a code block.")
    wait(page, lambda d: last_answer(d).get_attribute("data-state") != "streaming", timeout=120)
    assert page.execute_script("return document.documentElement.scrollWidth") <= 375
    sidebar = page.find_element(By.ID, "sidebar")
    assert page.execute_script("return arguments[0].getBoundingClientRect().right", sidebar) <= 0
    screenshot(page, "phone")
    page.find_element(By.ID, "menu-toggle").click()
    wait(page, lambda d: d.execute_script("return arguments[0].getBoundingClientRect().left", sidebar) >= 0)
    assert page.switch_to.active_element.get_attribute("id") == "new-chat"
    screenshot(page, "phone-drawer")
    page.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert page.find_element(By.ID, "menu-toggle").get_attribute("aria-expanded") == "false"


def test_dark_scheme_changes_the_colours(page, screenshot):
    light = page.execute_script("return getComputedStyle(document.body).backgroundColor")
    page.execute_cdp_cmd("Emulation.setEmulatedMedia",
                         {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        dark = page.execute_script("return getComputedStyle(document.body).backgroundColor")
        screenshot(page, "dark")
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert light != dark


# --- the Cluster view ---------------------------------------------------------------------------

def config_groups(path):
    """{group name: (model, tp)} of a cluster config's groups: section, read from the file the
    cluster was started with (configs/local.yaml), not from the server."""
    text = path.read_text()
    section = text[text.index("\ngroups:"):]
    groups = {}
    for entry in re.split(r"\n  - ", section)[1:]:
        fields = dict(re.findall(r"^\s*(name|model|tp):\s*(\S+)", entry, re.M))
        groups[fields["name"]] = (fields["model"], int(fields.get("tp", 1)))
    return groups


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("application/json")
        return json.loads(r.read())


def post_json(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as r:
        return json.loads(r.read())


def cluster_cards(driver):
    """What the Cluster view's cards show, read in one go (the view redraws them every 2 s)."""
    return driver.execute_script("""
        const text = (card, sel) => (card.querySelector(sel) || {}).textContent || null;
        const chart = (card, kind) => {
          const svg = card.querySelector(`svg.chart-${kind}`);
          const line = svg && svg.querySelector('.chart-line');
          return {points: svg ? Number(svg.dataset.points) : 0, d: line ? line.getAttribute('d') : ''};
        };
        const out = {};
        for (const card of document.querySelectorAll('.group-card')) {
          out[card.dataset.group] = {
            up: card.dataset.up, pill: text(card, '.pill'), model: text(card, '.group-model'),
            tp: text(card, '.fact.tp dd'), load: text(card, '.fact.load dd'),
            restarts: text(card, '.fact.restarts dd'), gpus: card.querySelectorAll('.gpu').length,
            tok_s: Number(card.querySelector('.tok-s').dataset.value || 0),
            tok: chart(card, 'tok'), kv: chart(card, 'kv'),
            overflows: card.scrollWidth > card.clientWidth,
          };
        }
        return out;
    """)


def live_cards(driver, names):
    cards = cluster_cards(driver)
    return cards if all(cards.get(n, {}).get("up") == "true" for n in names) else None


def test_cluster_view_shows_the_live_groups_with_tokens_per_second_and_charts(page, server, screenshot):
    if os.environ.get("SHARDSERVE_URL"):
        pytest.skip("checks the groups of configs/local.yaml, which the session's own cluster runs")
    expected = config_groups(ROOT / "configs" / "local.yaml")  # what the session's cluster runs
    assert expected == {"smollm2-tp2": (CHAT_MODEL, 2), "minilm-tp1": ("all-minilm-l6-v2", 1)}

    tab = page.find_element(By.ID, "tab-cluster")
    tab.click()
    assert tab.get_attribute("aria-selected") == "true"
    assert page.execute_script("return location.hash") == "#cluster-view"
    assert not page.find_element(By.ID, "composer").is_displayed()
    assert not page.find_element(By.ID, "chat").is_displayed()
    cards = wait(page, lambda d: live_cards(d, expected))
    assert sorted(cards) == sorted(expected)
    for name, (model, tp) in expected.items():
        c = cards[name]
        assert c["tp"] == str(tp), c
        assert c["model"].startswith(model), c
        assert c["pill"] == "up", c
        assert c["restarts"] == "0", c
        assert c["gpus"] == 0, c  # a CPU cluster reports no GPU
    assert cards["smollm2-tp2"]["load"].startswith("0/32"), cards["smollm2-tp2"]

    # A real answer moves the model's generated-token counter, which the page turns into a rate.
    before = get_json(server + "/v1/cluster")
    chat_model = next(m for m in before["models"] if m["name"] == CHAT_MODEL)
    answer = post_json(server + "/v1/chat/completions", {
        "model": CHAT_MODEL, "max_tokens": 48, "temperature": 0, "ignore_eos": True,
        "messages": [{"role": "user", "content": "Count from one to twenty in words."}]})
    generated = answer["usage"]["completion_tokens"]
    assert generated > 0
    after = get_json(server + "/v1/cluster")
    assert next(m for m in after["models"] if m["name"] == CHAT_MODEL)["generation_tokens_total"] \
        >= chat_model["generation_tokens_total"] + generated
    chat = wait(page, lambda d: (c := cluster_cards(d)["smollm2-tp2"])["tok_s"] > 0
                and c["tok"]["points"] >= 2 and c, timeout=20)
    assert re.fullmatch(r"M[\d.]+,[\d.]+(?:[ML][\d.]+,[\d.]+)+", chat["tok"]["d"]), chat
    # The line rises above its base (y = 44, the chart's height): the answer's tokens are drawn.
    assert min(float(y) for y in re.findall(r",([\d.]+)", chat["tok"]["d"])) < 43, chat
    assert chat["kv"]["points"] >= 2, chat
    screenshot(page, "cluster")

    page.execute_cdp_cmd("Emulation.setEmulatedMedia",
                         {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    background = "return getComputedStyle(document.querySelector('.group-card')).backgroundColor"
    try:
        dark = page.execute_script(background)
        screenshot(page, "cluster-dark")
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert page.execute_script(background) != dark

    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                         {"width": 375, "height": 740, "deviceScaleFactor": 2, "mobile": True})
    page.refresh()  # the URL keeps the view
    cards = wait(page, lambda d: live_cards(d, expected))
    assert page.find_element(By.ID, "tab-cluster").get_attribute("aria-selected") == "true"
    assert page.execute_script("return document.documentElement.scrollWidth") <= 375
    assert not any(c["overflows"] for c in cards.values()), cards
    screenshot(page, "cluster-phone")
    page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    page.find_element(By.ID, "tab-chat").click()
    assert page.find_element(By.ID, "composer").is_displayed()
    assert not page.find_element(By.ID, "cluster-view").is_displayed()
    assert page.execute_script("return location.hash") == ""
