"""The conformance suite: every reference case in multiloss/verify/data on every
adapter (the Keras one on each session's KERAS_BACKEND; torch, jax and tensorflow once,
in the cross_framework session), plus coverage and reproducibility of the reference
files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from loss_cases import ADAPTERS_ONCE

import multiloss
from multiloss.verify import encoding, reference, runner

ROOT = Path(__file__).resolve().parent.parent
CASES = reference.load_cases()
ALL_CASES = [case for loss in sorted(CASES) for case in CASES[loss]]
REGISTERED = set(multiloss.available_losses())


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_reference_case(adapter, case):
    if case.loss not in REGISTERED:
        pytest.fail(f"reference cases for {case.loss!r}, which is not a registered loss")
    result = runner.run_case(case, adapter.name)
    assert result.ok, f"{case.id} on {adapter.name} ({case.source}): {result.message}"


def test_every_registered_loss_has_cases():
    missing = sorted(REGISTERED - set(CASES))
    assert not missing, (
        f"registered losses without reference cases: {missing}. Add a builder in "
        "conformance/cases/<family>.py and run `python -m conformance.generate`."
    )


def test_every_case_file_names_a_registered_loss():
    assert not sorted(set(CASES) - REGISTERED)


@pytest.mark.parametrize("loss", sorted(CASES))
def test_cases_cover_half_precision(loss):
    dtypes = {case.dtype for case in CASES[loss]}
    assert {"float32", "float16", "bfloat16"} <= dtypes, f"{loss}: case dtypes {sorted(dtypes)}"


@pytest.mark.parametrize("loss", sorted(CASES))
def test_cases_have_gradients_and_tolerances(loss):
    for case in CASES[loss]:
        assert case.source, case.id
        assert set(case.grads) == set(case.wrt), case.id
        for what in ("value", "grad"):
            assert 0 < case.tolerance[what]["rtol"] <= 0.05 and 0 < case.tolerance[what]["atol"] <= 0.01
    differentiable = any(a.dtype.kind == "f" for case in CASES[loss] for a in case.inputs.values())
    if differentiable:  # (a sampler has no floating input)
        assert any(case.wrt for case in CASES[loss]), f"{loss}: no case compares gradients"


def test_seed_rows_of_api_md_are_cases():
    seed = {c.name: c for c in CASES["cross_entropy"]}["api_reference"]
    np.testing.assert_array_equal(seed.value, [1.9643688, 0.17425454])
    np.testing.assert_array_equal(seed.inputs["y_pred"], np.float32([[2, 0.5, 1], [0.1, 1, 3]]))


def test_array_encoding_round_trips():
    arrays = [
        np.array([[0.1, -2.5e-8, 3e38]], np.float32),
        np.array([np.nan, np.inf, -np.inf, 1 / 3], np.float64),
        np.array(7, np.int64),
        np.zeros((0, 3), np.float32),
        np.array([True, False]),
    ]
    for array in arrays:
        back = encoding.decode_array(encoding.encode_array(array))
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)
    param = (np.arange(3), [0.25, 0.75], None, "softmax")
    back = encoding.decode_param(encoding.encode_param(param))
    np.testing.assert_array_equal(back[0], np.arange(3))
    assert back[1:] == ([0.25, 0.75], None, "softmax")


def test_a_wrong_value_fails_with_the_worst_entry_named():
    case = CASES["cross_entropy"][0]
    broken = reference.Case(**{**case.__dict__, "value": case.value * 1.01})
    result = runner.run_case(broken, "torch")
    assert not result.ok
    assert "value: max abs err" in result.message and "expected" in result.message
    assert result.value.of_tolerance > 1


@pytest.mark.cross_framework
def test_regenerating_reproduces_the_committed_files():
    """``python -m conformance.generate`` (deterministic) gives the committed files byte for byte."""
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.generate", "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
