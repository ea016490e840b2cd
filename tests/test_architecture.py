"""The import rule (docs/architecture.md), enforced: import-linter's contracts in
pyproject.toml, checked on roixr and shown to fail on a deliberately added back-import, and
the two parts import-linter cannot state (the accessor's registration, private names)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "roixr"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package and pyproject.toml found in ``root``."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("import-linter is not installed; `pip install -e .[test]` installs it")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([exe, "--no-cache"], cwd=root, env=env, capture_output=True,
                          text=True)  # fmt: skip


def test_the_import_rule_holds():
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout, out.stdout


@pytest.mark.parametrize(
    ("module", "back_import", "broken"),
    [
        # the core reaching up into the xarray layer: a circle between packages, and forbidden
        ("sampling/engine.py", "import roixr.masks", ["No import circle", "never imports"]),
        # a circle between two files of one package
        ("sampling/chunk.py", "from roixr.sampling import plan", ["No import circle"]),
        # the accessor importing a module of roixr (a circle through forms)
        ("accessor.py", "from roixr import convert", ["No import circle", "leaf"]),
    ],
)
def test_the_rule_fails_on_a_back_import(tmp_path, module, back_import, broken):
    """The same check on a copy of roixr with one import added breaks the contracts."""
    shutil.copytree(PACKAGE, tmp_path / "roixr", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "roixr" / module, "a") as f:
        f.write(f"\n{back_import}  # added by the test\n")
    out = lint_imports(tmp_path)
    assert out.returncode != 0, out.stdout
    report = out.stdout.split("Broken contracts")[-1]
    for name in broken:
        assert any(name in line and "BROKEN" in line for line in _status_lines(out.stdout)), (
            name,
            out.stdout,
        )
    assert report.strip(), out.stdout


def _status_lines(text: str) -> list[str]:
    """import-linter's one line per contract (its name may wrap onto a second line)."""
    lines = text.splitlines()
    return [" ".join(lines[i - 1 : i + 1]) for i, line in enumerate(lines)
            if line.endswith(("KEPT", "BROKEN"))]  # fmt: skip


def test_the_accessor_imports_no_roixr_module():
    """Importing the accessor (without xarray imported first) loads no other roixr module
    than the package itself, its errors and version."""
    code = (
        "import sys, roixr.accessor; "
        "print(sorted(m for m in sys.modules if m == 'roixr' or m.startswith('roixr.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)  # fmt: skip
    loaded = ast.literal_eval(out.stdout.strip())
    assert set(loaded) == {"roixr", "roixr._version", "roixr.accessor", "roixr.errors"}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def test_one_module_registers_the_accessor():
    """Only roixr.forms imports roixr.accessor (every xarray-layer module imports forms)."""
    registering = {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*.py")
        for node in _imports(path)
        if (isinstance(node, ast.Import) and any(a.name == "roixr.accessor" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and node.module == "roixr" and any(
            a.name == "accessor" for a in node.names))
    }  # fmt: skip
    assert registering == {"roixr/forms.py"}
    importers_of_forms = {
        path.stem
        for path in PACKAGE.glob("*.py")
        for node in _imports(path)
        if isinstance(node, ast.ImportFrom) and node.module == "roixr.forms"
    }
    assert {"convert", "masks", "nifti", "report"} <= importers_of_forms


def test_no_private_name_crosses_a_module():
    """No ``from roixr.x import _y``: a name another module needs is public (documented)."""
    crossing = [
        f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import {alias.name}"
        for path in PACKAGE.rglob("*.py")
        for node in _imports(path)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("roixr")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert not crossing, "\n".join(crossing)
