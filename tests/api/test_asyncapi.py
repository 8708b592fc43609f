"""``GET /v1/asyncapi.json``: the AsyncAPI 3.0 document of ``/v1/ws`` matches the code that serves it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spotlab.api import asyncapi
from spotlab.api.channels import PRIVATE_CHANNELS, PUBLIC_CHANNELS
from spotlab.api.routes import ws

OPS = {"subscribe", "unsubscribe", "auth", "place_order", "cancel_order", "cancel_all", "place_order_list",
       "cancel_order_list", "replace_quotes", "ping"}  # fmt: skip


@pytest.fixture
def document(api) -> dict[str, Any]:
    answer = api.get("/v1/asyncapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    return answer.json()


def resolve(document: dict, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        assert part in node, f"{ref}: no {part!r}"
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for key, value in node.items() if key != "$ref" for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def payload_schema(document: dict, message: dict) -> dict:
    return resolve(document, message["payload"]["$ref"])


def test_the_document_is_asyncapi_3_and_names_the_server_the_client_reached(document):
    assert document["asyncapi"] == "3.0.0"
    assert document["defaultContentType"] == "application/json"
    assert document["servers"] == {"spotlab": {"host": "testserver", "pathname": "/v1/ws", "protocol": "ws"}}
    assert "1008 slow consumer" in document["info"]["description"]


def test_every_reference_in_the_document_resolves(document):
    found = refs(document)
    assert len(found) > 50
    for ref in found:
        resolve(document, ref)


def test_every_channel_the_streams_serve_is_documented_with_its_address(document):
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {"/v1/ws", "candles:{market}:{interval}"} | {f"{c}:{{market}}" for c in PUBLIC_CHANNELS} | set(
        PRIVATE_CHANNELS
    )
    for name in PUBLIC_CHANNELS:
        assert document["channels"][name]["parameters"]["market"]["examples"] == ["BTC-USDT"]


def test_every_op_the_server_accepts_and_every_message_type_it_sends_is_documented(document):
    consts = {"op": set(), "type": set()}
    for message in document["components"]["messages"].values():
        properties = payload_schema(document, message)["properties"]
        for key in consts:
            if key in properties and "const" in properties[key]:
                consts[key].add(properties[key]["const"])
    assert consts["op"] == set(ws._OP_NAMES) == OPS
    assert consts["type"] == {model.model_fields["type"].annotation.__args__[0] for model in asyncapi.SERVER_MODELS}
    receiving = [op for op in document["operations"].values() if op["action"] == "receive"]
    assert len(receiving) == len(ws._OP_NAMES)
    for operation in receiving:  # each op is answered on the socket, and may be refused
        replies = [ref.rsplit("/", 1)[1] for ref in refs(operation["reply"]["messages"])]
        assert "error" in replies and len(replies) == 2


def test_operations_send_and_receive_messages_of_their_own_channel(document):
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name


def test_each_payload_schema_lists_the_fields_of_its_model(document):
    for name, message in document["components"]["messages"].items():
        model = asyncapi.MESSAGES[name]
        assert set(payload_schema(document, message)["properties"]) == set(model.model_fields), name


def test_every_message_has_examples_and_each_validates_against_the_model_the_code_uses(document):
    messages = document["components"]["messages"]
    assert set(messages) == set(asyncapi.MESSAGES)
    for name, message in messages.items():
        model = asyncapi.MESSAGES[name]
        assert message["examples"], f"{name} has no example"
        for example in message["examples"]:
            payload = example["payload"]
            if model in ws.CLIENT_OPS:  # parsed as the endpoint parses a frame
                assert type(ws.CLIENT_MESSAGES.validate_json(json.dumps(payload))) is model, name
            else:
                assert type(asyncapi.SERVER_MESSAGES.validate_python(payload)) is model, name


def test_a_wrong_example_would_be_caught():
    bad_op = {"op": "place_order", "id": 7, "order": {"market": "BTC-USDT", "side": "buy", "type": "limit",
              "price": 65000.5, "quantity": "0.5"}}  # fmt: skip
    with pytest.raises(ValueError, match="as strings"):
        ws.CLIENT_MESSAGES.validate_json(json.dumps(bad_op))
    trade = {"id": 1, "price": 65000.5, "quantity": "1", "taker_side": "buy", "time": "t"}
    bad_trade = {"type": "trades", "channel": "trades:BTC-USDT", "market": "BTC-USDT", "sequence": 1, "trades": [trade]}
    with pytest.raises(ValueError):
        asyncapi.SERVER_MESSAGES.validate_python(bad_trade)
