"""schemathesis against the served OpenAPI document: no 5xx, and every answer as documented.

A real uvicorn server on 127.0.0.1 with a durable SQLite store; schemathesis (its CLI,
as a user would run it) generates requests from ``/v1/openapi.json`` for every
operation, authenticated as a funded user, and checks status codes, content types,
headers and bodies against the schema.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from spotlab.api.app import create_app
from spotlab.settings import Settings
from tests.api.live import running

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance"
)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path):
    settings = Settings(
        secret_key="schemathesis-secret-0123456789abcdef",
        data_dir=tmp_path,
        password_memory_kib=1024,
        password_time_cost=1,
        rate_limit_per_minute=1_000_000,
        rate_limit_ip_per_minute=1_000_000,
    )
    with running(create_app(settings)) as url:
        client = httpx.Client(base_url=url)
        password = "correct horse battery"
        assert client.post("/v1/accounts", json={"username": "fuzz", "password": password}).status_code == 201
        token = client.post("/v1/auth/token", json={"username": "fuzz", "password": password}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for asset, amount in (("USDT", "100000"), ("BTC", "10"), ("ETH", "100")):
            deposited = client.post("/v1/deposits", json={"asset": asset, "amount": amount}, headers=headers)
            assert deposited.status_code == 201, deposited.text
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{url}/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                CHECKS,
                "--max-examples",
                "25",
                "--seed",
                "20261121",
                "--phases",
                "examples,coverage,fuzzing",
                "--no-color",
                "--workers",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,  # schemathesis keeps its example database in the working directory
        )
        health = client.get("/readyz")
        spec = client.get("/v1/openapi.json").json()
    operations = sum(len(methods) for methods in spec["paths"].values())
    summary = result.stdout[-4000:]
    assert result.returncode == 0, summary + result.stderr[-2000:]
    assert f"Tested: {operations}" in summary, summary  # every operation was exercised
    assert health.status_code == 200  # and the server is still fine afterwards
