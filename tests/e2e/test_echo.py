"""`echo` with `logprobs` on /v1/completions against a real cluster (tp = 2), as evaluation
harnesses use it: `echo: true, max_tokens: 0, logprobs: 1` scores a text token by token. The
scores are checked against the group's own: a greedy continuation's logprobs equal the scores
of the same tokens when the prompt and the continuation are echoed back together."""
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import MODEL_NAME
from test_openai_api import http, raw_chunks, raw_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from test_schemas import echo_variant  # noqa: E402

EOS_BIAS = {"2": -100}  # SmolLM2's end token suppressed: generate exactly max_tokens


def check_echo(schemas, body):
    jsonschema.validate(body, echo_variant(schemas["CreateCompletionResponse"]))


def tokenize(cluster, text):
    status, body = http(cluster.base, "POST", "/tokenize",
                        {"model": MODEL_NAME, "prompt": text, "return_token_strs": True})
    assert status == 200, body
    return body["tokens"], body["token_strs"]


def test_echo_with_no_tokens_scores_the_prompt(cluster, client, schemas):
    prompt = "The quick brown fox jumps over the lazy dog."
    raw = client.completions.with_raw_response.create(
        model=MODEL_NAME, prompt=prompt, echo=True, max_tokens=0, logprobs=1)
    body = raw_json(raw)
    check_echo(schemas, body)
    choice = raw.parse().choices[0]
    assert choice.text == prompt
    assert choice.finish_reason == "length"
    assert raw.parse().usage.completion_tokens == 0
    ids, strs = tokenize(cluster, prompt)
    lp = choice.logprobs
    assert lp.tokens == strs
    assert len(lp.tokens) == raw.parse().usage.prompt_tokens == len(ids)
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(x <= 0 for x in lp.token_logprobs[1:])
    assert all(len(top) >= 1 for top in lp.top_logprobs[1:])
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
    # A likely text scores higher than the same words shuffled.
    shuffled = client.completions.create(
        model=MODEL_NAME, prompt="Dog lazy the over jumps fox brown quick the.", echo=True,
        max_tokens=0, logprobs=1)
    assert (sum(lp.token_logprobs[1:]) >
            sum(shuffled.choices[0].logprobs.token_logprobs[1:]))


def test_echoed_scores_equal_the_logprobs_of_a_greedy_continuation(cluster, client):
    prompt = "Here is a short story about a robot who learns to paint."
    generated = client.completions.create(
        model=MODEL_NAME, prompt=prompt, max_tokens=12, temperature=0, logprobs=1,
        logit_bias=EOS_BIAS)
    continuation = generated.choices[0].logprobs
    assert len(continuation.tokens) == 12
    # Scored back as token ids, so that the tokens are exactly those generated.
    prompt_ids, _ = tokenize(cluster, prompt)
    whole_ids, whole_strs = tokenize(cluster, prompt + generated.choices[0].text)
    assert whole_strs[len(prompt_ids):] == continuation.tokens, "re-tokenized differently"
    scored = client.completions.create(
        model=MODEL_NAME, prompt=whole_ids, echo=True, max_tokens=0, logprobs=1)
    lp = scored.choices[0].logprobs
    assert scored.choices[0].text == prompt + generated.choices[0].text
    assert lp.tokens[len(prompt_ids):] == continuation.tokens
    for i, token in enumerate(continuation.tokens):
        echoed = lp.token_logprobs[len(prompt_ids) + i]
        assert echoed == pytest.approx(continuation.token_logprobs[i], abs=2e-3), (i, token)
        # Greedy: each generated token is the best the group saw at its position.
        best = max(lp.top_logprobs[len(prompt_ids) + i].items(), key=lambda kv: kv[1])
        assert best[0] == token, (i, best, token)


def test_echo_then_generate_streaming_and_not(cluster, client, schemas):
    prompt = "List three colours:"
    kw = dict(model=MODEL_NAME, prompt=prompt, echo=True, max_tokens=8, temperature=0,
              logprobs=1, logit_bias=EOS_BIAS)
    whole = client.completions.with_raw_response.create(**kw)
    check_echo(schemas, raw_json(whole))
    choice = whole.parse().choices[0]
    generated = client.completions.create(**{**kw, "echo": False})
    assert choice.text == prompt + generated.choices[0].text
    n_prompt = whole.parse().usage.prompt_tokens
    assert whole.parse().usage.completion_tokens == 8
    assert len(choice.logprobs.tokens) == n_prompt + 8
    assert choice.logprobs.tokens[n_prompt:] == generated.choices[0].logprobs.tokens
    offsets = choice.logprobs.text_offset
    assert offsets == sorted(offsets) and offsets[n_prompt] == len(prompt)

    stream = client.completions.with_raw_response.create(**kw, stream=True)
    chunks = raw_chunks(stream)
    text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
    assert text == choice.text
    assert chunks[0]["choices"][0]["text"].startswith(prompt)
    tokens = [t for c in chunks if c["choices"] and c["choices"][0].get("logprobs")
              for t in c["choices"][0]["logprobs"]["tokens"]]
    assert tokens == choice.logprobs.tokens


def test_echo_without_logprobs_and_with_several_prompts_and_choices(cluster, client):
    prompts = ["One, two,", "Alpha, beta,"]
    r = client.completions.create(model=MODEL_NAME, prompt=prompts, echo=True, max_tokens=3,
                                  n=2, temperature=0.8, seed=7)
    assert len(r.choices) == 4
    for choice in r.choices:
        assert choice.text.startswith(prompts[choice.index // 2]), choice
        assert choice.logprobs is None


def test_echo_of_token_ids_renders_their_special_tokens(cluster, client):
    ids, _ = tokenize(cluster, "<|im_start|>user\nHi")
    r = client.completions.create(model=MODEL_NAME, prompt=ids, echo=True, max_tokens=0)
    assert r.choices[0].text == "<|im_start|>user\nHi"


def test_max_tokens_zero_without_echo_is_an_empty_completion(cluster, client):
    r = client.completions.create(model=MODEL_NAME, prompt="Hello", max_tokens=0)
    assert r.choices[0].text == "" and r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 0 and r.usage.prompt_tokens > 0
