"""ruff (lint and format) as part of the suite, so style never drifts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ruff() -> list[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is not installed; `pip install -e .[test]` installs it")
    return [exe]


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]])
def test_ruff(args):
    out = subprocess.run([*ruff(), *args, "roixr", "tests", "asv_bench"], cwd=ROOT,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy():
    """``mypy roixr`` clean (the configuration, with per-import silencing of packages
    without stubs, is in pyproject.toml)."""
    exe = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    if exe is None:
        pytest.fail("mypy is not installed; `pip install -e .[test]` installs it")
    out = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_warning_is_a_roixr_warning():
    """Every ``warnings.warn`` in roixr names a category derived from RoixrWarning, so one
    filter silences roixr and nothing else."""
    import ast

    from roixr import errors

    calls = 0
    for path in (ROOT / "roixr").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "warnings.warn"):
                continue
            calls += 1
            args = [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "category")]
            assert args, f"{path}:{node.lineno}: warnings.warn without a category"
            category = getattr(errors, ast.unparse(args[0]), None)
            assert isinstance(category, type) and issubclass(category, errors.RoixrWarning), (
                f"{path}:{node.lineno}: {ast.unparse(args[0])} is not a RoixrWarning"
            )
    assert calls >= 8
