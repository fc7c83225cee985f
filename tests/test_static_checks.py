"""The project's static checks run with the tests: lint, format, types and the import layers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.exists():
        pytest.fail(f"{tool} is not installed in {BIN}; install the test extra: pip install -e '.[test]'")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_finds_nothing():
    out = run("ruff", "check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_code_is_formatted():
    out = run("ruff", "format", "--no-cache", "--check", ".")
    assert out.returncode == 0, "run `ruff format .`:\n" + out.stdout + out.stderr


def test_mypy_finds_no_type_errors():
    out = run("mypy", "--cache-dir", str(ROOT / ".mypy_cache"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_layers_hold():
    """The decision core imports no component and does no I/O; components do not import each other."""
    out = run("lint-imports", "--no-cache")
    assert out.returncode == 0, out.stdout + out.stderr
