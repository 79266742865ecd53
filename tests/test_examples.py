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

from multiloss.verify import frameworks

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


# --- box regression (GIoU + smooth L1) -------------------------------------------------

BOX_STEP = re.compile(
    r"^step\s+(\d+)\s+giou ([\d.]+)\s+smooth_l1 ([\d.]+)\s+mean_iou ([\d.]+)$", re.M
)
BOX_EXAMPLES = ["boxes_torch.py", "boxes_jax.py", "boxes_tensorflow.py"]


def check_box_training(stdout: str) -> None:
    steps = [(int(s), float(g), float(l1), float(iou)) for s, g, l1, iou in BOX_STEP.findall(stdout)]
    assert len(steps) >= 3 and steps[0][0] == 0 and steps[-1][0] >= 150, stdout
    (_, giou0, l10, _), (_, giou1, l11, iou1) = steps[0], steps[-1]
    assert giou1 < 0.5 * giou0 and l11 < 0.1 * l10, stdout
    assert iou1 > 0.6, stdout  # the predicted boxes overlap their targets


@pytest.mark.cross_framework
@pytest.mark.parametrize("script", BOX_EXAMPLES)
def test_box_framework_example(script):
    check_box_training(run_example(script, None))


def test_box_keras_example():
    stdout = run_example("boxes_keras.py", frameworks.keras_backend())
    assert f"backend {frameworks.keras_backend()}" in stdout
    check_box_training(stdout)


def test_every_box_example_is_tested():
    scripts = {p.name for p in EXAMPLES.glob("boxes_*.py")} - {"boxes_data.py"}
    assert scripts == {*BOX_EXAMPLES, "boxes_keras.py"}


# --- segmentation (Dice + cross entropy) ------------------------------------------------

SEGMENTATION_STEP = re.compile(
    r"^step\s+(\d+)\s+dice ([\d.]+)\s+cross_entropy ([\d.]+)\s+pixel_accuracy ([\d.]+)$", re.M
)
SEGMENTATION_EXAMPLES = ["segmentation_torch.py", "segmentation_jax.py", "segmentation_tensorflow.py"]


def check_segmentation_training(stdout: str) -> None:
    steps = [(int(s), float(d), float(ce), float(acc)) for s, d, ce, acc in SEGMENTATION_STEP.findall(stdout)]
    assert len(steps) >= 3 and steps[0][0] == 0 and steps[-1][0] >= 40, stdout
    (_, dice0, ce0, _), (_, dice1, ce1, accuracy) = steps[0], steps[-1]
    assert dice1 < 0.5 * dice0 and ce1 < 0.5 * ce0, stdout
    assert accuracy > 0.9, stdout  # the masks are recovered


@pytest.mark.cross_framework
@pytest.mark.parametrize("script", SEGMENTATION_EXAMPLES)
def test_segmentation_framework_example(script):
    check_segmentation_training(run_example(script, None))


@pytest.mark.cross_framework
def test_segmentation_keras_example():
    """Once (the cross-framework session's backend): the Keras adapter is the same on
    every backend, and the multi-task Keras example already runs on each."""
    backend = frameworks.keras_backend()
    stdout = run_example("segmentation_keras.py", backend)
    assert f"backend {backend}" in stdout
    check_segmentation_training(stdout)


def test_every_segmentation_example_is_tested():
    scripts = {p.name for p in EXAMPLES.glob("segmentation_*.py")} - {"segmentation_data.py"}
    assert scripts == {*SEGMENTATION_EXAMPLES, "segmentation_keras.py"}


# --- metric learning (ArcFace on scikit-learn's digits) ----------------------------------

METRIC_STEP = re.compile(r"^step\s+(\d+)\s+arcface ([\d.]+)$", re.M)
METRIC_ACCURACY = re.compile(
    r"^held-out accuracy: nearest class centre ([\d.]+)\s+cosine logits ([\d.]+)$", re.M
)
METRIC_EXAMPLES = ["metric_torch.py", "metric_jax.py", "metric_tensorflow.py"]


def check_metric_training(stdout: str) -> None:
    steps = [(int(s), float(loss)) for s, loss in METRIC_STEP.findall(stdout)]
    assert len(steps) >= 3 and steps[0][0] == 0 and steps[-1][0] >= 200, stdout
    assert steps[-1][1] < 0.05 * steps[0][1], stdout  # s=16, m=0.3: ~10 at the start
    accuracy = METRIC_ACCURACY.findall(stdout)
    assert len(accuracy) == 1, stdout
    centre, logit = map(float, accuracy[0])
    assert centre > 0.9 and logit > 0.9, stdout  # chance is 0.1 (10 digits)


@pytest.mark.cross_framework
@pytest.mark.parametrize("script", METRIC_EXAMPLES)
def test_metric_framework_example(script):
    check_metric_training(run_example(script, None))


def test_metric_keras_example():
    stdout = run_example("metric_keras.py", frameworks.keras_backend())
    assert f"backend {frameworks.keras_backend()}" in stdout
    check_metric_training(stdout)


def test_every_metric_example_is_tested():
    scripts = {p.name for p in EXAMPLES.glob("metric_*.py")} - {"metric_data.py"}
    assert scripts == {*METRIC_EXAMPLES, "metric_keras.py"}
