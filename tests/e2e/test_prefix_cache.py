"""Automatic prefix caching against a real cluster (tp = 2): a request that starts with the
tokens of an earlier one reuses its KV blocks (usage.prompt_tokens_details.cached_tokens), and
its tokens are exactly those it gets without the cache, greedy or seeded. Salts keep requests
apart; /metrics counts the lookups and hits. Each test starts its prompts with a fresh nonce, so
that nothing another test cached can hit."""
import re
import uuid

from conftest import MODEL_NAME
from test_openai_api import check, raw_json

BLOCK = 16  # positions per KV block (the group's block size)
HISTORY = ("You are a careful assistant for a bicycle repair shop. " * 30).strip()


def system(nonce):
    return {"role": "system", "content": f"[{nonce}] {HISTORY}"}


def ask(client, messages, **kw):
    kw.setdefault("max_tokens", 24)
    kw.setdefault("temperature", 0)
    raw = client.chat.completions.with_raw_response.create(model=MODEL_NAME, messages=messages,
                                                           **kw)
    return raw, raw.parse()


def cached(response):
    return response.usage.prompt_tokens_details.cached_tokens


def test_a_repeated_prompt_reuses_its_blocks_and_answers_the_same(client, schemas):
    messages = [system(uuid.uuid4()), {"role": "user", "content": "How do I fix a flat tyre?"}]
    _, cold = ask(client, messages)
    raw, warm = ask(client, messages)
    check(schemas, "CreateChatCompletionResponse", raw_json(raw))
    assert cached(cold) == 0
    n = warm.usage.prompt_tokens
    # Every full block but the one holding the last prompt token.
    assert cached(warm) == (n - 1) // BLOCK * BLOCK, (cached(warm), n)
    assert warm.choices[0].message.content == cold.choices[0].message.content


def test_seeded_sampling_is_the_same_with_and_without_the_cache(client):
    messages = [system(uuid.uuid4()), {"role": "user", "content": "Name three tools."}]
    kw = dict(temperature=0.9, seed=1234, max_tokens=32)
    _, cold = ask(client, messages, **kw)
    _, warm = ask(client, messages, **kw)
    assert cached(cold) == 0 and cached(warm) > 0
    assert warm.choices[0].message.content == cold.choices[0].message.content


def test_the_next_turn_reuses_the_history_and_the_answer(client):
    nonce = uuid.uuid4()
    turn1 = [system(nonce), {"role": "user", "content": "What pressure for road tyres?"}]
    _, first = ask(client, turn1, max_tokens=40)
    turn2 = turn1 + [{"role": "assistant", "content": first.choices[0].message.content},
                     {"role": "user", "content": "And for a mountain bike?"}]
    _, second = ask(client, turn2)
    # The whole first prompt's full blocks at least: the history is not computed again.
    assert cached(second) >= (first.usage.prompt_tokens - 1) // BLOCK * BLOCK
    assert cached(second) < second.usage.prompt_tokens


def test_cache_salts_keep_requests_apart(client):
    messages = [system(uuid.uuid4()), {"role": "user", "content": "Hello."}]
    _, a = ask(client, messages, extra_body={"cache_salt": "tenant-a"})
    _, b = ask(client, messages, extra_body={"cache_salt": "tenant-b"})
    _, a2 = ask(client, messages, extra_body={"cache_salt": "tenant-a"})
    _, unsalted = ask(client, messages)
    assert cached(a) == 0 and cached(b) == 0 and cached(unsalted) == 0
    assert cached(a2) > 0
    assert a.choices[0].message.content == b.choices[0].message.content


def test_completions_report_cached_tokens_too(client):
    prompt = f"[{uuid.uuid4()}] {HISTORY} The first rule of repair is"
    cold = client.completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=8, temperature=0)
    warm = client.completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=8, temperature=0)
    assert cold.usage.prompt_tokens_details.cached_tokens == 0
    assert warm.usage.prompt_tokens_details.cached_tokens > 0
    assert warm.choices[0].text == cold.choices[0].text


def metric(text, name):
    return sum(float(v) for v in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M))


def test_metrics_count_lookups_and_hits(cluster, client):
    import time
    import urllib.request
    messages = [system(uuid.uuid4()), {"role": "user", "content": "Thanks!"}]
    ask(client, messages)
    ask(client, messages)
    time.sleep(1.5)  # a group heartbeat carries the counts
    with urllib.request.urlopen(cluster.base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    queries = metric(text, "shardserve_prefix_cache_queries_total")
    hits = metric(text, "shardserve_prefix_cache_hits_total")
    assert queries > 0 and 0 < hits <= queries, (queries, hits)
    assert metric(text, "shardserve_group_kv_cached_blocks") > 0
