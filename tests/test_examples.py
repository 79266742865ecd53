"""The scripts in examples/ run (as a user would, in a fresh process), train, and
bring both task losses down.

The torch, JAX and TensorFlow scripts use those frameworks directly (run once, in the
cross-framework session); the Keras script runs on the session's ``KERAS_BACKEND``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from multiloss import frameworks

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
STEP = re.compile(r"^step\s+(\d+)\s+mse ([\d.]+)\s+cross_entropy ([\d.]+)\s+total (-?[\d.]+)$", re.M)
LOG_VARS = re.compile(r"^log_vars \(regression, classification\): (-?[\d.]+), (-?[\d.]+)$", re.M)


def run_example(script: str, keras_backend: str | None) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("KERAS_BACKEND", None)  # the framework examples pick their own
    if keras_backend:
        env["KERAS_BACKEND"] = keras_backend
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def check_training(stdout: str) -> None:
    steps = [(int(s), float(mse), float(ce)) for s, mse, ce, _ in STEP.findall(stdout)]
    assert len(steps) >= 3 and steps[0][0] == 0 and steps[-1][0] >= 50, stdout
    (_, mse0, ce0), (_, mse1, ce1) = steps[0], steps[-1]
    assert mse1 < 0.5 * mse0 and ce1 < 0.5 * ce0, stdout
    log_vars = LOG_VARS.findall(stdout)
    assert len(log_vars) == 1, stdout
    assert all(float(v) < 0 for v in log_vars[0]), stdout  # learned: both losses fell below 1


@pytest.mark.cross_framework
@pytest.mark.parametrize(
    "script", ["multitask_torch.py", "multitask_jax.py", "multitask_tensorflow.py"]
)
def test_framework_example(script):
    check_training(run_example(script, None))


def test_keras_example():
    stdout = run_example("multitask_keras.py", frameworks.keras_backend())
    assert f"backend {frameworks.keras_backend()}" in stdout
    check_training(stdout)


def test_every_example_is_tested():
    tested = {"multitask_torch.py", "multitask_jax.py", "multitask_tensorflow.py", "multitask_keras.py"}
    assert {p.name for p in EXAMPLES.glob("multitask_*.py")} == tested
