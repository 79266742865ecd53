"""One framework at a time, as a user of one framework runs multiloss.

With ``KERAS_BACKEND`` unset, ``import multiloss.torch`` (or ``multiloss.jax``) makes
its own framework Keras' backend: where TensorFlow is installed but unused it is not
imported and prints no log lines, and where it is not installed nothing fails.
``multiloss check`` with only torch runs the Keras adapter on torch and names the
frameworks it skipped. (The real single-framework installs, in fresh venvs, are the
nox session ``single_framework``.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "single_framework_probe.py"
EXPECTED = [1.9643688, 0.17425454]

pytestmark = pytest.mark.cross_framework  # subprocesses with KERAS_BACKEND unset: run once


def user_env(tmp_path: Path) -> dict[str, str]:
    """A user's environment: no KERAS_BACKEND, no ~/.keras/keras.json, and no
    TF_CPP_MIN_LOG_LEVEL (a TensorFlow import would print its log lines)."""
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")}
    env["KERAS_HOME"] = str(tmp_path / "keras_home")
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_adapter_first_imports_no_tensorflow_and_prints_nothing(framework, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(PROBE), framework], capture_output=True, text=True,
        env=user_env(tmp_path), cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == "", f"import multiloss.{framework} printed on stderr:\n{proc.stderr[-3000:]}"
    assert len(proc.stdout.splitlines()) == 1, f"printed more than the result:\n{proc.stdout}"
    result = json.loads(proc.stdout)
    assert result["keras_backend"] == framework
    # (Keras itself imports jax where it is installed, for its orbax checkpoint callback)
    assert "tensorflow" not in result["modules"] and framework in result["modules"], result["modules"]
    assert result["values"] == pytest.approx(EXPECTED, abs=1e-5)


def test_check_with_only_torch_runs_keras_on_torch_and_names_the_skipped(tmp_path):
    """TensorFlow and JAX hidden (``None`` in ``sys.modules``: not found, not importable)."""
    code = (
        "import sys\n"
        "sys.modules.update(tensorflow=None, jax=None, jaxlib=None)\n"
        "from multiloss.verify.cli import main\n"
        "sys.exit(main(['check', '--loss', 'smooth_labels,cross_entropy', '--no-progress']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env=user_env(tmp_path), cwd=tmp_path, timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-3000:]
    assert proc.stderr == "", proc.stderr[-3000:]
    lines = out.splitlines()
    assert next(line for line in lines if line.startswith("frameworks:")).startswith(
        "frameworks: keras (torch) 3.15"
    )
    assert "skipped jax: jax is not installed (pip install 'multiloss[jax]')" in lines
    assert "skipped tensorflow: tensorflow is not installed (pip install 'multiloss[tensorflow-cpu]')" in lines
    keras_line = next(line for line in lines if line.startswith("keras runs on torch:"))
    assert "KERAS_BACKEND" in keras_line
    assert "FAIL" not in out and lines[-1].startswith("PASS: 2 losses x 2 frameworks")
