"""The OpenAI API through the official `openai` SDK against a real cluster (shardserve up:
coordinator + mpirun tp = 2 worker group, default model). Every response, chunk and error is
validated against OpenAI's published JSON schemas."""
import json
import urllib.request

import jsonschema
import openai
import pytest

from conftest import API_KEY, MODEL_NAME


def check(schemas, name, obj):
    jsonschema.validate(obj, schemas[name])


def http(base, method, path, body=None, headers=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def chat(client, content, **kw):
    return client.chat.completions.create(model=MODEL_NAME,
                                          messages=[{"role": "user", "content": content}], **kw)


def raw_json(response):
    """The JSON body the server sent (the SDK's objects add nulls for unset fields)."""
    return json.loads(response.http_response.text)


def raw_chunks(response):
    """The JSON chunks of an SSE stream as the server sent them."""
    response.http_response.read()
    chunks = []
    for line in response.http_response.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            chunks.append(json.loads(line[len("data: "):]))
    return chunks


def test_models(client, schemas):
    raw = client.models.with_raw_response.list()
    check(schemas, "ListModelsResponse", raw_json(raw))
    assert [m.id for m in raw.parse().data] == [MODEL_NAME, "all-minilm-l6-v2"]  # config order
    # vLLM's max_model_len: each model's context length.
    assert all(m["max_model_len"] > 0 for m in raw_json(raw)["data"]), raw_json(raw)
    check(schemas, "Model", raw_json(client.models.with_raw_response.retrieve(MODEL_NAME)))


def test_chat_non_streaming(client, schemas):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=24, temperature=0)
    check(schemas, "CreateChatCompletionResponse", raw_json(raw))
    r = raw.parse()
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.completion_tokens <= 24
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_streaming_chunks(client, schemas):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": "Count from one to five."}],
        max_tokens=20, temperature=0, stream=True, stream_options={"include_usage": True})
    assert raw.http_response.headers["content-type"].startswith("text/event-stream")
    for c in raw_chunks(raw):
        check(schemas, "CreateChatCompletionStreamResponse", c)
    chunks = list(chat(client, "Count from one to five.", max_tokens=20, temperature=0,
                       stream=True, stream_options={"include_usage": True}))
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [finishes[0]] and finishes[0] in ("stop", "length")
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    # The streamed text is the non-streamed text (greedy).
    full = chat(client, "Count from one to five.", max_tokens=20, temperature=0)
    assert text == full.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == full.usage.completion_tokens


def test_completions_and_stop_strings(client, schemas):
    raw = client.completions.with_raw_response.create(
        model=MODEL_NAME, prompt="The capital of France is", max_tokens=16, temperature=0)
    check(schemas, "CreateCompletionResponse", raw_json(raw))
    r = raw.parse()
    full = r.choices[0].text
    stop = full.strip().split()[1] if len(full.split()) > 1 else full[1:3]
    r2 = client.completions.create(model=MODEL_NAME, prompt="The capital of France is",
                                   max_tokens=16, temperature=0, stop=[stop])
    assert r2.choices[0].finish_reason == "stop"
    assert stop not in r2.choices[0].text
    assert full.startswith(r2.choices[0].text)


def test_seeded_sampling_is_reproducible(client):
    kw = dict(max_tokens=24, temperature=0.9, top_p=0.95, seed=1234)
    a = chat(client, "Tell me a fact about owls.", **kw).choices[0].message.content
    b = chat(client, "Tell me a fact about owls.", **kw).choices[0].message.content
    assert a == b


def test_errors_are_openai_error_objects(cluster, schemas):
    cases = [
        ("POST", "/v1/chat/completions", {"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404),
        ("POST", "/v1/chat/completions", {"model": MODEL_NAME, "messages": []}, 400),
        ("POST", "/v1/chat/completions", {"model": MODEL_NAME, "messages": [{"role": "user", "content": "x"}],
                                          "tools": [{"type": "function", "function": {"name": "f g"}}]}, 400),
        ("POST", "/v1/chat/completions", {"model": MODEL_NAME, "messages": [{"role": "user", "content": "x"}],
                                          "temperature": "hot"}, 400),
        ("POST", "/v1/chat/completions", b"{not json", 400),
        ("DELETE", "/v1/models", None, 405),
        ("GET", "/v1/nothing-here", None, 404),
    ]
    for method, path, body, status in cases:
        got, obj = http(cluster.base, method, path, body)
        assert got == status, (method, path, body, got, obj)
        check(schemas, "ErrorResponse", obj)


def test_sdk_raises_typed_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as e:
        chat(client, "x", response_format={"type": "json_schema", "json_schema": {
            "name": "x", "schema": {"type": "integer", "multipleOf": 2}}})
    assert "response_format" in str(e.value)


def test_api_keys_and_body_limit(secured_cluster, schemas):
    base = secured_cluster.base
    body = {"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    status, obj = http(base, "POST", "/v1/chat/completions", body)
    assert status == 401
    check(schemas, "ErrorResponse", obj)
    status, obj = http(base, "POST", "/v1/chat/completions", body, {"Authorization": "Bearer wrong"})
    assert status == 401
    status, obj = http(base, "POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {API_KEY}"})
    assert status == 200, obj
    big = dict(body, messages=[{"role": "user", "content": "x" * 10000}])
    status, obj = http(base, "POST", "/v1/chat/completions", big, {"Authorization": f"Bearer {API_KEY}"})
    assert status == 413
    check(schemas, "ErrorResponse", obj)
    # Health needs no key.
    assert http(base, "GET", "/health")[0] == 200


def test_the_chat_page_is_served_at_the_root(cluster):
    with urllib.request.urlopen(cluster.base + "/") as r:
        assert r.status == 200 and "text/html" in r.headers["Content-Type"]
        assert "<html" in r.read().decode().lower()
    with urllib.request.urlopen(cluster.base + "/js/app.js") as r:
        assert "javascript" in r.headers["Content-Type"]  # ES modules need a JavaScript type
    assert http(cluster.base, "GET", "/no-such-page.html")[0] == 404


def test_metrics_and_health(cluster):
    with urllib.request.urlopen(cluster.base + "/metrics") as r:
        text = r.read().decode()
    assert "shardserve_requests_total" in text
    assert 'shardserve_group_up{group="smollm2-tp2"} 1' in text
    assert http(cluster.base, "GET", "/health")[0] == 200
