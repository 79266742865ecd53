"""Every registered loss computed with torch, jax and tensorflow in one process.

The migration check of API.md: the three adapters side by side, whatever
``KERAS_BACKEND`` is, give the same values and gradients (float32 inputs). Run once
(nox session ``cross_framework``), not per backend.
"""

from __future__ import annotations

import numpy as np
import pytest
from loss_cases import ISSUE_2_LOSSES, all_case_params, cases_for

from multiloss import core
from multiloss.verify import frameworks

pytestmark = pytest.mark.cross_framework

FRAMEWORKS = ("torch", "jax", "tensorflow")


def _reductions(name: str) -> tuple:
    return ("none", "mean", "sum") if core.get_spec(name).has_reduction else (None,)


@pytest.mark.parametrize("case", all_case_params())
def test_values_and_gradients_agree_across_frameworks(case):
    for reduction in _reductions(case.loss):
        params = dict(case.params)
        if reduction is not None:
            params["reduction"] = reduction
        results = {}
        for framework in FRAMEWORKS:
            fn = frameworks.adapter_function(framework, case.loss)
            results[framework] = frameworks.value_and_grad(
                framework, lambda *t, fn=fn, params=params: fn(*t, **params), case.arrays, case.grad_args
            )
        value, grads = results["torch"]
        assert np.all(np.isfinite(value)), (case.id, reduction)
        for framework in FRAMEWORKS[1:]:
            other_value, other_grads = results[framework]
            assert other_value.shape == value.shape, (framework, case.id, reduction)
            np.testing.assert_allclose(
                other_value, value, rtol=1e-5, atol=1e-6, err_msg=f"{framework} {case.id} {reduction}"
            )
            for g, other in zip(grads, other_grads, strict=False):
                assert np.all(np.isfinite(g)), (case.id, reduction)
                np.testing.assert_allclose(
                    other, g, rtol=1e-5, atol=1e-6, err_msg=f"{framework} grad {case.id} {reduction}"
                )


@pytest.mark.parametrize("name", ISSUE_2_LOSSES)
def test_issue_2_losses_have_generic_cases(name):
    if name not in core.registry():
        pytest.skip(f"{name} is not registered yet")
    assert cases_for(name), f"loss_cases.py builds no inputs for {name}"


def test_seed_row_in_all_three_frameworks_at_once():
    logits = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
    labels = np.array([1, 2])
    for framework in FRAMEWORKS:
        fn = frameworks.adapter_function(framework, "cross_entropy")
        out = fn(frameworks.to_tensor(framework, logits), frameworks.to_tensor(framework, labels), reduction="none")
        assert type(out).__module__.split(".")[0] in {"torch": ("torch",), "jax": ("jax", "jaxlib"), "tensorflow": ("tensorflow",)}[framework]
        np.testing.assert_allclose(frameworks.to_numpy(out), [1.9643688, 0.17425454], atol=1e-6)
