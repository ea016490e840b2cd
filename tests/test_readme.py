"""The README's examples run, so they cannot drift (issue 10)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"

pytestmark = pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_test_command():
    assert "<!-- test-command -->" in README.read_text()


@pytest.mark.parametrize("block", python_blocks())
def test_readme_python_runs(block, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "('roi', 'hemisphere', 'x', 'y', 'z') bool" in out
    assert (tmp_path / "synth_masks.zarr").is_dir() and (tmp_path / "synth_masks.nii.gz").exists()


def test_readme_extract_example_runs(tmp_path):
    """The README's `roixr extract` block, with this interpreter's bin folder for .venv/bin."""
    import os
    import subprocess
    import sys

    text = README.read_text()
    block = re.search(r"<!-- extract-example -->\n```bash\n(.*?)```", text, flags=re.S)
    assert block is not None, "the README lost its extract example"
    script = block.group(1).replace(".venv/bin/", f"{Path(sys.executable).parent}/")
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                         capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "16 run(s) extracted" in out.stdout
    assert "16 complete, 0 unfinished, 0 failed" in out.stdout
