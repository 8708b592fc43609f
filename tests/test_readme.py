"""The README's examples run as written: its Python blocks in order, its shell commands for real."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_python_examples_run_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    python = blocks("python")
    assert len(python) >= 5
    for number, code in enumerate(python, 1):
        exec(compile(code, f"README.md python block {number}", "exec"), namespace)
    assert "Balance(available=" in capsys.readouterr().out


def test_the_readme_names_the_two_commands():
    shell = blocks("sh")
    assert "pip install -e . && spotlab markets" in shell[0]
    assert "pip install -e '.[test]' && pytest" in shell[1]


def test_the_readme_run_command_works():
    result = subprocess.run([sys.executable, "-m", "spotlab.cli", "markets"], capture_output=True, text=True)
    assert result.returncode == 0 and "BTC/USDT" in result.stdout
