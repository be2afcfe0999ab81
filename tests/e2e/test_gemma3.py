"""Gemma 3 270M (a real GGUF file of another family: sliding-window and global layers, one KV
head replicated over the ranks) served through the OpenAI API by `shardserve up` with
configs/gemma3.yaml, checked with the official SDK and against the schemas."""
import json

import jsonschema
import pytest

from conftest import ROOT, Cluster, shardserve_binary

GEMMA = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
GOLDEN = ROOT / "tests" / "golden" / "gemma3_generation_golden.json"
CONFIG = "configs/gemma3.yaml"


@pytest.fixture(scope="module")
def gemma():
    if not GEMMA.exists():
        pytest.skip(f"{GEMMA} absent: run scripts/fetch-models")
    c = Cluster(shardserve_binary(), config=CONFIG)
    yield c
    c.stop()


@pytest.fixture
def gemma_client(gemma):
    import openai
    return openai.OpenAI(base_url=gemma.base + "/v1", api_key="unused", max_retries=0)


def model_name(client):
    names = [m.id for m in client.models.list().data]
    assert len(names) == 1, names
    return names[0]


def golden_chat_cases():
    cases = json.loads(GOLDEN.read_text())["cases"]
    return [c for c in cases if c["kind"] == "chat"]


def test_chat_completion_follows_the_schema_and_the_template(gemma_client, schemas):
    name = model_name(gemma_client)
    # The golden file's first chat case: llama.cpp's prompt for it, rendered with the Gemma 3
    # template, is the count the API must report (one BOS, the template's).
    case = golden_chat_cases()[0]
    messages = [{"role": "user", "content": "What is the tallest mountain in the world?"}]
    resp = gemma_client.chat.completions.with_raw_response.create(
        model=name, messages=messages, max_tokens=24, temperature=0)
    body = json.loads(resp.text)
    jsonschema.validate(body, schemas["CreateChatCompletionResponse"])
    assert body["usage"]["prompt_tokens"] == len(case["prompt_tokens"])
    text = body["choices"][0]["message"]["content"]
    assert text.strip(), body
    assert body["choices"][0]["finish_reason"] in ("stop", "length")


def test_streaming_gives_the_same_text(gemma_client):
    name = model_name(gemma_client)
    messages = [{"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "Name three colours."}]
    whole = gemma_client.chat.completions.create(model=name, messages=messages, max_tokens=20,
                                                 temperature=0)
    parts = []
    for chunk in gemma_client.chat.completions.create(model=name, messages=messages,
                                                      max_tokens=20, temperature=0,
                                                      stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    assert "".join(parts) == whole.choices[0].message.content


def test_roles_that_do_not_alternate_are_a_clear_400(gemma_client):
    import openai
    name = model_name(gemma_client)
    with pytest.raises(openai.BadRequestError) as e:
        gemma_client.chat.completions.create(
            model=name, max_tokens=4,
            messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert "alternate" in str(e.value)
