"""POST /v1/embeddings through the official `openai` SDK against a real cluster (shardserve up:
the coordinator, the tp = 2 chat group and the all-MiniLM-L6-v2 embedding group). Embeddings
are compared with sentence-transformers' (tests/golden/embeddings/embedding_golden.json), every
response and error is validated against OpenAI's schemas."""
import base64
import json
import math
import struct

import openai
import pytest

from conftest import MODEL_NAME, ROOT
from test_openai_api import check, http, raw_json

EMBED_MODEL = "all-minilm-l6-v2"
GOLDEN = json.loads((ROOT / "tests/golden/embeddings/embedding_golden.json").read_text())


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_models_lists_both(client):
    ids = {m.id for m in client.models.list().data}
    assert {MODEL_NAME, EMBED_MODEL} <= ids


def test_embeddings_match_sentence_transformers(client, schemas):
    cases = GOLDEN["cases"]
    texts = [c["text"] for c in cases if c["text"]]
    raw = client.embeddings.with_raw_response.create(model=EMBED_MODEL, input=texts,
                                                     encoding_format="float")
    check(schemas, "CreateEmbeddingResponse", raw_json(raw))
    r = raw.parse()
    assert [d.index for d in r.data] == list(range(len(texts)))
    golden = {c["text"]: c for c in cases}
    for text, d in zip(texts, r.data):
        assert len(d.embedding) == GOLDEN["dim"]
        assert cosine(d.embedding, golden[text]["embedding"]) >= 0.999, text
    assert r.usage.prompt_tokens == sum(len(golden[t]["tokens"]) for t in texts)
    assert r.usage.total_tokens == r.usage.prompt_tokens


def test_base64_is_the_same_floats(client):
    text = "The quick brown fox jumps over the lazy dog."
    as_float = client.embeddings.create(model=EMBED_MODEL, input=text).data[0].embedding
    raw = client.embeddings.with_raw_response.create(model=EMBED_MODEL, input=text,
                                                     encoding_format="base64")
    encoded = raw_json(raw)["data"][0]["embedding"]
    decoded = struct.unpack(f"<{GOLDEN['dim']}f", base64.b64decode(encoded))
    assert list(decoded) == pytest.approx(as_float, rel=0, abs=0)


def test_token_id_inputs(client):
    case = next(c for c in GOLDEN["cases"] if len(c["tokens"]) > 5)
    one = client.embeddings.create(model=EMBED_MODEL, input=case["tokens"])
    many = client.embeddings.create(model=EMBED_MODEL, input=[case["tokens"], case["tokens"][:3]])
    assert cosine(one.data[0].embedding, case["embedding"]) >= 0.999
    assert one.data[0].embedding == many.data[0].embedding  # batching changes nothing
    assert many.usage.prompt_tokens == len(case["tokens"]) + 3


def test_errors(cluster, client, schemas):
    base = cluster.base
    cases = [
        ({"model": EMBED_MODEL, "input": ""}, 400, "input"),
        ({"model": EMBED_MODEL, "input": ["ok", ""]}, 400, "input[1]"),
        ({"model": EMBED_MODEL, "input": []}, 400, "input"),
        ({"model": EMBED_MODEL, "input": ["x"] * 2049}, 400, "input"),
        ({"model": EMBED_MODEL, "input": "hello", "dimensions": 128}, 400, "dimensions"),
        ({"model": EMBED_MODEL, "input": "hello", "encoding_format": "int8"}, 400,
         "encoding_format"),
        ({"model": EMBED_MODEL, "input": [[1, 2, 999999]]}, 400, "input"),
        ({"model": MODEL_NAME, "input": "hello"}, 400, "model"),
        ({"model": "nope", "input": "hello"}, 404, "model"),
    ]
    for body, status, param in cases:
        got, obj = http(base, "POST", "/v1/embeddings", body)
        assert got == status, (body if len(json.dumps(body)) < 200 else param, got, obj)
        check(schemas, "ErrorResponse", obj)
        assert obj["error"]["param"] == param, obj
    # An embedding model in a chat request.
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=EMBED_MODEL,
                                       messages=[{"role": "user", "content": "hi"}])
    assert "embedding model" in e.value.body["message"]
    assert http(base, "GET", "/v1/embeddings")[0] == 405


def test_too_long_inputs_are_refused_or_truncated(client):
    long_text = "word " * 400  # ~400 tokens; the model embeds at most 256
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model=EMBED_MODEL, input=["short", long_text])
    message = e.value.body["message"]
    assert "input[1]" in message and "256" in message and "402" in message, message
    # The truncate extension embeds the first 256 tokens, as sentence-transformers does.
    at_max = next(c for c in GOLDEN["cases"] if len(c["tokens"]) == GOLDEN["max_seq_length"])
    r = client.embeddings.create(model=EMBED_MODEL, input=at_max["text"] + " more words here",
                                 extra_body={"truncate": True})
    assert r.usage.prompt_tokens == 256
    assert cosine(r.data[0].embedding, at_max["embedding"]) >= 0.999
