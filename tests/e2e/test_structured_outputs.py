"""Structured outputs through the official SDK against a real cluster: response_format
json_object and json_schema (with the SDK's Pydantic `parse`), a suite of schemas whose every
output must validate, streaming, and the 400 for a schema keyword the grammar cannot enforce.
The default model (SmolLM2-135M) is small: what it writes is not always sensible, but under
the grammar it is always valid. It is also verbose, so the schemas bound their strings and
arrays (as real ones usually do): the grammar then closes the answer within max_tokens."""
import json
from typing import List, Literal

import jsonschema
import openai
import pydantic
import pytest

from conftest import MODEL_NAME
from test_openai_api import check, raw_json


def ask(client, prompt, response_format, **kw):
    return client.chat.completions.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": prompt}],
        response_format=response_format, max_tokens=kw.pop("max_tokens", 300),
        temperature=kw.pop("temperature", 0), **kw)


def test_json_object_mode_gives_an_object(client, schemas):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL_NAME,
        messages=[{"role": "user",
                   "content": "Give a short JSON object for a cat with a name and an age."}],
        response_format={"type": "json_object"}, max_tokens=300, temperature=0)
    check(schemas, "CreateChatCompletionResponse", raw_json(raw))
    r = raw.parse()
    assert r.choices[0].finish_reason == "stop", r.choices[0]
    assert isinstance(json.loads(r.choices[0].message.content), dict)


Short = pydantic.constr(max_length=24)


class Address(pydantic.BaseModel):
    city: Short
    country: Short


class Person(pydantic.BaseModel):
    name: Short
    age: int = pydantic.Field(ge=0, le=120)
    role: Literal["engineer", "artist", "doctor"]
    address: Address
    nicknames: List[Short] = pydantic.Field(max_length=3)


def test_parse_with_a_pydantic_model(client):
    r = client.chat.completions.parse(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": "Invent a person who lives in Paris."}],
        response_format=Person, max_tokens=200, temperature=0)
    choice = r.choices[0]
    assert choice.finish_reason == "stop", choice
    person = choice.message.parsed
    assert isinstance(person, Person), choice.message.content
    assert person.role in ("engineer", "artist", "doctor")


SCHEMA_SUITE = {
    "nested_objects": {
        "type": "object",
        "properties": {"user": {"type": "object",
                                "properties": {"id": {"type": "integer"},
                                               "tags": {"type": "array", "maxItems": 4,
                                                        "items": {"type": "string",
                                                                  "maxLength": 16}}},
                                "required": ["id", "tags"], "additionalProperties": False}},
        "required": ["user"], "additionalProperties": False},
    "array_bounds": {
        "type": "object",
        "properties": {"colours": {"type": "array", "items": {"type": "string", "maxLength": 12},
                                   "minItems": 2, "maxItems": 3}},
        "required": ["colours"], "additionalProperties": False},
    "enums_and_const": {
        "type": "object",
        "properties": {"size": {"enum": ["small", "medium", "large"]},
                       "kind": {"const": "shirt"}, "count": {"type": "integer", "minimum": 1,
                                                              "maximum": 9}},
        "required": ["size", "kind", "count"], "additionalProperties": False},
    "any_of": {
        "type": "object",
        "properties": {"value": {"anyOf": [{"type": "number"}, {"type": "null"},
                                           {"type": "boolean"}]}},
        "required": ["value"], "additionalProperties": False},
    "optional_fields": {
        "type": "object",
        "properties": {"title": {"type": "string", "maxLength": 30},
                       "year": {"type": "integer", "minimum": 1900, "maximum": 2100},
                       "rating": {"type": "number", "minimum": 0, "maximum": 10}},
        "required": ["title"], "additionalProperties": False},
    "string_formats": {
        "type": "object",
        "properties": {"day": {"type": "string", "format": "date"},
                       "id": {"type": "string", "format": "uuid"},
                       "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"}},
        "required": ["day", "id", "code"], "additionalProperties": False},
    "shared_defs": {
        "$defs": {"point": {"type": "object",
                            "properties": {"x": {"type": "integer", "minimum": -99,
                                                 "maximum": 99},
                                           "y": {"type": "integer", "minimum": -99,
                                                 "maximum": 99}},
                            "required": ["x", "y"], "additionalProperties": False}},
        "type": "object",
        "properties": {"start": {"$ref": "#/$defs/point"}, "end": {"$ref": "#/$defs/point"}},
        "required": ["start", "end"], "additionalProperties": False},
}


@pytest.mark.parametrize("name", list(SCHEMA_SUITE))
def test_every_output_validates(client, name):
    schema = SCHEMA_SUITE[name]
    for temperature, seed in ((0, 0), (1.0, 1), (1.0, 2)):
        r = ask(client, f"Fill in this JSON for a {name.replace('_', ' ')} example.",
                {"type": "json_schema",
                 "json_schema": {"name": name, "schema": schema, "strict": True}},
                temperature=temperature, seed=seed, max_tokens=400)
        choice = r.choices[0]
        assert choice.finish_reason == "stop", (name, choice)
        jsonschema.validate(json.loads(choice.message.content), schema)


def test_streamed_json_reassembles(client):
    schema = SCHEMA_SUITE["nested_objects"]
    fmt = {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}
    whole = ask(client, "A user as JSON.", fmt).choices[0].message.content
    pieces, finish = [], None
    for chunk in ask(client, "A user as JSON.", fmt, stream=True):
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
    assert "".join(pieces) == whole and finish == "stop"
    jsonschema.validate(json.loads(whole), schema)


@pytest.mark.parametrize("keyword,schema", [
    ("multipleOf", {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 3}}}),
    ("patternProperties", {"type": "object", "patternProperties": {"^x": {"type": "string"}}}),
    ("not", {"not": {"type": "string"}}),
])
def test_an_unenforceable_keyword_is_a_400_naming_it(client, keyword, schema):
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, "x", {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}})
    body = e.value.body
    assert f"'{keyword}'" in body["message"], body
    assert body["param"] == "response_format.json_schema.schema", body
