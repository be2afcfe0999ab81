"""The repository's nginx site (deploy/nginx) in front of a real cluster: Debian's nginx on
loopback with a certificate from deploy/make-cert (fixtures: conftest.py). Registered in ctest
as e2e_nginx:

    ctest --test-dir build -R e2e_nginx --output-on-failure

By hand: SHARDSERVE_BIN=build/cli/shardserve .venv/bin/python -m pytest -q tests/deploy
"""
import http.client
import json
import ssl
import time
import urllib.error
import urllib.request

import openai
import pytest

from shardserve_cluster import MODEL_NAME, ROOT

WEB = ROOT / "web"
CONTENT_TYPES = {".html": "text/html", ".css": "text/css", ".js": "application/javascript"}
STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def client(base, cert):
    return openai.OpenAI(
        base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120,
        http_client=openai.DefaultHttpxClient(verify=ssl.create_default_context(cafile=cert)))


def get(url, cert):
    """(status, headers, body) of a GET that trusts the test certificate."""
    context = ssl.create_default_context(cafile=cert)
    try:
        with urllib.request.urlopen(url, timeout=30, context=context) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


NO_END = {"2": -100}  # SmolLM2's <|im_end|>: every answer runs to max_tokens


def test_a_stream_through_nginx_arrives_chunk_by_chunk(nginx, cluster, tls):
    # The answer straight from the coordinator (greedy): to compare, and so that the timed
    # request below does not pay for the first one's page-ins of the model file.
    coordinator = openai.OpenAI(base_url=cluster.base + "/v1", api_key="unused", max_retries=0)
    direct = coordinator.chat.completions.create(model=MODEL_NAME, messages=STORY,
                                                 max_tokens=192, temperature=0,
                                                 logit_bias=NO_END)
    cert = tls[0]
    start = time.monotonic()
    arrivals, pieces, finish = [], [], None
    with client(nginx.https, cert).chat.completions.with_streaming_response.create(
            model=MODEL_NAME, messages=STORY, max_tokens=192, temperature=0,
            logit_bias=NO_END, stream=True) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for chunk in response.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic() - start)
                pieces.append(chunk.choices[0].delta.content)
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
    assert finish == "length" and len(arrivals) >= 32, (finish, len(arrivals))
    # 192 tokens take at least a few tenths of a second even on a fast CPU: chunks passed on as
    # they come are spread over that time, while a buffered response would deliver them in one
    # burst at the end, within milliseconds.
    spread = arrivals[-1] - arrivals[0]
    times = ", ".join(f"{t:.3f}" for t in arrivals)
    assert spread >= 0.1 and spread >= 0.5 * arrivals[-1], f"buffered? arrivals (s): {times}"

    assert "".join(pieces) == direct.choices[0].message.content  # what nginx passed on is whole


def test_nginx_serves_the_page_as_static_files(nginx, tls):
    files = sorted(p for p in WEB.rglob("*") if p.is_file())
    assert WEB / "index.html" in files
    for path in files:
        status, headers, body = get(f"{nginx.https}/{path.relative_to(WEB)}", tls[0])
        assert status == 200, path
        assert body == path.read_bytes(), path
        if path.suffix in CONTENT_TYPES:
            assert headers["Content-Type"].startswith(CONTENT_TYPES[path.suffix]), (path, headers)
        # Set by the site's static location, not by the coordinator:
        assert headers["Cache-Control"] == "no-cache" and headers["ETag"], (path, headers)
    status, headers, body = get(nginx.https + "/", tls[0])
    assert status == 200 and body == (WEB / "index.html").read_bytes()
    status, headers, _ = get(nginx.https + "/no-such-file.js", tls[0])
    assert status == 404


def test_http_redirects_to_https(nginx):
    port = int(nginx.http.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/v1/models?limit=1")
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == nginx.https + "/v1/models?limit=1"
    conn.close()


def test_api_through_nginx_without_a_coordinator_is_a_json_503(nginx_no_upstream, tls):
    cert = tls[0]
    with pytest.raises(openai.InternalServerError) as e:
        client(nginx_no_upstream.https, cert).chat.completions.create(
            model=MODEL_NAME, messages=STORY, max_tokens=8, stream=True)
    assert e.value.status_code == 503
    assert e.value.response.headers["content-type"].startswith("application/json")
    error = e.value.response.json()["error"]
    assert error["code"] == "service_unavailable" and error["type"] == "server_error", error
    assert "coordinator is not reachable" in error["message"]

    status, headers, body = get(nginx_no_upstream.https + "/ready", cert)
    assert status == 503 and json.loads(body)["error"]["code"] == "service_unavailable"
    # The page still loads: nginx serves it without the coordinator.
    status, _, body = get(nginx_no_upstream.https + "/", cert)
    assert status == 200 and body == (WEB / "index.html").read_bytes()


def test_uploads_pass_the_api_body_limit_but_not_their_own(nginx, tls):
    """POST /v1/files through nginx: a file over the 1 MiB API body limit is streamed to the
    coordinator and kept (MAX_UPLOAD, 33m by default); one over MAX_UPLOAD is refused by nginx
    with an OpenAI error object, before its body is read."""
    api = client(nginx.https, tls[0])
    # 1.5 MB of HTML whose text is one sentence (scripts are not text): quick to embed.
    page = ("<html><head><script>/*" + "x" * 1_500_000 + "*/</script></head><body>"
            "<p>The Orrin tunnel is nine kilometres long.</p></body></html>").encode()
    uploaded = api.files.create(file=("tunnel.html", page, "text/html"), purpose="assistants")
    assert uploaded.bytes == len(page)
    assert api.files.content(uploaded.id).read() == page
    api.files.delete(uploaded.id)

    with pytest.raises(openai.APIStatusError) as refused:
        api.files.create(file=("huge.txt", b"a" * (34 * 1024 * 1024 + 1)), purpose="assistants")
    assert refused.value.status_code == 413
    assert "uploads are limited to" in refused.value.response.json()["error"]["message"]
