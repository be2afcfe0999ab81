"""Speculative decoding by prompt lookup against a real cluster (tp = 2): the shared cluster
speculates (speculative_tokens defaults to 4); a second one runs with it off. On input-grounded
work, where the answer repeats its input, drafts are accepted (/metrics), and every token, and
its log-probability, is the same as without speculation, greedy or seeded."""
import re
import time
import urllib.request

import pytest

from conftest import MODEL, MODEL_NAME, Cluster, shardserve_binary

PASSAGE = ("The committee met on Tuesday to review the budget for the new library. After a long "
           "discussion, the members agreed to fund the reading room, the children's corner and "
           "the repair of the roof, and to postpone the purchase of new computers until spring.")
QUOTE = [{"role": "user", "content": f"Repeat this text exactly, word for word:\n\n{PASSAGE}"}]


@pytest.fixture(scope="module")
def plain_cluster():
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    c = Cluster(shardserve_binary(), ["--set", "groups[0].speculative_tokens=0"])
    yield c
    c.stop()


@pytest.fixture
def plain(plain_cluster):
    import openai
    return openai.OpenAI(base_url=plain_cluster.base + "/v1", api_key="unused", max_retries=0)


def metric(base, name):
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(v) for v in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M))


def answer(client, **kw):
    r = client.chat.completions.create(model=MODEL_NAME, messages=QUOTE, max_tokens=80,
                                       logprobs=True, **kw)
    choice = r.choices[0]
    return choice.message.content, [t.logprob for t in choice.logprobs.content]


@pytest.mark.parametrize("sampling", [{"temperature": 0}, {"temperature": 0.8, "seed": 77}])
def test_speculation_changes_no_token(cluster, client, plain, sampling):
    before = metric(cluster.base, "shardserve_spec_decode_accepted_tokens_total")
    fast_text, fast_logprobs = answer(client, **sampling)
    plain_text, plain_logprobs = answer(plain, **sampling)
    assert fast_text == plain_text
    assert fast_logprobs == pytest.approx(plain_logprobs, abs=1e-5)
    if sampling["temperature"] == 0:
        assert PASSAGE[:40] in fast_text  # the model does quote: drafts had something to match
        time.sleep(1.5)  # a heartbeat carries the counts
        assert metric(cluster.base, "shardserve_spec_decode_accepted_tokens_total") > before
    assert metric(plain_cluster_base(plain), "shardserve_spec_decode_draft_tokens_total") == 0


def plain_cluster_base(plain_client):
    return str(plain_client.base_url).removesuffix("/v1/")
