#!/usr/bin/env python3
"""Validates api/'s response bodies against OpenAI's official JSON schemas.

Runs api_dump_examples (one JSON line per example: {"schema", "name", "body"}) and checks
each body against its schema from /work/shared/openai/openai_schemas.json (or --schemas).
Beyond the schema, objects may only carry keys the schema names (OpenAI's schemas leave
additionalProperties open, so a typo like "finish_reasons" would otherwise pass), and a base64
embedding list must decode to the float32 bits of its float twin (same name, "(float)").

Exit codes: 0 all valid, 1 a body is invalid, 77 skipped (jsonschema or the schema file is
missing; CTest reports it as skipped).

Usage: test_schemas.py --dump build/api/api_dump_examples [--schemas FILE]
"""

import argparse
import base64
import copy
import json
import os
import struct
import subprocess
import sys

SKIP = 77


def strict(schema):
    """A copy of `schema` where every object with `properties` forbids other keys."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def stream_variant(schema):
    """Completions stream chunks, which the spec only describes in words (it has no chunk
    schema for this endpoint): finish_reason is null until a choice ends, and with
    stream_options.include_usage every chunk but the last carries "usage": null ("All other
    chunks will also include a usage field, but with a null value")."""
    schema = copy.deepcopy(schema)
    choice = schema["properties"]["choices"]["items"]
    reason = choice["properties"]["finish_reason"]
    choice["properties"]["finish_reason"] = {"anyOf": [reason, {"type": "null"}]}
    usage = schema["properties"]["usage"]
    schema["properties"]["usage"] = {"anyOf": [usage, {"type": "null"}]}
    return schema


def base64_variant(schema):
    """Embedding lists with encoding_format "base64", which the spec only describes in words
    ("Can be either `float` or `base64`"): each embedding is a string, the base64 of its
    little-endian float32 values, instead of an array of numbers."""
    schema = copy.deepcopy(schema)
    item = schema["properties"]["data"]["items"]
    item["properties"]["embedding"] = {
        "type": "string",
        "pattern": r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    }
    return schema


def reasoning_variant(schema):
    """Chat answers of reasoning models, an extension OpenAI's API does not have: vLLM's and
    DeepSeek's "reasoning_content" (a string) on the message and on a chunk's delta, beside
    the content. Only examples marked #reasoning may carry it."""
    schema = copy.deepcopy(schema)
    choice = schema["properties"]["choices"]["items"]["properties"]
    key = "message" if "message" in choice else "delta"
    choice[key]["properties"]["reasoning_content"] = {"type": "string"}
    return schema


def echo_variant(schema):
    """Completions with echo and logprobs: the prompt's first token has no logprob, so its
    token_logprobs and top_logprobs entries are null (as OpenAI's API and vLLM answer; the
    schema only lists numbers and objects). Only examples marked #echo may carry them."""
    schema = copy.deepcopy(schema)
    logprobs = schema["properties"]["choices"]["items"]["properties"]["logprobs"]
    for option in logprobs["anyOf"]:
        for key in ("token_logprobs", "top_logprobs"):
            if key in option.get("properties", {}):
                items = option["properties"][key]["items"]
                option["properties"][key]["items"] = {"anyOf": [items, {"type": "null"}]}
    return schema


def float32_bits(values):
    return struct.pack(f"<{len(values)}f", *values)


def check_base64_twin(body, twin):
    """A base64 embedding list decodes (as OpenAI's SDKs do) to the same float32 bits as its
    float twin's numbers; returns the problems found."""
    if twin is None:
        return ["no float example to compare with"]
    problems = []
    if len(body["data"]) != len(twin["data"]):
        problems.append(f"{len(body['data'])} embeddings, the float form has {len(twin['data'])}")
    for item, float_item in zip(body["data"], twin["data"]):
        raw = base64.b64decode(item["embedding"], validate=True)
        if raw != float32_bits(float_item["embedding"]):
            problems.append(f"data[{item['index']}]: base64 decodes to "
                            f"{list(struct.unpack(f'<{len(raw) // 4}f', raw))}, "
                            f"float form is {float_item['embedding']}")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dump", required=True, help="path of api_dump_examples")
    parser.add_argument("--schemas", default="/work/shared/openai/openai_schemas.json")
    args = parser.parse_args()

    try:
        import jsonschema
    except ImportError:
        print("SKIP: the Python module 'jsonschema' is not installed (pip install jsonschema)")
        return SKIP
    if not os.path.exists(args.schemas):
        print(f"SKIP: schema file {args.schemas} not found")
        return SKIP

    with open(args.schemas, encoding="utf-8") as f:
        schemas = json.load(f)["schemas"]

    out = subprocess.run([args.dump], check=True, capture_output=True, text=True).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    if not lines:
        print("FAIL: api_dump_examples printed nothing")
        return 1

    failures = 0
    seen = set()
    by_name = {example["name"]: example["body"] for example in lines}
    for example in lines:
        name, schema_name, body = example["name"], example["schema"], example["body"]
        base = schema_name.split("#")[0]
        seen.add(base)
        schema = schemas[base]
        if schema_name.endswith("#stream"):
            schema = stream_variant(schema)
        if schema_name.endswith("#base64"):
            schema = base64_variant(schema)
        if schema_name.endswith("#reasoning"):
            schema = reasoning_variant(schema)
        if schema_name.endswith("#echo"):
            schema = echo_variant(schema)
        validator_class = jsonschema.validators.validator_for(schema)
        errors = sorted(validator_class(strict(schema)).iter_errors(body), key=str)
        if not errors and schema_name.endswith("#base64"):
            twin = by_name.get(name.replace("(base64)", "(float)"))
            problems = check_base64_twin(body, twin)
            if problems:
                failures += 1
                print(f"FAIL {name} ({schema_name}): does not match its float form:")
                for problem in problems[:5]:
                    print(f"    {problem}")
                continue
        if errors:
            failures += 1
            print(f"FAIL {name} ({schema_name}):")
            for error in errors[:5]:
                path = "/".join(str(p) for p in error.absolute_path)
                print(f"    at /{path}: {error.message}")
            print(f"    body: {json.dumps(body)}")
        else:
            print(f"ok   {name} ({schema_name})")

    expected = {"CreateChatCompletionResponse", "CreateChatCompletionStreamResponse",
                "CreateCompletionResponse", "CreateEmbeddingResponse", "ListModelsResponse",
                "Model", "ErrorResponse"}
    missing = expected - seen
    if missing:
        failures += 1
        print(f"FAIL no examples for {sorted(missing)}")
    print(f"{len(lines)} examples, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
