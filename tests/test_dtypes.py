"""Half precision: float16 and bfloat16 inputs give finite values and gradients, and the
loss comes back in the input dtype, for every registered loss in every adapter."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from loss_cases import ADAPTERS_ONCE, all_case_params


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize("case", all_case_params())
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_dtype_kept_values_and_gradients_finite(adapter, case, dtype):
    if adapter.framework == "jax" and dtype == "float64":
        pytest.skip("float64 in JAX needs jax_enable_x64")
    fn = adapter.fn(case.loss)
    tensors = [
        adapter.tensor(a, dtype) if i in case.float_args else adapter.tensor(a)
        for i, a in enumerate(case.arrays)
    ]
    out = fn(*tensors, **case.params)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    value, grads = adapter.value_and_grad(
        case.loss, *case.arrays, wrt=case.grad_args, dtype=dtype, **case.params
    )
    assert np.all(np.isfinite(value)), value
    for grad in grads:
        assert np.all(np.isfinite(grad)), grad
