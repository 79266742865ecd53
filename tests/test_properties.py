"""Property tests (hypothesis, bounded): the classes of input that fuzzing found bugs
in (issue 13) — small integer label dtypes, NaN in every tensor and vector parameter,
static shapes unknown until run time, traced hyper-parameters and ties — over every
registered loss with generic inputs (``loss_cases``) and every framework.

References: the framework-independent float64 NumPy formula where one is cheap, else
agreement between torch, jax and tensorflow (each already checked against the peers by
the conformance suite), and the value of the same call in a plain dtype or eagerly.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loss_cases import INTEGER_LABEL_LOSSES, all_case_params

from multiloss import core
from multiloss.verify import frameworks

pytestmark = pytest.mark.cross_framework

FRAMEWORKS = ("torch", "jax", "tensorflow")
BOUNDED = settings(
    max_examples=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CASES = [p for p in all_case_params() if p.values[0] is not None]
LABEL_DTYPES = {
    "torch": ["uint8", "int8", "int16", "int32"],
    "jax": ["uint8", "int8", "int16", "uint16", "uint32", "int32"],
    "tensorflow": ["uint8", "int8", "int16", "uint16", "uint32", "int32"],
}


def _call(framework, loss, arrays, **params):
    fn = frameworks.adapter_function(framework, loss)
    tensors = [frameworks.to_tensor(framework, a) for a in arrays]
    return frameworks.to_numpy(fn(*tensors, **params)).astype(np.float64)


def _reduction(loss):
    return {"reduction": "none"} if "reduction" in core.get_spec(loss).params else {}


# --- small integer label dtypes ---------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("loss", sorted(INTEGER_LABEL_LOSSES))
@BOUNDED
@given(data=st.data())
def test_small_integer_labels_equal_int64(framework, loss, data):
    # few distinct shapes: eager JAX compiles every op once per shape
    rows = data.draw(st.sampled_from([1, 5]), "rows")
    classes = data.draw(st.sampled_from([3, 130]), "classes")
    dtype = data.draw(st.sampled_from(LABEL_DTYPES[framework]), "dtype")
    high = min(classes, 128) if dtype == "int8" else classes
    ids = np.array(data.draw(st.lists(st.integers(0, high - 1), min_size=rows, max_size=rows)))
    logits = np.random.default_rng(rows * classes).normal(size=(rows, classes)).astype(np.float32)
    params = dict(INTEGER_LABEL_LOSSES[loss], reduction="none")
    name = {"cross_entropy": "class_weight", "multi_margin_loss": "class_weight",
            "softmax_focal_loss": "alpha", "poly1_focal_loss": "alpha"}.get(loss)
    if data.draw(st.booleans(), "weighted") and name is not None:
        params[name] = np.random.default_rng(classes).uniform(0.1, 1.0, classes).tolist()
    fn = frameworks.adapter_function(framework, loss)
    x = frameworks.to_tensor(framework, logits)
    want = frameworks.to_numpy(fn(x, frameworks.to_tensor(framework, ids), **params))
    small = frameworks.cast(framework, frameworks.to_tensor(framework, ids), dtype)
    got = frameworks.to_numpy(fn(x, small, **params))
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@BOUNDED
@given(data=st.data())
def test_ignore_index_never_wraps(framework, data):
    """Every class id survives, whatever ignore_index and label dtype (uint8: 0..255)."""
    classes = data.draw(st.sampled_from([2, 200, 256]), "classes")
    ignore = data.draw(st.sampled_from([-100, -1, 255, 1000]), "ignore_index")
    ids = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=4, max_size=4)))
    logits = np.random.default_rng(classes).normal(size=(len(ids), classes)).astype(np.float32)
    ignored = ids == ignore
    got = frameworks.to_numpy(frameworks.adapter_function(framework, "cross_entropy")(
        frameworks.to_tensor(framework, logits),
        frameworks.cast(framework, frameworks.to_tensor(framework, ids), "uint8"),
        ignore_index=ignore, reduction="none",
    ))
    x = logits.astype(np.float64)
    lse = np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1)) + x.max(-1)
    want = np.where(ignored, 0.0, lse - x[np.arange(len(ids)), ids])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# --- NaN in every tensor and vector parameter ---------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", CASES)
@BOUNDED
@given(data=st.data())
def test_nan_in_any_float_input_gives_nan(framework, case, data):
    if not case.float_args:
        pytest.skip("no floating input")
    position = data.draw(st.sampled_from(case.float_args), "argument")
    arrays = [np.array(a, copy=True) for a in case.arrays]
    target = arrays[position]
    if target.ndim == 0:
        arrays[position] = np.array(np.nan, target.dtype)
    else:
        flat = data.draw(st.integers(0, target.size - 1), "entry")
        target.reshape(-1)[flat] = np.nan
    out = _call(framework, case.loss, arrays, **case.params)
    assert np.isnan(out).any(), f"NaN at argument {position} gave {out}"


VECTOR_PARAMS = [
    ("cross_entropy", "class_weight"),
    ("softmax_focal_loss", "alpha"),
    ("poly1_focal_loss", "alpha"),
    ("sigmoid_focal_loss", "alpha"),
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("loss, name", VECTOR_PARAMS)
@BOUNDED
@given(entry=st.integers(0, 4), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_non_finite_vector_parameters_are_refused(framework, loss, name, entry, bad):
    logits = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    target = np.array([0, 4, 2]) if loss in ("cross_entropy", "softmax_focal_loss") else (
        np.eye(5, dtype=np.float32)[[0, 4, 2]]
    )
    vector = [0.5] * 5
    vector[entry] = bad
    params = {"focal": "softmax"} if loss == "poly1_focal_loss" else {}
    if loss == "poly1_focal_loss":
        target = np.array([0, 4, 2])
    with pytest.raises(ValueError, match=name):
        _call(framework, loss, [logits, target], **{name: vector}, **params)


# --- static shapes unknown until run time (tf.function input signatures) -------------


@pytest.mark.parametrize("case", CASES)
def test_unknown_static_shapes_under_tf_function(case):
    import tensorflow as tf

    fn = frameworks.adapter_function("tensorflow", case.loss)
    params = {**case.params, **_reduction(case.loss)}
    spec = core.get_spec(case.loss)
    tensors = [tf.constant(a) for a in case.arrays]
    eager = fn(*tensors, **params).numpy()
    signature = [tf.TensorSpec([None] * a.ndim, tf.as_dtype(a.dtype)) for a in case.arrays]
    traced = tf.function(lambda *t: fn(*t, **params), input_signature=signature)
    try:
        got = traced(*tensors).numpy()
    except ValueError as exc:  # a loss that needs a static size says which
        assert any(name in str(exc) for name in spec.tensors), exc
        return
    np.testing.assert_allclose(got, eager, rtol=1e-5, atol=1e-6)


# --- traced hyper-parameters ----------------------------------------------------------

TRACEABLE = [
    ("softmax_focal_loss", "ids", "gamma", 0.5),
    ("softmax_focal_loss", "ids", "alpha", 0.3),
    ("sigmoid_focal_loss", "binary", "gamma", 1.5),
    ("sigmoid_focal_loss", "binary", "alpha", 0.4),
    ("poly1_cross_entropy", "ids", "epsilon", 2.0),
    ("poly1_focal_loss", "binary", "gamma", 0.5),
]


def _arrays(loss, kind):
    rng = np.random.default_rng(7)
    logits = rng.normal(scale=3.0, size=(4, 5)).astype(np.float32)
    if kind == "ids":
        return logits, np.array([1, 0, 4, 2])
    return logits, (rng.random((4, 5)) > 0.5).astype(np.float32)


@pytest.mark.parametrize("loss, kind, name, value", TRACEABLE)
def test_traced_hyper_parameters_under_jax_jit(loss, kind, name, value):
    import jax

    x, y = _arrays(loss, kind)
    fn = frameworks.adapter_function("jax", loss)
    eager = np.asarray(fn(x, y, **{name: value}))
    jitted = jax.jit(lambda v: fn(x, y, **{name: v}))(np.float32(value))
    np.testing.assert_allclose(np.asarray(jitted), eager, rtol=1e-5)


@pytest.mark.parametrize("loss, kind, name, value", TRACEABLE)
def test_traced_hyper_parameters_under_xla(loss, kind, name, value):
    import tensorflow as tf

    x, y = _arrays(loss, kind)
    fn = frameworks.adapter_function("tensorflow", loss)
    eager = fn(tf.constant(x), tf.constant(y), **{name: value}).numpy()
    step = tf.function(lambda v: fn(tf.constant(x), tf.constant(y), **{name: v}), jit_compile=True)
    np.testing.assert_allclose(step(tf.constant(value, tf.float32)).numpy(), eager, rtol=1e-5)


# --- ties: the three frameworks agree on values and gradients -------------------------


@pytest.mark.parametrize("case", CASES)
@BOUNDED
@given(data=st.data())
def test_frameworks_agree_on_tie_heavy_inputs(case, data):
    """Inputs drawn from a small grid ({-1, -0.5, 0, 0.5, 1}, repeated rows): ties in
    every max/min/relu/clip; torch, jax and tensorflow give the same value and
    gradient."""
    if not case.grad_args:
        pytest.skip("nothing to differentiate")
    grid = np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32)
    arrays = []
    for i, a in enumerate(case.arrays):
        if i in case.grad_args:
            picks = data.draw(st.lists(st.integers(0, 4), min_size=a.size, max_size=a.size), f"arg{i}")
            b = grid[np.array(picks)].reshape(a.shape)
            if case.loss == "gaussian_nll_loss" and i == 2:  # variances are >= 0
                b = np.abs(b)
            if case.loss == "batch_circle_loss":  # unit rows, duplicated
                b = np.repeat(np.eye(a.shape[1], dtype=np.float32), a.shape[0], 0)[: a.shape[0]]
                b[data.draw(st.integers(0, a.shape[0] - 1))] = b[0]
            arrays.append(b)
        else:
            arrays.append(a)
    params = case.params
    if case.loss == "lovasz_softmax_loss":
        # Its sort follows the errors |[y = c] - p|. From logits, the frameworks' softmax
        # rounds mathematically equal errors an ulp apart (a different order, not a tie);
        # on grid probabilities the errors tie exactly.
        params = {**params, "from_logits": False}
    results = {}
    for framework in FRAMEWORKS:
        fn = frameworks.adapter_function(framework, case.loss)
        results[framework] = frameworks.value_and_grad(
            framework, lambda *t, fn=fn: fn(*t, **params), arrays, case.grad_args
        )
    value, grads = results["torch"]
    for framework in ("jax", "tensorflow"):
        other_value, other_grads = results[framework]
        np.testing.assert_allclose(other_value, value, rtol=1e-4, atol=1e-5, err_msg=framework)
        for got, want in zip(other_grads, grads, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=framework)
