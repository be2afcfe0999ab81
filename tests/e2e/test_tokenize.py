"""POST /tokenize and /detokenize against a real cluster (vLLM's shape): text and chat
prompts, the count against the chat endpoint's own prompt_tokens, round trips, and errors."""
from conftest import MODEL_NAME
from test_openai_api import chat, http


def test_tokenize_text_and_detokenize_round_trip(cluster):
    status, body = http(cluster.base, "POST", "/tokenize",
                        {"model": MODEL_NAME, "prompt": "Hello, world!", "return_token_strs": True})
    assert status == 200, body
    assert body["count"] == len(body["tokens"]) == len(body["token_strs"]) > 0
    assert body["max_model_len"] > 0
    assert "".join(body["token_strs"]).endswith("Hello, world!"), body["token_strs"]
    status, back = http(cluster.base, "POST", "/detokenize",
                        {"model": MODEL_NAME, "tokens": body["tokens"]})
    assert status == 200 and back["prompt"].endswith("Hello, world!"), back


def test_tokenize_messages_counts_what_chat_counts(cluster, client):
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Name a colour."}]
    status, body = http(cluster.base, "POST", "/tokenize",
                        {"model": MODEL_NAME, "messages": messages})
    assert status == 200, body
    r = client.chat.completions.create(model=MODEL_NAME, messages=messages, max_tokens=1)
    assert body["count"] == r.usage.prompt_tokens


def test_tokenize_errors(cluster):
    cases = [
        ({"prompt": "x"}, 400, "model"),
        ({"model": "nope", "prompt": "x"}, 404, None),
        ({"model": MODEL_NAME}, 400, "prompt"),
        ({"model": MODEL_NAME, "prompt": "x", "messages": []}, 400, "prompt"),
        ({"model": MODEL_NAME, "prompt": 5}, 400, "prompt"),
        ({"model": MODEL_NAME, "prompt": "x", "colour": 1}, 400, "colour"),
        ({"model": MODEL_NAME, "messages": [{"role": "user"}]}, 400, "messages[0].content"),
    ]
    for body, want, param in cases:
        status, err = http(cluster.base, "POST", "/tokenize", body)
        assert status == want, (body, err)
        if param:
            assert err["error"]["param"] == param, (body, err)
    status, err = http(cluster.base, "POST", "/detokenize",
                       {"model": MODEL_NAME, "tokens": [1, 10 ** 9]})
    assert status == 400 and err["error"]["param"] == "tokens[1]", err
    status, err = http(cluster.base, "GET", "/tokenize")
    assert status == 405, err
