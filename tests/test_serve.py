"""``spotlab serve`` as a user runs it: a real process on 127.0.0.1, stopped with Ctrl-C, started again."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import psycopg
import pytest

from spotlab.store.postgres import split_url
from tests.api.live import free_port


def start(data_dir, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "SPOTLAB_PASSWORD_MEMORY_KIB": "1024",  # cheap hashing: the test is about the process, not argon2
        "SPOTLAB_PASSWORD_TIME_COST": "1",
    }
    command = [sys.executable, "-m", "spotlab.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_ready(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"spotlab serve exited: {process.communicate()}")
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("spotlab serve did not become ready")


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)  # Ctrl-C
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return out, err


@pytest.mark.slow
def test_serve_runs_stops_on_ctrl_c_and_resumes_its_state(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start(tmp_path, port)
    wait_ready(url, process)
    api = httpx.Client(base_url=url)
    assert api.post("/v1/accounts", json={"username": "erin", "password": "correct horse battery"}).status_code == 201
    token = api.post("/v1/auth/token", json={"username": "erin", "password": "correct horse battery"}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert api.post("/v1/deposits", json={"asset": "USDT", "amount": "500"}, headers=headers).status_code == 201
    order = {"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "2000", "quantity": "0.1"}
    placed = api.post("/v1/orders", json=order, headers=headers).json()
    # a second server on the same data directory is refused, clearly, while the first runs
    second = subprocess.run(
        [sys.executable, "-m", "spotlab.cli", "serve", "--port", str(free_port()), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == 2 and "error STORE_LOCKED" in second.stderr and "Traceback" not in second.stderr
    out, err = stop(process)
    assert f"http://127.0.0.1:{port}" in out
    assert "Traceback" not in err
    assert (tmp_path / "exchange.sqlite").exists() and (tmp_path / "secret.key").stat().st_mode & 0o077 == 0

    process = start(tmp_path, port)
    try:
        wait_ready(url, process)
        # same secret key: the old token still works; same store: the order and balances are back
        assert api.get(f"/v1/orders/{placed['id']}", headers=headers).json()["status"] == "NEW"
        assert Decimal(api.get("/v1/balances", headers=headers).json()["USDT"]["locked"]) == Decimal("200.2")
        assert Decimal(api.get("/v1/deposits", headers=headers).json()["items"][0]["amount"]) == 500
    finally:
        stop(process)


def test_serve_refuses_bad_settings_with_a_clear_message():
    result = subprocess.run(
        [sys.executable, "-m", "spotlab.cli", "serve", "--port", "99999"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "error INVALID_ARGUMENT: port" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_serve_speaks_https_with_hsts_given_a_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    env = {**os.environ, "SPOTLAB_TLS_CERT": str(cert), "SPOTLAB_TLS_KEY": str(key)}
    command = [sys.executable, "-m", "spotlab.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=ssl.create_default_context(cafile=cert))
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"no HTTPS server: {process.communicate()}")
                time.sleep(0.1)
        assert answer.json() == {"status": "ok"}
        assert answer.headers["strict-transport-security"].startswith("max-age=")
    finally:
        stop(process)


@pytest.mark.slow
def test_serve_flags_choose_the_store_and_the_cors_origins(pg_url, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "spotlab.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path),
               "--store", pg_url, "--cors-origin", "https://app.example", "--secret-key", "k" * 40]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(url, process)
        preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        answer = httpx.options(f"{url}/v1/orders", headers=preflight)
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        assert httpx.post(f"{url}/v1/accounts", json={"username": "gina", "password": "correct horse battery"})
    finally:
        out, _ = stop(process)
    assert f"store: {pg_url}" in out
    assert not (tmp_path / "secret.key").exists()  # the secret came from the flag
    conninfo, schema = split_url(pg_url)
    with psycopg.connect(conninfo) as conn:  # the login is in PostgreSQL, in the store's schema
        assert conn.execute(f"SELECT username FROM {schema}.users").fetchall() == [("gina",)]
