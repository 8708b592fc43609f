"""The README's examples run as written: its Python blocks in order, its shell commands for real."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from spotlab.api.app import create_app
from spotlab.settings import Settings
from tests.api.live import running

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_python_examples_run_in_order(tmp_path, monkeypatch, capsys):
    """The API examples talk to a real server on 127.0.0.1, as ``spotlab serve`` would run it."""
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=tmp_path / "server", password_memory_kib=1024, password_time_cost=1)
    with running(create_app(settings)) as url:
        monkeypatch.setenv("SPOTLAB_URL", url)
        namespace: dict = {}
        python = blocks("python")
        assert len(python) >= 5
        for number, code in enumerate(python, 1):
            exec(compile(code, f"README.md python block {number}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "Balance(available=" in out
    assert "201 NEW" in out and "200 True" in out and "422 VALIDATION_ERROR body.price" in out
    assert "SCOPE_REQUIRED" in out
    assert "NEW [['64000.00', '0.01000']] True" in out
    assert "57.92" in out  # the indicators example


def test_the_readme_names_the_two_commands():
    shell = blocks("sh")
    assert "pip install -e . && spotlab markets" in shell[0]
    assert "pip install -e '.[test]' && pytest" in shell[1]


def test_the_readme_run_command_works():
    result = subprocess.run([sys.executable, "-m", "spotlab.cli", "markets"], capture_output=True, text=True)
    assert result.returncode == 0 and "BTC/USDT" in result.stdout
