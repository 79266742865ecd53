"""``where=`` and ``sample_weight=`` on every loss with a reduction (API.md, "Every loss
with a reduction"), in every adapter.

The contract checked against float64 NumPy computed from the loss' own unreduced values
``v`` (``reduction="none"``, no mask, no weight): with ``m`` the mask and ``w`` the
weights broadcast to ``v``'s shape, ``"none"`` is ``m·w·v``, ``"sum"`` is ``Σ m·w·v``
and ``"mean"`` is ``Σ m·w·v / Σ m·w`` (0 when ``Σ m·w`` = 0); gradients are those of
``Σ c·v`` with the same constant coefficients ``c``. Then masked-out NaN/Inf never
reaching value or gradient, independent references (``torch.nn.functional.cross_entropy``
on the kept rows, optax' own ``where``), the class forms (per call, never in a
constructor), Keras' reductions and ``sample_weight`` on the ``Loss`` classes (keras'
``CircleTest`` numbers, ``SparseCategoricalCrossentropy(ignore_class=...)``), torch
autocast and Keras mixed precision.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from loss_cases import ADAPTERS_ONCE, all_case_params

from multiloss import core
from multiloss.verify import frameworks

#: A case per generic input of every registered loss with a ``reduction``.
CASES = [
    p for p in all_case_params()
    if p.values[0] is not None and core.get_spec(p.values[0].loss).has_reduction
]
#: The same without the batch losses: their ``where`` masks anchors (pairs), and a masked
#: sample is still the other anchors' positive or negative (API.md), so NaN in its
#: embedding may reach them.
BATCH_LOSSES = ("batch_circle_loss", "supervised_contrastive_loss", "clip_loss")
PER_ENTRY_CASES = [p for p in CASES if p.values[0].loss not in BATCH_LOSSES]
REDUCTIONS = ("none", "sum", "mean")

#: The generic formula tests, heavy per loss: all four adapters once, in the
#: cross_framework session (the Keras functions run on the same ops classes).
ADAPTERS_CROSS = [
    pytest.param(name, id=name, marks=pytest.mark.cross_framework)
    for name in ("keras", "torch", "jax", "tensorflow")
]


def reduced_losses() -> list[str]:
    return sorted(name for name, spec in core.registry().items() if spec.has_reduction)


def test_every_loss_with_a_reduction_has_generic_inputs():
    covered = {p.values[0].loss for p in CASES}
    assert covered == set(reduced_losses()), sorted(set(reduced_losses()) - covered)
    for name in reduced_losses():
        assert {"where", "sample_weight"} <= set(core.get_spec(name).params), name


# --- helpers --------------------------------------------------------------------------


def _seed(*parts: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, "/".join(parts))))


def _mask(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """A random mask with at least one kept and (when it can) one masked entry."""
    if shape == ():
        return np.array(True)
    mask = rng.random(shape) < 0.6
    flat = mask.reshape(-1)
    flat[0] = True
    if flat.size > 1:
        flat[-1] = False
    return mask


def _weights(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Non-negative weights, some of them exactly 0."""
    weight = rng.uniform(0.1, 2.0, size=shape).astype(np.float32)
    if weight.ndim:
        weight.reshape(-1)[rng.random(weight.size) < 0.25] = 0.0
    return weight


def coefficients(shape: tuple, where=None, weight=None) -> np.ndarray:
    """``m·w`` broadcast to the unreduced shape, float64."""
    mask = np.ones(shape) if where is None else np.broadcast_to(where, shape).astype(np.float64)
    weight = np.ones(shape) if weight is None else np.broadcast_to(weight, shape).astype(np.float64)
    return mask * weight


def reduce_reference(v: np.ndarray, reduction: str, where=None, weight=None):
    """The contract in float64, from the unreduced values ``v``."""
    c = coefficients(v.shape, where, weight)
    if reduction == "none":
        return c * v
    if reduction == "sum":
        return (c * v).sum()
    return np.float64(0.0) if c.sum() == 0 else (c * v).sum() / c.sum()


def unreduced(adapter, case) -> np.ndarray:
    return adapter.call(case.loss, *case.arrays, reduction="none", **case.params)


def torch_unreduced_shape(case) -> tuple:
    fn = frameworks.adapter_function("torch", case.loss)
    tensors = [torch.from_numpy(np.asarray(a)) for a in case.arrays]
    return tuple(fn(*tensors, reduction="none", **case.params).shape)


def value_and_grad(adapter, case, arrays=None, **params):
    """Value and gradients (w.r.t. the case's non-target float arguments); ``where`` and
    ``sample_weight`` are passed as tensors of the adapter's framework."""
    for name in ("where", "sample_weight"):
        if params.get(name) is not None:
            params[name] = adapter.tensor(params[name])
    return adapter.value_and_grad(
        case.loss, *(case.arrays if arrays is None else arrays), wrt=case.grad_args,
        **case.params, **params,
    )


def weighted_grads(adapter, case, c: np.ndarray) -> list[np.ndarray]:
    """Gradients of ``Σ c·v`` (``c`` constant): what the reduced loss' gradient must be."""
    fn = adapter.fn(case.loss)
    coef = adapter.tensor(c.astype(np.float32))
    _, grads = frameworks.value_and_grad(
        adapter.name, lambda *t: fn(*t, reduction="none", **case.params) * coef,
        case.arrays, case.grad_args,
    )
    return grads


def assert_close(got, want, what, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


# --- the reductions against NumPy, for every loss ---------------------------------------

SCENARIOS = {
    # name: (where shape, sample_weight shape), "full" = the unreduced shape,
    # "lower" = one rank less (its trailing axes; a scalar for a per-example loss)
    "where": ("full", None),
    "where-lower-rank": ("lower", None),
    "weight": (None, "full"),
    "weight-lower-rank": (None, "lower"),
    "where-and-weight": ("full", "lower"),
}


def _shape(kind, v_shape):
    return {None: None, "full": v_shape, "lower": v_shape[1:]}[kind]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("adapter", ADAPTERS_CROSS, indirect=True)
def test_reductions_equal_the_numpy_formulas(adapter, case, scenario):
    v = unreduced(adapter, case)
    assert np.all(np.isfinite(v))
    rng = _seed(case.id, scenario)
    where_shape, weight_shape = (_shape(kind, v.shape) for kind in SCENARIOS[scenario])
    where = None if where_shape is None else _mask(rng, where_shape)
    weight = None if weight_shape is None else _weights(rng, weight_shape)
    # the reduced loss is Σ c·v: its gradient is that of Σ c·v, with c = m·w ("none",
    # "sum") or m·w / Σ m·w ("mean")
    coef = coefficients(v.shape, where, weight)
    reference = weighted_grads(adapter, case, coef)
    for reduction in REDUCTIONS:
        want = reduce_reference(v, reduction, where, weight)
        what = f"{adapter.name} {case.id} {scenario} reduction={reduction}"
        if reduction == "sum":  # the gradient of "none"
            value = adapter.call(
                case.loss, *case.arrays, where=adapter.tensor(where) if where is not None else None,
                sample_weight=adapter.tensor(weight) if weight is not None else None,
                reduction=reduction, **case.params,
            )
        else:
            value, grads = value_and_grad(
                adapter, case, where=where, sample_weight=weight, reduction=reduction
            )
            scale = 1.0 if reduction == "none" or coef.sum() == 0 else 1.0 / coef.sum()
            for got, ref in zip(grads, reference, strict=True):
                assert_close(got, ref * scale, f"gradient: {what}")
        assert value.shape == np.shape(want), what
        assert_close(value, want, what)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("adapter", ADAPTERS_CROSS, indirect=True)
def test_nothing_counted_gives_zero_with_zero_gradient(adapter, case):
    """All-false ``where`` (full shape and a scalar), all-zero ``sample_weight``, and
    weights that are 0 exactly on the kept entries: every reduction is 0 (never NaN),
    every gradient 0."""
    v = unreduced(adapter, case)
    keep = _mask(_seed(case.id), v.shape)
    calls = {
        "where all False": dict(where=np.zeros(v.shape, bool)),
        "where=False (scalar)": dict(where=np.array(False)),
        "sample_weight all 0": dict(sample_weight=np.zeros(v.shape, np.float32)),
        "weights 0 where kept": dict(where=keep, sample_weight=np.where(keep, 0.0, 1.0).astype(np.float32)),
    }
    for label, params in calls.items():
        for reduction in REDUCTIONS:
            value, grads = value_and_grad(adapter, case, reduction=reduction, **params)
            what = f"{adapter.name} {case.id} {label} reduction={reduction}"
            np.testing.assert_array_equal(value, np.zeros(v.shape if reduction == "none" else ()), what)
            for grad in grads:
                np.testing.assert_array_equal(grad, np.zeros_like(grad), what)


TRACED = ("cross_entropy-ids", "circle_loss-pairs")


def _mean_of(framework, case):
    """``mean(where, sample_weight)`` of the case's loss, its tensors held constant."""
    fn = frameworks.adapter_function(framework, case.loss)
    tensors = [frameworks.to_tensor(framework, a) for a in case.arrays]

    def mean(where, sample_weight):
        return fn(*tensors, where=where, sample_weight=sample_weight, **case.params)

    return mean


@pytest.mark.cross_framework
@pytest.mark.parametrize("case", [p for p in CASES if p.values[0].id in TRACED])
def test_traced_where_and_sample_weight_equal_eager(case):
    """``where``/``sample_weight`` as traced arguments of ``jax.jit`` and
    ``tf.function(jit_compile=True)``: the eager values, and 0 (not NaN) when nothing
    is kept, without a retrace."""
    import jax
    import tensorflow as tf

    shape = torch_unreduced_shape(case)
    rng = _seed(case.id, "traced")
    keep, weight = _mask(rng, shape), _weights(rng, shape)
    nothing = np.zeros(shape, bool)
    for framework in ("jax", "tensorflow"):
        mean = _mean_of(framework, case)
        traced = jax.jit(mean) if framework == "jax" else tf.function(mean, jit_compile=True)
        for where in (keep, nothing):
            eager = frameworks.to_numpy(mean(frameworks.to_tensor(framework, where), frameworks.to_tensor(framework, weight)))
            got = frameworks.to_numpy(traced(frameworks.to_tensor(framework, where), frameworks.to_tensor(framework, weight)))
            assert_close(got, eager, f"{framework} {case.id}")
            assert np.isfinite(got) and (where.any() or got == 0.0)


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(where=np.ones(5, np.float32)), TypeError, "where must be a boolean mask"),
        (dict(where=np.ones(3, bool)), ValueError, "where must broadcast"),
        (dict(where=np.ones((5, 1), bool)), ValueError, "where must broadcast"),
        (dict(sample_weight=np.array([1.0, -0.5, 1.0, 1.0, 1.0], np.float32)), ValueError, ">= 0"),
        (dict(sample_weight=np.ones((2, 5), np.float32)), ValueError, "sample_weight must broadcast"),
        (dict(sample_weight=np.ones(5, bool)), TypeError, "sample_weight must hold real numbers"),
    ],
    ids=["float-where", "where-too-short", "where-too-many-axes", "negative-weight", "weight-too-many-axes", "bool-weight"],
)
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_invalid_where_and_sample_weight_are_refused(adapter, params, error, match):
    logits = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    params = {k: adapter.tensor(v) for k, v in params.items()}
    with pytest.raises(error, match=match):
        adapter.fn("cross_entropy")(adapter.tensor(logits), adapter.tensor(np.array([0, 1, 2, 3, 1])), **params)


# --- NaN/Inf in masked-out entries --------------------------------------------------------


def _poison(array: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``array`` with NaN, +Inf, -Inf (in turn) in every entry outside ``keep`` (``keep``
    has the leading axes of ``array``)."""
    poisoned = np.array(array, copy=True)
    hidden = np.flatnonzero(_hidden(keep, array.shape))
    poisoned.reshape(-1)[hidden] = np.resize(np.array([np.nan, np.inf, -np.inf]), hidden.size)
    return poisoned


def _hidden(keep: np.ndarray, shape: tuple) -> np.ndarray:
    return ~np.broadcast_to(keep.reshape(keep.shape + (1,) * (len(shape) - keep.ndim)), shape)


@pytest.mark.parametrize("case", PER_ENTRY_CASES)
@pytest.mark.parametrize("adapter", ADAPTERS_CROSS, indirect=True)
def test_masked_out_nan_and_inf_never_reach_value_or_gradient(adapter, case):
    v = unreduced(adapter, case)
    keep = _mask(_seed(case.id, "nan"), v.shape)
    weight = _weights(_seed(case.id, "w"), v.shape)
    poisoned = [
        _poison(a, keep) if i in case.float_args and a.shape[: keep.ndim] == keep.shape else a
        for i, a in enumerate(case.arrays)
    ]
    assert any(np.isnan(a).any() for a in poisoned if a.dtype.kind == "f")
    bad_weight = np.where(keep, weight, np.nan).astype(np.float32)
    for reduction in REDUCTIONS:
        for label, w_clean, w_bad in (("where", None, None), ("where+sample_weight", weight, bad_weight)):
            what = f"{adapter.name} {case.id} {label} reduction={reduction}"
            clean_value, clean_grads = value_and_grad(
                adapter, case, where=keep, sample_weight=w_clean, reduction=reduction
            )
            value, grads = value_and_grad(
                adapter, case, poisoned, where=keep, sample_weight=w_bad, reduction=reduction
            )
            assert np.all(np.isfinite(value)), what
            assert_close(value, clean_value, what, rtol=1e-6, atol=0)
            for i, grad, clean in zip(case.grad_args, grads, clean_grads, strict=True):
                assert np.all(np.isfinite(grad)), f"gradient of argument {i}: {what}"
                if grad.shape[: keep.ndim] != keep.shape:  # not per entry (a [V, D] weight)
                    assert_close(grad, clean, f"gradient of argument {i}: {what}", rtol=1e-6, atol=0)
                    continue
                hidden = _hidden(keep, grad.shape)
                np.testing.assert_array_equal(grad[hidden], 0.0, f"gradient of argument {i}: {what}")
                assert_close(grad, clean, f"gradient of argument {i}: {what}", rtol=1e-6, atol=0)


# --- independent references -------------------------------------------------------------

IGNORE = -1


def _ce_inputs():
    rng = np.random.default_rng(11)
    logits = rng.normal(scale=2.0, size=(8, 5)).astype(np.float32)
    labels = np.array([1, 0, IGNORE, 2, 4, IGNORE, 3, 0])
    keep = np.array([True, False, True, True, False, False, True, True])
    return logits, labels, keep


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("class_weight", [None, [0.5, 2.0, 1.0, 1.5, 0.25]], ids=["no-class-weight", "class-weight"])
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_cross_entropy_where_equals_torch_on_the_kept_rows(adapter, class_weight, label_smoothing):
    """``cross_entropy(where=keep)`` is ``F.cross_entropy`` of the rows kept (with
    ``weight``, ``ignore_index`` and ``label_smoothing``); masked rows give 0 and a zero
    gradient."""
    logits, labels, keep = _ce_inputs()
    params = dict(ignore_index=IGNORE, label_smoothing=label_smoothing, class_weight=class_weight)
    torch_params = dict(
        ignore_index=IGNORE, label_smoothing=label_smoothing,
        weight=None if class_weight is None else torch.tensor(class_weight),
    )
    fn = adapter.fn("cross_entropy")
    for reduction in REDUCTIONS:
        x = torch.tensor(logits[keep], dtype=torch.float64, requires_grad=True)
        want = F.cross_entropy(x, torch.tensor(labels[keep]), reduction=reduction, **{
            k: (v.double() if isinstance(v, torch.Tensor) else v) for k, v in torch_params.items()
        })
        (want_grad,) = torch.autograd.grad(want.sum(), x)
        value, (grad,) = frameworks.value_and_grad(
            adapter.name,
            lambda x, y, fn=fn, r=reduction: fn(x, y, where=adapter.tensor(keep), reduction=r, **params),
            (logits, labels),
        )
        what = f"{adapter.name} reduction={reduction}"
        if reduction == "none":
            assert_close(value[keep], want.detach().numpy(), what)
            np.testing.assert_array_equal(value[~keep], 0.0, what)
        else:
            assert_close(value, want.item(), what)
        assert_close(grad[keep], want_grad.numpy(), f"gradient: {what}")
        np.testing.assert_array_equal(grad[~keep], 0.0, f"gradient: {what}")


def _optax_references():
    """``(multiloss loss, optax function, label kind, params, optax params)``."""
    return [
        ("cross_entropy", "softmax_cross_entropy_with_integer_labels", "ids", {}, {}),
        ("cross_entropy", "softmax_cross_entropy", "soft", {}, {}),
        ("poly1_cross_entropy", "poly_loss_cross_entropy", "soft", {"epsilon": 2.0}, {"epsilon": 2.0}),
        ("kl_divergence", "kl_divergence", "soft", {}, {}),
    ]


@pytest.mark.parametrize(
    "loss, optax_name, labels_kind, params, optax_params", _optax_references(),
    ids=[f"{r[0]}-{r[1]}" for r in _optax_references()],
)
@pytest.mark.parametrize("adapter", ADAPTERS_CROSS, indirect=True)
def test_where_equals_optax(adapter, loss, optax_name, labels_kind, params, optax_params):
    """optax' ``where`` (over the logits: ``where[:, None]`` masks whole rows) where the
    installed optax has it; NumPy masking of optax' values otherwise. ``"mean"`` is the
    sum over the kept rows / their number (optax leaves the mean to the user)."""
    import jax
    import jax.numpy as jnp
    import optax

    rng = np.random.default_rng(5)
    logits = rng.normal(scale=2.0, size=(6, 4)).astype(np.float32)
    keep = np.array([True, False, True, True, False, True])
    if labels_kind == "ids":
        labels = np.array([0, 3, 1, 1, 2, 0])
    else:
        labels = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    optax_fn = getattr(optax.losses, optax_name)
    has_where = "where" in inspect.signature(optax_fn).parameters

    def optax_values(x):
        first = jax.nn.log_softmax(x) if loss == "kl_divergence" else x
        if has_where:
            return optax_fn(first, labels, where=jnp.asarray(keep)[:, None], **optax_params)
        return jnp.where(keep, optax_fn(first, labels, **optax_params), 0.0)

    want_none = np.asarray(optax_values(logits), np.float64)
    want_mean, want_grad = jax.value_and_grad(lambda x: optax_values(x).sum() / keep.sum())(logits)
    fn = adapter.fn(loss)
    for reduction in REDUCTIONS:
        value, (grad,) = frameworks.value_and_grad(
            adapter.name,
            lambda x, y, r=reduction: fn(x, y, where=adapter.tensor(keep), reduction=r, **params),
            (logits, labels),
        )
        what = f"{adapter.name} {loss} reduction={reduction} (optax where: {has_where})"
        want = {"none": want_none, "sum": want_none.sum(), "mean": float(want_mean)}[reduction]
        assert_close(value, want, what)
        if reduction == "mean":
            assert_close(grad, np.asarray(want_grad), f"gradient: {what}")


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("weight_shape", ["full", "lower-rank", "size-1"])
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_sample_weight_class_weight_ignore_index_and_where_combined(adapter, weight_shape):
    """Sequence labels ``[B, T]``: ``"mean"`` = Σ m·s·w_c·ℓ / Σ m·s·w_c over the
    non-ignored entries (torch's weighted mean extended by ``s``), ``"none"`` = m·s·w_c·ℓ."""
    rng = np.random.default_rng(9)
    logits = rng.normal(scale=2.0, size=(3, 4, 5)).astype(np.float32)
    labels = np.array([[1, IGNORE, 4, 0], [2, 2, IGNORE, 3], [0, 1, 4, IGNORE]])
    class_weight = np.array([0.5, 2.0, 1.0, 1.5, 0.25], np.float32)
    keep = np.array([[True, True, False, True], [True, False, True, True], [False, True, True, True]])
    sample_weight = {
        "full": rng.uniform(0.1, 2.0, (3, 4)),
        "lower-rank": np.array([1.0, 0.0, 2.5, 0.5]),  # per position [T]
        "size-1": np.array([[2.0], [0.5], [1.0]]),  # per sequence [B, 1]
    }[weight_shape].astype(np.float32)
    valid = labels != IGNORE
    nll = -np.take_along_axis(_log_softmax(logits), np.where(valid, labels, 0)[..., None], -1)[..., 0]
    coef = np.where(valid & keep, np.broadcast_to(sample_weight, labels.shape) * class_weight[np.where(valid, labels, 0)], 0.0)
    want = {"none": coef * nll, "sum": (coef * nll).sum(), "mean": (coef * nll).sum() / coef.sum()}
    fn = adapter.fn("cross_entropy")
    for reduction in REDUCTIONS:
        got = frameworks.to_numpy(fn(
            adapter.tensor(logits), adapter.tensor(labels), class_weight=class_weight,
            ignore_index=IGNORE, where=adapter.tensor(keep),
            sample_weight=adapter.tensor(sample_weight), reduction=reduction,
        ))
        assert_close(got, want[reduction], f"{adapter.name} reduction={reduction}")


# --- class forms ------------------------------------------------------------------------

CLASS_SPECS = sorted(
    (s for s in core.registry().values() if s.class_name and s.call_params), key=lambda s: s.name
)


@pytest.mark.parametrize("case", CASES)
def test_torch_module_forward_takes_where_and_sample_weight(case):
    import multiloss.torch as mt

    spec = core.get_spec(case.loss)
    v_shape = torch_unreduced_shape(case)
    rng = _seed(case.id, "module")
    where = torch.from_numpy(_mask(rng, v_shape))
    weight = torch.from_numpy(_weights(rng, v_shape))
    tensors = [torch.from_numpy(np.asarray(a)) for a in case.arrays]
    function = getattr(mt, case.loss)
    for reduction in REDUCTIONS:
        module = getattr(mt, spec.class_name)(reduction=reduction, **case.params)
        got = module(*tensors, where=where, sample_weight=weight)
        want = function(*tensors, where=where, sample_weight=weight, reduction=reduction, **case.params)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    with pytest.raises(TypeError, match="per call"):
        module(*tensors, reduction="sum")


@pytest.mark.parametrize("name", ["where", "sample_weight"])
@pytest.mark.parametrize("adapter_name", ["torch", "keras"])
@pytest.mark.parametrize("spec", CLASS_SPECS, ids=lambda s: s.class_name)
def test_constructors_refuse_per_call_parameters(spec, adapter_name, name):
    if adapter_name == "keras" and spec.keras_class_name is None:
        pytest.skip(f"{spec.name} takes {len(spec.tensors)} tensors: no keras.losses.Loss form")
    cls = getattr(__import__(f"multiloss.{adapter_name}", fromlist=["_"]), spec.class_name)
    with pytest.raises(TypeError, match=r"per call|pass to each call") as info:
        cls(**{name: np.ones(3, bool if name == "where" else np.float32)})
    assert name in str(info.value)


# --- Keras Loss classes -----------------------------------------------------------------


def _np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


# keras/src/losses/losses_test.py (Keras 3.15), class CircleTest: inputs and expected
# values of keras.losses.Circle, reproduced by multiloss.keras.BatchCircleLoss.
CIRCLE_Y_TRUE = np.array([1, 1, 2, 2, 3])
CIRCLE_Y_PRED = np.array([
    [0.70014004, -0.42008403, 0.14002801, 0.56011203],
    [0.17609018, 0.70436073, -0.52827054, 0.44022545],
    [-0.34050261, 0.25537696, -0.68100522, 0.59587957],
    [0.32163376, -0.75047877, 0.53605627, -0.21442251],
    [0.51261459, -0.34174306, 0.17087153, 0.76892189],
])
CIRCLE_REF_LABELS = np.array([1, 1, 2, 2, 3, 4])
CIRCLE_REF_EMBEDDINGS = np.array([
    [0.40824829, -0.54433105, 0.27216553, 0.68041382],
    [0.76376261, 0.10910895, -0.54554473, 0.32732684],
    [-0.74420841, 0.24806947, 0.49613894, -0.3721042],
    [0.52981294, -0.13245324, 0.79471941, -0.26490647],
    [0.54554473, -0.32732684, 0.10910895, 0.76376261],
    [-0.27216553, 0.68041382, 0.40824829, -0.54433105],
])
CIRCLE_WEIGHTS = np.array([2.0, 2.0, 1.0, 1.0, 0.5])


def test_keras_batch_circle_loss_reproduces_keras_circle_test():
    import multiloss.keras as mk

    # CircleTest.test_correctness (label 3 has no positive: not counted by the mean)
    assert _np(mk.BatchCircleLoss(gamma=80.0, margin=0.4)(CIRCLE_Y_TRUE, CIRCLE_Y_PRED)) == pytest.approx(188.3883, abs=1e-3)
    assert _np(mk.BatchCircleLoss()(CIRCLE_Y_TRUE, CIRCLE_Y_PRED)) == pytest.approx(188.3883, abs=1e-3)
    assert _np(mk.BatchCircleLoss(gamma=256, margin=0.25)(CIRCLE_Y_TRUE, CIRCLE_Y_PRED)) == pytest.approx(652.7617, abs=1e-3)
    # CircleTest.test_correctness_weighted
    loss = mk.BatchCircleLoss(gamma=80.0, margin=0.4)
    assert _np(loss(CIRCLE_Y_TRUE, CIRCLE_Y_PRED, sample_weight=CIRCLE_WEIGHTS)) == pytest.approx(244.91918, abs=1e-3)
    # CircleTest.test_no_reduction
    none = mk.BatchCircleLoss(gamma=80.0, margin=0.4, reduction=None)(CIRCLE_REF_LABELS, CIRCLE_REF_EMBEDDINGS)
    np.testing.assert_allclose(_np(none), [82.9116, 36.7942, 92.4590, 52.6798, 0.0, 0.0], atol=1e-3)
    # CircleTest.test_sum_reduction
    total = mk.BatchCircleLoss(gamma=80.0, margin=0.4, reduction="sum")(CIRCLE_REF_LABELS, CIRCLE_REF_EMBEDDINGS)
    assert _np(total) == pytest.approx(264.845, abs=1e-3)
    # CircleTest.test_mean_with_sample_weight_reduction
    weighted = mk.BatchCircleLoss(gamma=80.0, margin=0.4, reduction="mean_with_sample_weight")
    assert _np(weighted(CIRCLE_Y_TRUE, CIRCLE_Y_PRED, sample_weight=CIRCLE_WEIGHTS)) == pytest.approx(163.27948, abs=1e-3)
    # CircleTest.test_dtype_arg
    half = mk.BatchCircleLoss(dtype="bfloat16")(CIRCLE_Y_TRUE, CIRCLE_Y_PRED)
    assert keras.backend.standardize_dtype(half.dtype) == "bfloat16"


KERAS_REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none"]


@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
def test_keras_batch_circle_loss_equals_keras_circle(reduction):
    import multiloss.keras as mk

    for labels, embeddings, weights in (
        (CIRCLE_Y_TRUE, CIRCLE_Y_PRED, CIRCLE_WEIGHTS),
        (CIRCLE_REF_LABELS, CIRCLE_REF_EMBEDDINGS, None),
    ):
        got = mk.BatchCircleLoss(reduction=reduction)(labels, embeddings, sample_weight=weights)
        want = keras.losses.Circle(reduction=reduction)(labels, embeddings, sample_weight=weights)
        assert_close(_np(got), _np(want), reduction, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
@pytest.mark.parametrize("ignore", [-1, 2])
@pytest.mark.parametrize("label_shape", ["[B]", "[B,T]"])
def test_keras_cross_entropy_ignore_index_equals_sparse_ignore_class(label_shape, ignore, reduction, weighted):
    """Both leave the ignored entries out of Keras' mean (``sum_over_batch_size``
    divides by the entries kept)."""
    import multiloss.keras as mk

    rng = np.random.default_rng(4)
    if label_shape == "[B]":
        logits = rng.normal(size=(6, 4)).astype(np.float32)
        labels = np.array([0, 3, 1, 1, 2, 0])
        labels[[1, 4]] = ignore
    else:
        logits = rng.normal(size=(3, 4, 5)).astype(np.float32)
        labels = rng.integers(0, 5, size=(3, 4))
        labels[labels == ignore] = 0
        labels[0, 3] = labels[1, 2] = labels[1, 3] = labels[2, 0] = ignore
    # per entry: Keras' own loss cannot take [B] weights with the [B, T] mask of ignore_class
    sample_weight = rng.uniform(0.1, 2.0, size=labels.shape).astype(np.float32) if weighted else None
    got = mk.CrossEntropy(ignore_index=ignore, reduction=reduction)(labels, logits, sample_weight=sample_weight)
    peer = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore, reduction=reduction)
    want = peer(labels, logits, sample_weight=sample_weight)
    assert_close(_np(got), _np(want), reduction)


class _Given(keras.losses.Loss):
    """Keras' own weighting and reduction of given unreduced values (``y_pred``)."""

    def call(self, y_true, y_pred):
        return y_pred


@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
@pytest.mark.parametrize("case", CASES)
def test_keras_sample_weight_equals_keras_reduction_of_the_unreduced_values(case, reduction):
    """Each Keras class with ``sample_weight`` (per sample ``[B]``, and the full shape for
    an element-wise loss) equals Keras' own reduction of ``multiloss.keras``' unreduced
    values. Per-sample weights are spread over the trailing axes of an element-wise loss
    (the adapter's mapping), so the built-in gets them broadcast."""
    import multiloss.keras as mk

    spec = core.get_spec(case.loss)
    if spec.keras_class_name is None:
        pytest.skip(f"{case.loss} takes {len(spec.tensors)} tensors: no keras.losses.Loss form")
    keras_args = [case.arrays[spec.arguments.index(n)] for n in spec.keras_order]
    class_args = keras_args
    if spec.keras_optional:  # the class passes None for them (the case's lengths are full)
        class_args = [a for a, n in zip(keras_args, spec.keras_order, strict=True)
                      if n not in spec.keras_optional]
    if spec.keras_packed:  # the class reads them from y_pred's last axis
        parts = [np.asarray(case.arrays[spec.arguments.index(n)]) for n in spec.keras_packed]
        if len({p.shape for p in parts}) != 1:
            pytest.skip(f"{case.id}: {spec.keras_packed} differ in shape, so cannot be packed")
        packed = np.concatenate(parts, -1)
        y_true = (  # a loss without y_true ignores the targets Keras passes
            case.arrays[spec.arguments.index("y_true")] if "y_true" in spec.arguments
            else np.zeros(packed.shape[:-1], np.float32)
        )
        class_args = [y_true, packed]
    v = _np(getattr(mk, case.loss)(*keras_args, reduction="none", **case.params))
    rng = _seed(case.id, "keras")
    shapes = [v.shape[:1]] + ([v.shape] if v.ndim > 1 else [])
    for shape in shapes:
        weight = _weights(rng, shape)
        broadcast = np.broadcast_to(weight.reshape(shape + (1,) * (v.ndim - len(shape))), v.shape)
        got = getattr(mk, spec.class_name)(reduction=reduction, **case.params)(*class_args, sample_weight=weight)
        want = _Given(reduction=reduction)(np.zeros_like(v), v, sample_weight=np.ascontiguousarray(broadcast))
        assert_close(_np(got), _np(want), f"{case.id} reduction={reduction} sample_weight{shape}")


BUILTINS = {
    # (multiloss class, labels kind, Keras built-in)
    "sparse": ("CrossEntropy", "ids", lambda r: keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=r)),
    "categorical": ("CrossEntropy", "one_hot", lambda r: keras.losses.CategoricalCrossentropy(from_logits=True, reduction=r)),
    "mse": ("MeanSquaredError", "real", lambda r: keras.losses.MeanSquaredError(reduction=r)),
    "hinge": ("HingeLoss", "signs", lambda r: keras.losses.Hinge(reduction=r)),
}


@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
@pytest.mark.parametrize("builtin", sorted(BUILTINS))
def test_keras_classes_equal_keras_builtins_with_sample_weight(builtin, reduction):
    import multiloss.keras as mk

    class_name, kind, make = BUILTINS[builtin]
    rng = np.random.default_rng(8)
    y_pred = rng.normal(size=(6, 4)).astype(np.float32)
    ids = np.array([0, 3, 1, 1, 2, 0])
    y_true = {
        "ids": ids,
        "one_hot": np.eye(4, dtype=np.float32)[ids],
        "real": rng.normal(size=(6, 4)).astype(np.float32),
        "signs": np.where(rng.random((6, 4)) > 0.5, 1.0, -1.0).astype(np.float32),
    }[kind]
    sample_weight = np.array([1.0, 0.0, 2.0, 0.5, 1.0, 3.0], np.float32)
    got = getattr(mk, class_name)(reduction=reduction)(y_true, y_pred, sample_weight=sample_weight)
    want = make(reduction)(y_true, y_pred, sample_weight=sample_weight)
    assert_close(_np(got), _np(want), f"{builtin} reduction={reduction}")


# --- torch autocast ----------------------------------------------------------------------


def test_torch_cross_entropy_under_autocast_is_float32_like_f_cross_entropy():
    """Under ``torch.autocast`` a bfloat16 prediction is computed in float32 and the loss
    comes back in float32, as ``F.cross_entropy`` (a bfloat16 result was 2.234375 where
    torch gives 2.23173)."""
    import multiloss.torch as mt

    rng = np.random.default_rng(12)
    x = torch.from_numpy(rng.normal(scale=2.0, size=(16, 10)).astype(np.float32)).bfloat16()
    y = torch.from_numpy(rng.integers(0, 10, size=16))
    keep = torch.from_numpy(rng.random(16) > 0.3)
    weight = torch.from_numpy(rng.uniform(0.5, 2.0, 16).astype(np.float32))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = mt.cross_entropy(x, y)
        want = F.cross_entropy(x, y)
        got_none = mt.cross_entropy(x, y, reduction="none")
        got_where = mt.cross_entropy(x, y, where=keep)
        want_where = F.cross_entropy(x[keep], y[keep])
        got_weighted = mt.cross_entropy(x, y, sample_weight=weight, reduction="sum")
        want_weighted = (F.cross_entropy(x, y, reduction="none") * weight).sum()
    assert want.dtype == torch.float32
    for value in (got, got_none, got_where, got_weighted):
        assert value.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got_where, want_where, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got_weighted, want_weighted, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(got_none, F.cross_entropy(x.float(), y, reduction="none"), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_torch_autocast_computes_every_loss_in_float32(case):
    """bfloat16 predictions under autocast: a float32 loss equal to the loss of the same
    (exactly upcast) inputs in float32, and a finite bfloat16 gradient."""
    import multiloss.torch as mt

    fn = getattr(mt, case.loss)
    rng = _seed(case.id, "autocast")
    v_shape = torch_unreduced_shape(case)
    where = torch.from_numpy(_mask(rng, v_shape))
    weight = torch.from_numpy(_weights(rng, v_shape))
    half = [
        torch.from_numpy(np.asarray(a)).bfloat16() if i in case.float_args else torch.from_numpy(np.asarray(a))
        for i, a in enumerate(case.arrays)
    ]
    full = [t.float() if t.dtype == torch.bfloat16 else t for t in half]
    for i in case.grad_args:
        half[i].requires_grad_(True)
    for reduction in REDUCTIONS:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = fn(*half, where=where, sample_weight=weight, reduction=reduction, **case.params)
        assert got.dtype == torch.float32, (case.id, reduction, got.dtype)
        want = fn(*full, where=where, sample_weight=weight, reduction=reduction, **case.params)
        torch.testing.assert_close(got.detach(), want, rtol=1e-5, atol=1e-6)
        grads = torch.autograd.grad(got.sum(), [half[i] for i in case.grad_args])
        for grad in grads:
            assert grad.dtype == torch.bfloat16 and torch.isfinite(grad).all(), (case.id, reduction)


# --- Keras mixed precision -----------------------------------------------------------------


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def mixed_policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _model(outputs: int) -> keras.Model:
    """A bias of 6 on the odd classes: a label moved to an even class (2049 rounded to
    2048 in half precision) costs about 6 more."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(outputs)])
    kernel, _ = model.layers[-1].get_weights()
    model.layers[-1].set_weights([kernel, 6.0 * (np.arange(outputs) % 2)])
    return model


def _one_step(loss, outputs, x, y):
    model = _model(outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss)
    value = model.train_on_batch(x, y)
    return float(np.asarray(value).reshape(-1)[0]), [np.asarray(w, np.float64) for w in model.get_weights()]


def test_keras_mixed_precision_cross_entropy_step_equals_builtin(mixed_policy):
    """3000 classes and labels above 2048 (float16 rounds 2049 to 2048, 2051 to 2052):
    one training step gives the loss and the weights of the built-in
    ``SparseCategoricalCrossentropy`` on the same model."""
    import multiloss.keras as mk

    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    labels = np.array([2049, 2051, 2999, 7, 2049, 1, 2051, 0])
    assert keras.mixed_precision.global_policy().name == mixed_policy
    logits = _model(3000)(x)
    assert keras.backend.standardize_dtype(logits.dtype) in ("float16", "bfloat16")
    want = -_log_softmax(_np(logits))[np.arange(8), labels].mean()
    assert _np(mk.CrossEntropy()(labels, logits)) == pytest.approx(want, rel=1e-4)

    ours, ours_weights = _one_step(mk.CrossEntropy(), 3000, x, labels)
    theirs, theirs_weights = _one_step(
        keras.losses.SparseCategoricalCrossentropy(from_logits=True), 3000, x, labels
    )
    assert np.isfinite(ours)
    assert ours == pytest.approx(theirs, rel=1e-5)
    for a, b in zip(ours_weights, theirs_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_keras_half_precision_loss_keeps_labels_integral(mixed_policy):
    """A ``Loss`` computing in the policy's half dtype (``dtype=policy``): Keras' own
    losses cast ``y_true`` to that dtype (2049 becomes 2048); the multiloss classes keep
    integer labels, so the step's loss is the cross entropy of the true classes."""
    import multiloss.keras as mk

    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    labels = np.array([2049, 2051, 2997, 7, 2049, 1, 2051, 0])
    loss = mk.CrossEntropy(dtype=mixed_policy, reduction="none")
    assert loss.dtype in ("float16", "bfloat16")
    logits = _np(_model(3000)(x))
    per_example = -_log_softmax(logits)[np.arange(8), labels]
    rounded = labels.astype(loss.dtype).astype(np.int64)  # what a cast would compute on
    moved = rounded != labels
    assert moved.any()
    wrong = -_log_softmax(logits)[np.arange(8), rounded]
    assert np.all(wrong[moved] - per_example[moved] > 4.0)
    got = loss(labels, logits)
    assert keras.backend.standardize_dtype(got.dtype) == loss.dtype
    np.testing.assert_allclose(_np(got), per_example, rtol=1e-2, atol=1e-2)
    step, _ = _one_step(mk.CrossEntropy(dtype=mixed_policy), 3000, x, labels)
    assert np.isfinite(step) and step == pytest.approx(per_example.mean(), rel=1e-2)


def test_keras_mixed_precision_sigmoid_focal_step_is_finite(mixed_policy):
    import multiloss.keras as mk

    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = (rng.random((8, 3)) > 0.5).astype(np.float32)
    value, weights = _one_step(mk.SigmoidFocalLoss(), 3, x, y)
    assert np.isfinite(value) and value > 0
    assert all(np.all(np.isfinite(w)) for w in weights)
