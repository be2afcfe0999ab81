"""A real local cluster for the end-to-end tests: `shardserve up` (coordinator + a tp = 2
worker group under mpirun) on the default model, on free loopback ports."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shardserve_cluster import (  # noqa: E402,F401  (the tests import these from conftest)
    MODEL, MODEL_NAME, ROOT, Cluster, free_port, shardserve_binary)

SCHEMAS = ROOT.parent / "shared" / "openai" / "openai_schemas.json"
API_KEY = "test-key-123"


@pytest.fixture(scope="session")
def cluster():
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    c = Cluster(shardserve_binary())
    yield c
    c.stop()


@pytest.fixture(scope="session")
def secured_cluster():
    if not MODEL.exists():
        pytest.skip(f"{MODEL} absent: run scripts/fetch-models")
    c = Cluster(shardserve_binary(), ["--set", f"server.api_keys=[{API_KEY}]",
                                      "--set", "server.max_body_bytes=4096"])
    yield c
    c.stop()


@pytest.fixture(scope="session")
def schemas():
    if not SCHEMAS.exists():
        pytest.skip(f"{SCHEMAS} absent (the shared/ folder beside the repository)")
    return json.loads(SCHEMAS.read_text())["schemas"]


@pytest.fixture
def client(cluster):
    import openai
    return openai.OpenAI(base_url=cluster.base + "/v1", api_key="unused", max_retries=0)
