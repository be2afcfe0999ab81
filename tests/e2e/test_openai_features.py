"""Request parameters and limits of the OpenAI API through the official SDK against a real
cluster: n > 1, seeds across choices, log-probabilities, the context limit, keep-alive comments
while a long prompt is prefilled, and (on a deliberately tight second cluster) 429 under load
and the per-request timeout. Responses and errors are validated against OpenAI's schemas."""
import http.client as httpclient
import json
import re
import time

import openai
import pytest

from conftest import MODEL, MODEL_NAME, Cluster, shardserve_binary
from test_openai_api import chat, check, http, raw_chunks, raw_json

EOS_BIAS = {"2": -100}  # SmolLM2's end tokens suppressed: generate exactly max_tokens


def test_n_choices_non_streaming(client, schemas):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": "Name a colour."}], n=2,
        max_tokens=12, temperature=0)
    check(schemas, "CreateChatCompletionResponse", raw_json(raw))
    r = raw.parse()
    assert [c.index for c in r.choices] == [0, 1]
    # Greedy: both choices are the same text, and usage counts both.
    assert r.choices[0].message.content == r.choices[1].message.content
    alone = chat(client, "Name a colour.", max_tokens=12, temperature=0)
    assert r.choices[0].message.content == alone.choices[0].message.content
    assert r.usage.prompt_tokens == alone.usage.prompt_tokens
    assert r.usage.completion_tokens == 2 * alone.usage.completion_tokens

    c = client.completions.create(model=MODEL_NAME, prompt="Once upon a time", n=3,
                                  max_tokens=8, temperature=0)
    assert sorted(ch.index for ch in c.choices) == [0, 1, 2]
    assert len({ch.text for ch in c.choices}) == 1


def test_n_choices_streaming(client, schemas):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": "Say hello."}], n=2,
        max_tokens=10, temperature=0, stream=True, stream_options={"include_usage": True})
    chunks = raw_chunks(raw)
    for c in chunks:
        check(schemas, "CreateChatCompletionStreamResponse", c)
    assert len({c["id"] for c in chunks}) == 1
    texts, roles, finishes = {0: "", 1: ""}, {}, {}
    for c in chunks:
        for ch in c["choices"]:
            delta = ch["delta"]
            if "role" in delta:
                roles[ch["index"]] = delta["role"]
            texts[ch["index"]] += delta.get("content") or ""
            if ch.get("finish_reason"):
                finishes[ch["index"]] = ch["finish_reason"]
    assert roles == {0: "assistant", 1: "assistant"}
    assert set(finishes) == {0, 1}
    assert texts[0] == texts[1] != ""
    usage = chunks[-1]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_seeded_choices_differ_from_each_other_and_repeat(client):
    kw = dict(n=2, max_tokens=24, temperature=1.0, seed=77, logit_bias=EOS_BIAS)
    a = [c.message.content for c in chat(client, "Write a line of a poem.", **kw).choices]
    b = [c.message.content for c in chat(client, "Write a line of a poem.", **kw).choices]
    assert a == b  # the same seed gives the same choices
    assert a[0] != a[1]  # each choice samples its own random stream
    other = [c.message.content for c in chat(client, "Write a line of a poem.",
                                             **dict(kw, seed=78)).choices]
    assert other != a


def test_chat_logprobs(client, schemas):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": "What is 2 + 2?"}],
        max_tokens=8, temperature=0, logprobs=True, top_logprobs=3)
    check(schemas, "CreateChatCompletionResponse", raw_json(raw))
    r = raw.parse()
    content = r.choices[0].logprobs.content
    # One entry per generated text token (an end-of-turn token counts in usage, has no text).
    ended = r.choices[0].finish_reason == "stop"
    assert len(content) == r.usage.completion_tokens - (1 if ended else 0)
    assert "".join(t.token for t in content) == r.choices[0].message.content
    for t in content:
        assert t.logprob <= 0
        assert bytes(t.bytes).decode("utf-8", "replace") == t.token
        tops = t.top_logprobs
        assert len(tops) == 3
        assert [x.logprob for x in tops] == sorted((x.logprob for x in tops), reverse=True)
        assert tops[0].token == t.token and tops[0].logprob == pytest.approx(t.logprob)  # greedy
    # Streaming carries the same log-probabilities, chunk by chunk.
    streamed = client.chat.completions.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": "What is 2 + 2?"}],
        max_tokens=8, temperature=0, logprobs=True, top_logprobs=3, stream=True)
    tokens = [t for c in streamed if c.choices and c.choices[0].logprobs
              for t in c.choices[0].logprobs.content]
    assert [t.token for t in tokens] == [t.token for t in content]
    assert [t.logprob for t in tokens] == pytest.approx([t.logprob for t in content])


def test_completion_logprobs(client, schemas):
    raw = client.completions.with_raw_response.create(
        model=MODEL_NAME, prompt="The capital of France is", max_tokens=6, temperature=0,
        logprobs=2)
    check(schemas, "CreateCompletionResponse", raw_json(raw))
    lp = raw.parse().choices[0].logprobs
    text = raw.parse().choices[0].text
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 6
    assert "".join(lp.tokens) == text
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(6)]
    for top in lp.top_logprobs:
        assert len(top) == 2


def test_prompt_longer_than_the_context_is_a_400_with_the_numbers(client, schemas):
    long_prompt = "word " * 9000  # SmolLM2's context is 8192 tokens
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL_NAME, prompt=long_prompt, max_tokens=4)
    message = e.value.body["message"]
    numbers = [int(n) for n in re.findall(r"\d+", message)]
    assert 8192 in numbers and any(n >= 9000 for n in numbers), message
    assert e.value.body["code"] == "context_length_exceeded"
    assert e.value.body["param"] == "prompt"
    check(schemas, "ErrorResponse", e.value.response.json())


def sse_lines(base, body):
    """(seconds since the request, line) for every line of a streamed response."""
    host, port = base.removeprefix("http://").split(":")
    conn = httpclient.HTTPConnection(host, int(port), timeout=120)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", json.dumps(body),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    lines = []
    while line := resp.readline():
        lines.append((time.perf_counter() - t0, line.decode().rstrip("\n")))
    conn.close()
    return lines


def test_keep_alive_comments_while_a_long_prompt_is_prefilled(cluster):
    # ~2000 prompt tokens take several seconds to prefill on two cores; the stream sends SSE
    # comments meanwhile, so proxies and clients do not give up on a silent connection.
    body = {"model": MODEL_NAME, "prompt": "The quick brown fox jumps over the lazy dog. " * 200,
            "max_tokens": 2, "stream": True}
    lines = sse_lines(cluster.base, body)
    first_data = next(i for i, (_, line) in enumerate(lines) if line.startswith("data: "))
    comments = [t for t, line in lines[:first_data] if line.startswith(":")]
    assert comments, f"no keep-alive before the first data line (came at {lines[first_data][0]:.1f} s)"
    assert lines[-2][1] == "data: [DONE]" or lines[-1][1] == "data: [DONE]"


@pytest.fixture(scope="module")
def tight_cluster():
    if not MODEL.exists():
        pytest.fail(f"{MODEL} absent: run scripts/fetch-models")
    c = Cluster(shardserve_binary(), ["--set", "server.max_queued_requests=2",
                                      "--set", "server.request_timeout_s=6"])
    yield c
    c.stop()


def test_requests_beyond_the_queue_limit_get_429(tight_cluster, schemas):
    client = openai.OpenAI(base_url=tight_cluster.base + "/v1", api_key="x", max_retries=0)
    # Two streams in flight fill the limit of 2...
    streams = [client.completions.create(model=MODEL_NAME, prompt=f"Story {i}:", max_tokens=500,
                                         logit_bias=EOS_BIAS, stream=True) for i in range(2)]
    for s in streams:
        next(iter(s))
    # ...so the next request is refused at once, with an OpenAI rate-limit error.
    with pytest.raises(openai.RateLimitError) as e:
        client.completions.create(model=MODEL_NAME, prompt="One more", max_tokens=2)
    check(schemas, "ErrorResponse", e.value.response.json())
    assert "2 requests in flight" in e.value.body["message"]
    for s in streams:
        s.close()
    # Closing the streams frees their places: a new request is accepted and served.
    deadline = time.time() + 10
    while True:
        try:
            r = client.completions.create(model=MODEL_NAME, prompt="Hi", max_tokens=2)
            break
        except openai.RateLimitError:
            assert time.time() < deadline, "the closed streams' places were not freed"
            time.sleep(0.2)
    assert r.choices[0].finish_reason in ("stop", "length")


def test_requests_past_the_timeout_end_with_an_error(tight_cluster, schemas):
    body = {"model": MODEL_NAME, "prompt": "Count:", "max_tokens": 4000, "temperature": 0,
            "logit_bias": EOS_BIAS}
    t0 = time.time()
    status, obj = http(tight_cluster.base, "POST", "/v1/completions", body)
    assert status == 500 and "timed out" in obj["error"]["message"], (status, obj)
    check(schemas, "ErrorResponse", obj)
    assert 5.5 < time.time() - t0 < 15
    # Streaming: the stream ends with an error event, not a hang.
    lines = sse_lines(tight_cluster.base, dict(body, stream=True))
    data = [json.loads(line[6:]) for _, line in lines
            if line.startswith("data: ") and line != "data: [DONE]"]
    assert "error" in data[-1] and "timed out" in data[-1]["error"]["message"]
    check(schemas, "ErrorResponse", data[-1])
    # The timed-out sequences were freed: a new request is served at once.
    r = http(tight_cluster.base, "POST", "/v1/completions",
             {"model": MODEL_NAME, "prompt": "Hi", "max_tokens": 2})
    assert r[0] == 200
