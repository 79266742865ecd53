"""The README's examples run as written: each Python block in a fresh process, and the
`multiloss compare` commands on the batch the walkthrough saves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.cross_framework
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]], capture_output=True, text=True,
        cwd=tmp_path, env=env, timeout=300,
    )
    assert result.returncode == 0, f"README block {index} failed:\n{BLOCKS[index]}\n{result.stderr[-3000:]}"


@pytest.mark.cross_framework
def test_readme_compare_examples_run(tmp_path):
    """The README's `multiloss compare` commands, on the batch its Python example saves."""
    from test_docs_examples import compare_commands, run_examples

    text = (ROOT / "README.md").read_text()
    commands = compare_commands(text)
    writers = [block for block in BLOCKS if "np.savez" in block]
    assert commands and writers, "the README lost its `multiloss compare` walkthrough"
    run_examples(writers, commands, tmp_path, "README.md")
