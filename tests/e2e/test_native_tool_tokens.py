"""A native tool-call format whose opener is a control token, served end to end: Mistral's
[TOOL_CALLS]. No tool-trained model is among the packages we fetch, so the model here is the
committed synthetic Mistral GGUF (tests/golden/synthetic/mistral.gguf: random weights, a
byte-level vocabulary) with one control token renamed, length for length, to "[TOOL_CALLS]"
(it was <|im_start|>, the file's BOS, so the prompt also starts with it: the weights are random
anyway) and its context raised from 256 to 1024 tokens (the tools' description alone takes 200
of these byte-sized tokens), served at tp 2 with Mistral Nemo's real chat template. What runs
is the real path: the coordinator's grammar names the token, the group's token filter allows
it only there, the sampler picks it, the coordinator renders it for the parser, and the SDK
gets tool_calls."""
import json
import shutil

import jsonschema
import openai
import pytest

from conftest import ROOT, Cluster, shardserve_binary
from test_openai_api import check, raw_chunks, raw_json

SOURCE = ROOT / "tests" / "golden" / "synthetic" / "mistral.gguf"
TEMPLATE = ROOT / "model" / "chat_template" / "testdata" / "mistral_nemo.jinja"
MODEL = "synthetic-mistral"
WEATHER = {"type": "function", "function": {
    "name": "w", "parameters": {"type": "object", "properties": {"c": {"enum": ["x", "y"]}},
                                "required": ["c"], "additionalProperties": False}}}
ASK = [{"role": "user", "content": "x?"}]


def longer_context(data, n):
    """The GGUF bytes with mistral.context_length (a u32) set to n."""
    key = b"mistral.context_length" + (4).to_bytes(4, "little")  # the key, then type u32
    assert data.count(key) == 1
    at = data.index(key) + len(key)
    return data[:at] + n.to_bytes(4, "little") + data[at + 4:]


def renamed_token(data, old, new):
    """The GGUF bytes with the vocabulary entry `old` (a u64 length, then the text) renamed."""
    assert len(old) == len(new)
    entry = len(old).to_bytes(8, "little") + old
    assert data.count(entry) == 1, f"{old!r} is not exactly one vocabulary entry"
    return data.replace(entry, len(new).to_bytes(8, "little") + new)


@pytest.fixture(scope="module")
def mistral_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("native-tools")
    model = folder / "mistral-tool-calls.gguf"
    data = renamed_token(SOURCE.read_bytes(), b"<|im_start|>", b"[TOOL_CALLS]")
    model.write_bytes(longer_context(data, 1024))
    shutil.copy(TEMPLATE, folder / "template.jinja")
    config = folder / "cluster.yaml"
    config.write_text(f"""
server:
  host: 127.0.0.1
  port: 8080
  coordinator_endpoint: tcp://127.0.0.1:5555
models:
  - name: {MODEL}
    file: {model}
    task: chat
    chat_template: {folder / "template.jinja"}
groups:
  - name: mistral-tp2
    model: {MODEL}
    tp: 2
    backend: cpu
    threads_per_rank: 1
    kv_cache_mb: 16
    max_batch: 8
    max_batch_tokens: 128
""")
    c = Cluster(shardserve_binary(), config=str(config))
    yield c
    c.stop()


@pytest.fixture
def mistral(mistral_cluster):
    return openai.OpenAI(base_url=mistral_cluster.base + "/v1", api_key="unused", max_retries=0)


def create(client, **kw):
    kw.setdefault("max_tokens", 300)  # the model is random: the JSON's whitespace runs long
    kw.setdefault("temperature", 0)
    return client.chat.completions.with_raw_response.create(model=MODEL, messages=ASK,
                                                            tools=[WEATHER], **kw)


def test_a_required_call_opens_with_the_control_token(mistral, schemas):
    raw = create(mistral, tool_choice="required", parallel_tool_calls=False)
    check(schemas, "CreateChatCompletionResponse", raw_json(raw))
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "tool_calls", choice
    assert not choice.message.content, choice.message.content
    assert len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.function.name == "w" and call.id.startswith("call_")
    jsonschema.validate(json.loads(call.function.arguments),
                        WEATHER["function"]["parameters"])
    # The group generated the token itself (its text spelled out would be 12 tokens): the
    # answer's first token is the only one of its kind.
    lp = create(mistral, tool_choice="required", parallel_tool_calls=False,
                logprobs=True).parse().choices[0].logprobs
    assert lp.content[0].token == "[TOOL_CALLS]"


def test_streamed_calls_reassemble_to_the_same_call(mistral, schemas):
    whole = create(mistral, tool_choice="required",
                   parallel_tool_calls=False).parse().choices[0].message.tool_calls
    stream = create(mistral, tool_choice="required", parallel_tool_calls=False, stream=True)
    chunks = raw_chunks(stream)
    for chunk in chunks:
        check(schemas, "CreateChatCompletionStreamResponse", chunk)
    name, arguments, finish = "", "", None
    for chunk in chunks:
        for choice in chunk["choices"]:
            assert not choice["delta"].get("content"), choice
            for call in choice["delta"].get("tool_calls") or []:
                assert call["index"] == 0
                name += call.get("function", {}).get("name") or ""
                arguments += call.get("function", {}).get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    assert finish == "tool_calls"
    assert name == whole[0].function.name
    assert json.loads(arguments) == json.loads(whole[0].function.arguments)


def test_auto_never_leaves_the_opener_in_the_content(mistral):
    for seed in range(4):
        choice = create(mistral, tool_choice="auto", temperature=1.0, seed=seed,
                        max_tokens=60).parse().choices[0]
        assert "[TOOL_CALLS]" not in (choice.message.content or ""), choice
        for call in choice.message.tool_calls or []:
            assert call.function.name == "w"
