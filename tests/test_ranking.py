"""Learning-to-rank losses against their peers: softmax_ranking_loss against
``optax.losses.ranking_softmax_loss``, pairwise_logistic_loss against
``keras_rs.losses.PairwiseLogisticLoss`` (and a float64 NumPy formula), listmle_loss
against a float64 NumPy formula of the Plackett–Luce likelihood (Xia et al., *Listwise
Approach to Learning to Rank*, ICML 2008, https://doi.org/10.1145/1390156.1390306) and
``keras_rs.losses.ListMLELoss`` where keras-rs is accurate. Plus padding (``where`` of
items, label −1), lists without a signal, huge score spreads in every float dtype, the
stable tie order, argument errors, the class forms and compiled tracing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest
import torch
from conftest import Adapter
from loss_cases import ADAPTERS_ONCE

from multiloss.verify import frameworks

RANKING = ("softmax_ranking_loss", "pairwise_logistic_loss", "listmle_loss")
cross_framework = pytest.mark.cross_framework


@pytest.fixture(params=ADAPTERS_ONCE)
def adapter(request) -> Adapter:
    """The Keras adapter in every per-backend session; torch, jax and tensorflow once,
    in the cross_framework session."""
    return Adapter(request.param)


def assert_close(got, want, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=rtol, atol=atol)


def lists(seed=0, shape=(4, 6), scale=1.5):
    """Scores and graded labels with ties, every list with a relevant item."""
    rng = np.random.default_rng(seed)
    scores = (rng.normal(size=shape) * scale).astype(np.float32)
    labels = rng.integers(0, 4, size=shape)
    labels[..., 0] = np.maximum(labels[..., 0], 1)
    return scores, labels.astype(np.float32)


def reduce_np(values, reduction, counted=None):
    counted = np.ones(values.shape, bool) if counted is None else counted
    values = np.where(counted, values, 0.0)
    return {"none": values, "sum": values.sum(), "mean": values.sum() / max(counted.sum(), 1)}[reduction]


def call(adapter, loss, scores, labels, **params):
    for name in ("where", "sample_weight"):
        if params.get(name) is not None:
            params[name] = adapter.tensor(params[name])
    return adapter.call(loss, scores, labels, **params)


# --- float64 NumPy formulas ------------------------------------------------------------------


def _kept(labels, where, negative_pads):
    kept = np.ones(labels.shape, bool) if where is None else np.broadcast_to(where, labels.shape).copy()
    return kept & (labels >= 0) if negative_pads else kept


def softmax_np(scores, labels, where=None):
    """-Σ y_i log softmax(s)_i over the kept items (optax' definition), float64."""
    s, y = scores.astype(np.float64), labels.astype(np.float64)
    kept = _kept(y, where, False)
    out = []
    for sb, yb, kb in zip(s.reshape(-1, s.shape[-1]), y.reshape(-1, s.shape[-1]), kept.reshape(-1, s.shape[-1]), strict=True):
        if not kb.any():
            out.append(0.0)
            continue
        z = sb[kb]
        log_p = z - (z.max() + np.log(np.exp(z - z.max()).sum()))
        out.append(-(yb[kb] * log_p).sum())
    return np.array(out).reshape(s.shape[:-1])


def pairwise_np(scores, labels, where=None):
    """Burges et al. 2005 (RankNet): per list, (1/n) Σ_i Σ_j 1[y_i > y_j] log(1 + e^{s_j − s_i})
    over the n kept items (label >= 0), float64."""
    s, y = scores.astype(np.float64), labels.astype(np.float64)
    kept = _kept(y, where, True)
    pairs = (y[..., :, None] > y[..., None, :]) & kept[..., :, None] & kept[..., None, :]
    terms = np.where(pairs, np.logaddexp(0.0, s[..., None, :] - s[..., :, None]), 0.0)
    return terms.sum((-1, -2)) / np.maximum(kept.sum(-1), 1)


def listmle_np(scores, labels, where=None):
    """Xia et al. 2008: Σ_k [log Σ_{m >= k} e^{s_{π_m}} − s_{π_k}] over the kept items,
    π a stable sort of the labels in decreasing order, float64."""
    s, y = scores.astype(np.float64), labels.astype(np.float64)
    kept = _kept(y, where, True)
    out = []
    for sb, yb, kb in zip(s.reshape(-1, s.shape[-1]), y.reshape(-1, s.shape[-1]), kept.reshape(-1, s.shape[-1]), strict=True):
        items = np.flatnonzero(kb)
        z = sb[items[np.argsort(-yb[items], kind="stable")]]
        out.append(sum(np.logaddexp.reduce(z[k:]) - z[k] for k in range(len(z))))
    return np.array(out).reshape(s.shape[:-1])


def listmle_torch(scores, labels):
    """The same formula in float64 torch, for its gradient."""
    s = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    total = 0.0
    for b in range(scores.shape[0]):
        order = torch.as_tensor(np.argsort(-labels[b], kind="stable"))
        z = s[b, order]
        total = total + sum(torch.logsumexp(z[k:], 0) - z[k] for k in range(len(order)))
    (grad,) = torch.autograd.grad(total, [s])
    return grad.numpy()


def counted(loss, labels, where=None):
    """The lists ``"mean"`` counts: a kept non-zero label (softmax) or label above 0."""
    kept = _kept(labels, where, loss != "softmax_ranking_loss")
    signal = labels != 0 if loss == "softmax_ranking_loss" else labels > 0
    return (kept & signal).any(-1)


FORMULAS = {"softmax_ranking_loss": softmax_np, "pairwise_logistic_loss": pairwise_np, "listmle_loss": listmle_np}


# --- against the peers ---------------------------------------------------------------------------


def optax_value_and_grad(scores, labels, reduction, where=None):
    """optax in float32 (jax.grad), per list, reduced over the counted lists."""
    keep = counted("softmax_ranking_loss", labels, where).astype(np.float32)

    def loss(x):
        values = optax.losses.ranking_softmax_loss(
            x, jnp.asarray(labels), where=None if where is None else jnp.asarray(where), reduce_fn=None
        )
        values = values * keep
        return {"none": values, "sum": values.sum(), "mean": values.sum() / keep.sum()}[reduction]

    value = np.asarray(loss(jnp.asarray(scores)))
    grad = jax.grad(lambda x: jnp.sum(loss(x)))(jnp.asarray(scores))
    return value, np.asarray(grad)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
def test_softmax_ranking_matches_optax(adapter, reduction, padded):
    scores, labels = lists(1)
    where = None
    if padded:
        where = np.random.default_rng(2).random(scores.shape) > 0.3
        where[:, 0] = True
        where[2] = False  # a list of padding only
    want, want_grad = optax_value_and_grad(scores, labels, reduction, where)
    params = {} if where is None else {"where": adapter.tensor(where)}
    value, (grad,) = adapter.value_and_grad("softmax_ranking_loss", scores, labels, reduction=reduction, **params)
    assert value.shape == want.shape
    assert_close(value, want)
    assert_close(grad, want_grad)
    assert_close(value, reduce_np(softmax_np(scores, labels, where), reduction, counted("softmax_ranking_loss", labels, where)))


def keras_rs_numbers(peer, labels, scores, mask=None, **kwargs):
    import keras_rs

    y_true = labels if mask is None else {"labels": labels, "mask": mask}
    loss = getattr(keras_rs.losses, peer)(**kwargs)
    return np.asarray(keras.ops.convert_to_numpy(loss(y_true, scores)), np.float64)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_pairwise_logistic_matches_keras_rs(adapter, reduction):
    scores, labels = lists(3)
    labels[1, 4:] = -1.0  # keras-rs' padding label
    mask = np.random.default_rng(4).random(scores.shape) > 0.2
    mask[:, 0] = True
    per_item = keras_rs_numbers("PairwiseLogisticLoss", labels, scores, mask, reduction="none")
    kept = (mask & (labels >= 0)).sum(-1)
    want = reduce_np(per_item.sum(-1) / kept, reduction)
    value = call(adapter, "pairwise_logistic_loss", scores, labels, where=mask, reduction=reduction)
    assert_close(value, want)
    assert_close(value, reduce_np(pairwise_np(scores, labels, mask), reduction))


def test_pairwise_logistic_mean_is_keras_rs_default_reduction(adapter):
    """Full lists, each with a relevant item: "mean" is keras-rs' "sum_over_batch_size"
    (its docstring example: 0.73936)."""
    labels = np.array([[1.0, 0.0, 1.0, 3.0], [0.0, 1.0, 2.0, 3.0]], np.float32)
    scores = np.array([[1.0, 3.0, 2.0, 4.0], [1.0, 1.8, 2.0, 3.0]], np.float32)
    want = keras_rs_numbers("PairwiseLogisticLoss", labels, scores)
    value = call(adapter, "pairwise_logistic_loss", scores, labels, reduction="mean")
    assert_close(value, want)
    assert_close(value, 0.73936, rtol=1e-4)


def test_pairwise_logistic_gradient_matches_the_formula(adapter):
    scores, labels = lists(5)
    scores[0, 1] = scores[0, 0]  # a score tie inside a pair: softplus'(0) = 1/2
    s = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    pairs = torch.tensor((labels[:, :, None] > labels[:, None, :]).astype(np.float64))
    want = (pairs * torch.nn.functional.softplus(s[:, None, :] - s[:, :, None])).sum((-1, -2)) / scores.shape[-1]
    (want_grad,) = torch.autograd.grad(want.mean(), [s])
    value, (grad,) = adapter.value_and_grad("pairwise_logistic_loss", scores, labels, reduction="mean")
    assert_close(value, want.mean().item())
    assert_close(grad, want_grad.numpy())


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_listmle_matches_the_formula_and_keras_rs(adapter, reduction):
    scores, labels = lists(6, scale=1.0)
    want = reduce_np(listmle_np(scores, labels), reduction)
    grad_scale = {"none": 1.0, "sum": 1.0, "mean": 1.0 / scores.shape[0]}[reduction]
    value, (grad,) = adapter.value_and_grad("listmle_loss", scores, labels, reduction=reduction)
    assert_close(value, want)
    assert_close(grad, listmle_torch(scores, labels) * grad_scale)
    peer = keras_rs_numbers("ListMLELoss", labels, scores, reduction="none")
    assert_close(value, reduce_np(peer, reduction), rtol=1e-5)


def test_listmle_is_exact_where_keras_rs_is_not(adapter):
    """Score spreads of ~100: keras-rs' log(cumsum(exp) + 1e-10) loses the small suffix
    sums; the log-space scan keeps the float64 value."""
    scores, labels = lists(7)
    scores = scores * np.float32(60.0)
    want = listmle_np(scores, labels)
    value = call(adapter, "listmle_loss", scores, labels, reduction="none")
    assert_close(value, want, rtol=2e-6)
    peer = keras_rs_numbers("ListMLELoss", labels, scores, reduction="none")
    assert not np.allclose(peer, want, rtol=1e-3), "keras-rs became exact: update the docs"


def test_listmle_ties_keep_the_item_order(adapter):
    """Equal labels keep their positions (a stable sort): swapping two tied items
    changes the loss exactly as the formula says."""
    scores = np.array([[0.3, 2.0, -1.0, 0.5, 1.0]], np.float32)
    labels = np.array([[1, 2, 1, 0, 1]], np.float32)
    assert_close(call(adapter, "listmle_loss", scores, labels, reduction="none"), listmle_np(scores, labels))
    swapped = scores[:, [2, 1, 0, 3, 4]]
    assert_close(call(adapter, "listmle_loss", swapped, labels, reduction="none"), listmle_np(swapped, labels))
    assert not np.isclose(listmle_np(scores, labels), listmle_np(swapped, labels))


@pytest.mark.parametrize("length", [1, 2, 3, 8, 13])
def test_listmle_any_list_length(adapter, length):
    """The log-depth scan at lengths around powers of two."""
    scores, labels = lists(length, shape=(3, length))
    assert_close(call(adapter, "listmle_loss", scores, labels, reduction="none"), listmle_np(scores, labels))


# --- padding and lists without a signal --------------------------------------------------------


@pytest.mark.parametrize("loss", RANKING)
def test_padded_items_equal_removed_items(adapter, loss):
    """A list with padded items (``where``) has the value of the list without them; NaN
    and huge values in padded items reach neither value nor gradient."""
    scores, labels = lists(8, shape=(1, 7))
    where = np.array([[True, False, True, True, False, True, True]])
    short = call(adapter, loss, scores[where][None], labels[where][None], reduction="none")
    poisoned = scores.copy()
    poisoned[~where] = [np.nan, 1e30]
    noisy_labels = labels.copy()
    noisy_labels[~where] = [np.nan, 7.0]
    value, (grad,) = adapter.value_and_grad(
        loss, poisoned, noisy_labels, where=adapter.tensor(where), reduction="none"
    )
    assert_close(value, short)
    assert np.all(np.isfinite(grad)) and np.all(grad[~where] == 0.0)


@pytest.mark.parametrize("loss", ["pairwise_logistic_loss", "listmle_loss"])
def test_negative_labels_pad(adapter, loss):
    scores, labels = lists(9, shape=(1, 6))
    padded = labels.copy()
    padded[0, [2, 5]] = -1.0
    keep = padded >= 0
    want = call(adapter, loss, scores[keep][None], labels[keep][None], reduction="none")
    value, (grad,) = adapter.value_and_grad(loss, scores, padded, reduction="none")
    assert_close(value, want)
    assert np.all(grad[~keep] == 0.0)


@pytest.mark.parametrize("loss", RANKING)
def test_lists_without_a_signal_give_zero_and_are_not_counted(adapter, loss):
    scores, labels = lists(10, shape=(4, 5))
    labels[1] = 0.0  # no relevant item
    where = np.ones(scores.shape, bool)
    where[2] = False  # only padding
    values = call(adapter, loss, scores, labels, where=where, reduction="none")
    assert values[1] == 0.0 and values[2] == 0.0
    want = FORMULAS[loss](scores, labels, where)[[0, 3]].mean()
    value, (grad,) = adapter.value_and_grad(loss, scores, labels, where=adapter.tensor(where), reduction="mean")
    assert_close(value, want)
    assert np.all(grad[1:3] == 0.0)
    nothing = np.zeros(scores.shape, np.float32)
    value, (grad,) = adapter.value_and_grad(loss, scores, nothing, reduction="mean")
    assert value == 0.0 and np.all(grad == 0.0)


@pytest.mark.parametrize("loss", RANKING)
def test_list_where_and_sample_weight(adapter, loss):
    """``where`` of lower rank masks lists, ``sample_weight`` weighs them."""
    scores, labels = lists(11)
    per_list = FORMULAS[loss](scores, labels)
    list_where = np.array([True, False, True, True])
    weight = np.array([0.5, 3.0, 2.0, 0.0], np.float32)
    c = list_where * weight
    assert_close(call(adapter, loss, scores, labels, where=list_where, sample_weight=weight, reduction="mean"),
                 (c * per_list).sum() / c.sum())
    assert_close(call(adapter, loss, scores, labels, sample_weight=weight, reduction="none"), weight * per_list)


# --- finite everywhere --------------------------------------------------------------------------


@pytest.mark.parametrize("loss", RANKING)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("spread", [1e2, 6e4, 1e30])
def test_finite_for_huge_score_spreads(adapter, loss, dtype, spread):
    if dtype != "float32" and spread > 6e4:
        pytest.skip("beyond the half-precision range")
    scores, labels = lists(12)
    scores = np.clip(scores / np.abs(scores).max() * spread, -spread, spread).astype(np.float32)
    if dtype == "float16":  # the loss (a sum of score gaps times labels) must fit float16 too
        scores = scores / np.float32(30.0)
    value, (grad,) = adapter.value_and_grad(loss, scores, labels, dtype=dtype, reduction="none")
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), (value, grad)
    if dtype == "float32":
        assert_close(value, FORMULAS[loss](scores, labels), rtol=1e-5)


@pytest.mark.parametrize("loss", RANKING)
def test_nan_in_a_kept_score_or_label_gives_nan(adapter, loss):
    scores, labels = lists(13, shape=(2, 4))
    for arrays in ((np.where(np.eye(2, 4, dtype=bool), np.nan, scores), labels),
                   (scores, np.where(np.eye(2, 4, k=1, dtype=bool), np.nan, labels))):
        values = call(adapter, loss, *(a.astype(np.float32) for a in arrays), reduction="none")
        assert np.all(np.isnan(values)), values
    one = call(adapter, loss, np.array([[np.nan]], np.float32), np.array([[1.0]], np.float32), reduction="none")
    assert np.isnan(one).all()


# --- arguments -----------------------------------------------------------------------------------

BAD = [
    ((4, 5), (4, 6), {}, ValueError, ["y_true", "(4, 6)", "(4, 5)"]),
    ((), (), {}, ValueError, ["y_pred", "rank"]),
    ((4, 0), (4, 0), {}, ValueError, ["y_pred", "at least one item"]),
    ((4, 5), (4, 5), {"reduction": "avg"}, ValueError, ["reduction", "'avg'"]),
    ((4, 5), (4, 5), {"where": np.ones((4, 5), np.float32)}, TypeError, ["where", "boolean"]),
    ((4, 5), (4, 5), {"where": np.ones((4, 3), bool)}, ValueError, ["where", "(4, 3)", "(4, 5)"]),
    ((4, 5), (4, 5), {"where": np.ones((5,), bool)}, ValueError, ["where", "(5,)", "(4,)"]),
    ((4, 5), (4, 5), {"sample_weight": np.ones((4, 5), np.float32)}, ValueError, ["sample_weight", "(4, 5)", "(4,)"]),
    ((4, 5), (4, 5), {"sample_weight": -np.ones((4,), np.float32)}, ValueError, ["sample_weight", ">= 0"]),
]


@pytest.mark.parametrize("loss", RANKING)
@pytest.mark.parametrize("pred_shape, true_shape, params, exception, fragments", BAD)
def test_bad_arguments_name_the_argument(adapter, loss, pred_shape, true_shape, params, exception, fragments):
    params = {k: adapter.tensor(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
    with pytest.raises(exception) as info:
        adapter.call(loss, np.zeros(pred_shape, np.float32), np.zeros(true_shape, np.float32), **params)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


# --- class forms, Keras reductions, compiled tracing ---------------------------------------------

CLASSES = {"softmax_ranking_loss": "SoftmaxRankingLoss", "pairwise_logistic_loss": "PairwiseLogisticLoss",
           "listmle_loss": "ListMLELoss"}


@pytest.mark.parametrize("loss", RANKING)
def test_keras_class_counts_the_lists_mean_counts(loss):
    """The Keras ``Loss`` (on the session's backend): ``sum_over_batch_size`` over the
    lists with a signal, as ``reduction="mean"``; ``sample_weight`` per list."""
    import multiloss.keras as mk

    scores, labels = lists(14)
    labels[2] = 0.0
    per_list = FORMULAS[loss](scores, labels)
    keep = counted(loss, labels)
    cls = getattr(mk, CLASSES[loss])
    assert isinstance(cls(), keras.losses.Loss)
    assert_close(keras.ops.convert_to_numpy(cls()(labels, scores)), per_list[keep].mean())
    weight = np.array([1.0, 2.0, 5.0, 0.5], np.float32)
    got = keras.ops.convert_to_numpy(cls(reduction="sum")(labels, scores, sample_weight=weight))
    assert_close(got, (weight * per_list)[keep].sum())
    assert_close(keras.ops.convert_to_numpy(cls(reduction="none")(labels, scores)), np.where(keep, per_list, 0.0))


@cross_framework
@pytest.mark.parametrize("loss", RANKING)
def test_torch_module_equals_the_function(loss):
    import multiloss.torch as mt

    scores, labels = lists(15)
    where = torch.tensor(np.random.default_rng(0).random(scores.shape) > 0.2)
    module = getattr(mt, CLASSES[loss])(reduction="sum")
    assert isinstance(module, torch.nn.Module)
    want = getattr(mt, loss)(torch.tensor(scores), torch.tensor(labels), where=where, reduction="sum")
    assert_close(module(torch.tensor(scores), torch.tensor(labels), where=where).numpy(), want.numpy())


@cross_framework
@pytest.mark.parametrize("loss", RANKING)
def test_traces_under_jit_compile_and_xla(loss):
    """jax.jit, torch.compile(fullgraph=True) and tf.function(jit_compile=True) with an
    item mask and list weights: the eager values and gradients."""
    import tensorflow as tf

    import multiloss.jax as mj
    import multiloss.tensorflow as mtf
    import multiloss.torch as mt

    scores, labels = lists(16, shape=(3, 7))
    where = np.random.default_rng(1).random(scores.shape) > 0.25
    where[1] = False
    weights = np.array([0.5, 2.0, 1.0], np.float32)

    def params(framework):
        return {"where": frameworks.to_tensor(framework, where),
                "sample_weight": frameworks.to_tensor(framework, weights)}

    full = params("torch")
    eager, (eager_grad,) = frameworks.value_and_grad(
        "torch", lambda x, y: getattr(mt, loss)(x, y, **full), (scores, labels)
    )
    assert_close(eager, (weights * FORMULAS[loss](scores, labels, where))[[0, 2]].sum() / weights[[0, 2]].sum())

    jax_params = params("jax")
    value, grad = jax.jit(jax.value_and_grad(lambda x, y: getattr(mj, loss)(x, y, **jax_params)))(scores, labels)
    assert_close(value, eager)
    assert_close(grad, eager_grad)

    compiled = torch.compile(lambda x, y: getattr(mt, loss)(x, y, **full), fullgraph=True, backend="aot_eager")
    try:
        x = torch.tensor(scores, requires_grad=True)
        out = compiled(x, torch.tensor(labels))
        (grad,) = torch.autograd.grad(out, x)
    finally:
        torch._dynamo.reset()
    assert_close(out.detach().numpy(), eager)
    assert_close(grad.numpy(), eager_grad)

    tf_params = params("tensorflow")

    @tf.function(jit_compile=True)
    def tf_step(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = getattr(mtf, loss)(x, y, **tf_params)
        return out, tape.gradient(out, x)

    out, grad = tf_step(tf.constant(scores), tf.constant(labels))
    assert_close(out.numpy(), eager)
    assert_close(grad.numpy(), eager_grad)


@cross_framework
@pytest.mark.parametrize("loss", RANKING)
def test_list_length_known_only_at_run_time(loss):
    """tf.function with an input signature of unknown sizes (ListMLE then takes every
    suffix as a masked row): the eager values and gradients."""
    import tensorflow as tf

    import multiloss.tensorflow as mtf

    scores, labels = lists(17, shape=(3, 9))
    labels[1, 7:] = -1.0
    fn = getattr(mtf, loss)
    spec = [tf.TensorSpec([None, None], tf.float32)] * 2

    @tf.function(input_signature=spec)
    def step(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x, y, reduction="none")
            total = tf.reduce_sum(out)
        return out, tape.gradient(total, x)

    out, grad = step(tf.constant(scores), tf.constant(labels))
    assert_close(out.numpy(), FORMULAS[loss](scores, labels))
    eager, (eager_grad,) = frameworks.value_and_grad(
        "tensorflow", lambda x, y: fn(x, y, reduction="none"), (scores, labels)
    )
    assert_close(grad.numpy(), eager_grad)
    assert_close(out.numpy(), eager)
