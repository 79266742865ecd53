"""sampled_softmax_loss(..., label_smoothing=ε) (issue 9, contract 0.2).

The softmax over the ``num_true + num_sampled`` candidate logits (after the log-Q
correction and the removal of accidental hits) against the targets
``(1 - ε)·t + ε·u``: ``t`` puts 1/num_true on each true class, ``u`` is uniform over
the row's candidates that were not removed. ε = 0 is ``tf.nn.sampled_softmax_loss``;
ε > 0 is checked against a float64 NumPy formula written here (values and the
gradients for weights, biases and inputs), with fixed ``sampled_values`` so that every
call is deterministic. Seed 004: with 1 positive to 199 negatives the unsmoothed loss
went NaN when distributed; the smoothed one must stay finite, removed hits included.
"""

from __future__ import annotations

import numpy as np
import pytest
from loss_cases import ADAPTERS_ONCE

C, D, B, S = 20, 4, 5, 6
WRT = (0, 1, 3)  # weights, biases, inputs


def _problem(num_true: int, seed: int = 0, num_sampled: int = S, num_classes: int = C):
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(num_classes, D)).astype(np.float32)
    biases = rng.normal(size=num_classes).astype(np.float32)
    inputs = rng.normal(size=(B, D)).astype(np.float32)
    labels = rng.integers(0, num_classes, size=(B, num_true)).astype(np.int64)
    # distinct candidates (TensorFlow masks one of two equal hits, multiloss both) with
    # accidental hits: a true class of row 0 and the last true class of row 2
    hits = list(dict.fromkeys([int(labels[0, 0]), int(labels[2, -1])]))
    others = rng.permutation([c for c in range(num_classes) if c not in hits])
    candidates = np.array(others[:num_sampled], np.int64)
    candidates[[0, 3][: len(hits)]] = hits
    true_expected = rng.uniform(0.1, 1.0, size=(B, num_true)).astype(np.float32)
    sampled_expected = rng.uniform(0.1, 1.0, size=num_sampled).astype(np.float32)
    return weights, biases, labels, inputs, (candidates, true_expected, sampled_expected)


def _reference(
    weights, biases, labels, inputs, sampled_values, eps, remove_accidental_hits=True,
    share_over_kept=True,
):
    """The contract's formula in float64: per-example loss and the gradients of its sum
    for weights, biases and inputs (d loss / d z_j = sum(q) softmax_j - q_j on kept
    candidates; sum(q) = 1). ``share_over_kept=False`` is a wrong variant (ε/(T + S) on
    each kept candidate) that tests tell apart."""
    w, b, x = (np.asarray(a, np.float64) for a in (weights, biases, inputs))
    labels = np.asarray(labels).reshape(len(x), -1)
    candidates, true_expected, sampled_expected = sampled_values
    num_true = labels.shape[1]
    classes = np.concatenate([labels, np.broadcast_to(candidates, (len(x), len(candidates)))], 1)
    expected = np.concatenate(
        [np.asarray(true_expected, np.float64),
         np.broadcast_to(np.asarray(sampled_expected, np.float64), (len(x), len(candidates)))], 1
    )
    logits = np.einsum("bd,bjd->bj", x, w[classes]) + b[classes] - np.log(expected)
    hits = (labels[:, :, None] == candidates[None, None, :]).any(axis=1)
    if not remove_accidental_hits:
        hits = np.zeros_like(hits)
    kept = np.concatenate([np.ones((len(x), num_true), bool), ~hits], axis=1)
    t = np.concatenate([np.full((len(x), num_true), 1.0 / num_true), np.zeros(hits.shape)], 1)
    u = kept / (kept.sum(axis=1, keepdims=True) if share_over_kept else kept.shape[1])
    q = (1.0 - eps) * t + eps * u
    z = np.where(kept, logits, -np.inf)  # removed hits are not candidates at all
    shift = z.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(z - shift).sum(axis=1, keepdims=True)) + shift
    log_p = np.where(kept, logits - log_z, 0.0)
    loss = -(q * log_p).sum(axis=1)
    g = np.where(kept, q.sum(axis=1, keepdims=True) * np.exp(log_p) - q, 0.0)  # [B, T + S]
    grad_w, grad_b = np.zeros_like(w), np.zeros_like(b)
    np.add.at(grad_w, classes, g[:, :, None] * x[:, None, :])
    np.add.at(grad_b, classes, g)
    grad_x = np.einsum("bj,bjd->bd", g, w[classes])
    return loss, [grad_w, grad_b, grad_x]


def _tf_reference(weights, biases, labels, inputs, sampled_values, num_sampled=S, **params):
    import tensorflow as tf

    w, b, x = (tf.constant(a) for a in (weights, biases, inputs))
    with tf.GradientTape() as tape:
        tape.watch([w, b, x])
        out = tf.nn.sampled_softmax_loss(
            w, b, tf.constant(labels), x, num_sampled, len(weights),
            sampled_values=tuple(tf.constant(a) for a in sampled_values), **params,
        )
        total = tf.reduce_sum(out)
    grads = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(total, [w, b, x])]
    return out.numpy(), grads


def _ours(adapter, weights, biases, labels, inputs, sampled_values, num_sampled=S, **params):
    return adapter.value_and_grad(
        "sampled_softmax_loss", weights, biases, labels, inputs, num_sampled, len(weights),
        wrt=WRT, sampled_values=sampled_values, **params,
    )


def _assert_close(value, grads, want, want_grads, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(value, want, rtol=rtol, atol=atol)
    for name, got, expected in zip(("weights", "biases", "inputs"), grads, want_grads, strict=True):
        assert np.all(np.isfinite(got)), name
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("num_true", [1, 2])
@pytest.mark.parametrize("remove_accidental_hits", [True, False])
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_zero_smoothing_is_tensorflows_loss(adapter, remove_accidental_hits, num_true):
    weights, biases, labels, inputs, sampled_values = _problem(num_true)
    params = dict(num_true=num_true, remove_accidental_hits=remove_accidental_hits)
    want, want_grads = _tf_reference(weights, biases, labels, inputs, sampled_values, **params)
    value, grads = _ours(adapter, weights, biases, labels, inputs, sampled_values,
                         label_smoothing=0.0, **params)
    _assert_close(value, grads, want, want_grads)
    # the NumPy formula at ε = 0 is TensorFlow's too (values and gradients)
    ref, ref_grads = _reference(weights, biases, labels, inputs, sampled_values, 0.0,
                                remove_accidental_hits)
    _assert_close(ref, ref_grads, want, want_grads)
    # and ε = 0 is the very computation without the argument
    default = adapter.call("sampled_softmax_loss", weights, biases, labels, inputs, S, C,
                           sampled_values=sampled_values, **params)
    np.testing.assert_array_equal(value, default)


@pytest.mark.parametrize("eps", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("num_true", [1, 2])
@pytest.mark.parametrize("remove_accidental_hits", [True, False])
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_smoothing_equals_the_formula(adapter, remove_accidental_hits, num_true, eps):
    weights, biases, labels, inputs, sampled_values = _problem(num_true, seed=1)
    value, grads = _ours(adapter, weights, biases, labels, inputs, sampled_values,
                         num_true=num_true, remove_accidental_hits=remove_accidental_hits,
                         label_smoothing=eps)
    want, want_grads = _reference(weights, biases, labels, inputs, sampled_values, eps,
                                  remove_accidental_hits)
    assert value.shape == (B,)
    _assert_close(value, grads, want, want_grads)
    # smoothing changes the loss (not silently ignored)
    unsmoothed, _ = _reference(weights, biases, labels, inputs, sampled_values, 0.0,
                               remove_accidental_hits)
    assert np.max(np.abs(want - unsmoothed)) > 1e-2


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_removed_hits_are_not_in_the_uniform_share(adapter):
    """Rows 0 and 2 lose one candidate each: u is 1/(T + S - 1) there, 1/(T + S)
    elsewhere; dividing by T + S everywhere gives other numbers."""
    weights, biases, labels, inputs, sampled_values = _problem(1, seed=2)
    candidates = sampled_values[0]
    hits_per_row = (labels[:, :, None] == candidates).any(axis=1).sum(axis=1)
    assert hits_per_row[0] >= 1 and hits_per_row[2] >= 1 and hits_per_row.min() == 0
    eps = 0.3
    value = adapter.call("sampled_softmax_loss", weights, biases, labels, inputs, S, C,
                         sampled_values=sampled_values, label_smoothing=eps)
    want, _ = _reference(weights, biases, labels, inputs, sampled_values, eps)
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
    # the wrong share (ε / (T + S), removed hits counted) differs on the hit rows only
    wrong, _ = _reference(weights, biases, labels, inputs, sampled_values, eps,
                          share_over_kept=False)
    differs = np.abs(value - wrong) > 1e-3
    np.testing.assert_array_equal(differs, hits_per_row > 0)


@pytest.mark.parametrize("eps", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_a_row_of_only_accidental_hits(adapter, eps):
    """Every candidate (one listed twice) is a true class of row 0: it keeps only its
    true class, u = t there, the loss is 0 and nothing is NaN."""
    weights, biases, labels, inputs, _ = _problem(1, seed=3)
    candidates = np.full(S, labels[0, 0], np.int64)
    candidates[1:3] = [c for c in range(C) if c not in labels[:, 0]][:2]
    candidates[4] = candidates[1]  # a duplicate that is no hit (masked nowhere)
    rng = np.random.default_rng(3)
    sampled_values = (candidates, rng.uniform(0.1, 1, (B, 1)).astype(np.float32),
                      rng.uniform(0.1, 1, S).astype(np.float32))
    only_hits = np.array([labels[0, 0]] * S, np.int64)
    for cands in (candidates, only_hits):
        values = (cands, *sampled_values[1:])
        value, grads = _ours(adapter, weights, biases, labels, inputs, values, label_smoothing=eps)
        want, want_grads = _reference(weights, biases, labels, inputs, values, eps)
        _assert_close(value, grads, want, want_grads)
    assert value[0] == 0.0  # only_hits: row 0 is its true class alone


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_one_positive_to_199_negatives_stays_finite(adapter):
    """Seed 004's shape: 1 true class, 199 sampled, large logits, several hits; the
    smoothed loss and its gradients are finite and equal the formula."""
    num_sampled, num_classes = 199, 400
    weights, biases, labels, inputs, (candidates, te, se) = _problem(
        1, seed=4, num_sampled=num_sampled, num_classes=num_classes
    )
    inputs = inputs * 20.0  # logits in the hundreds
    candidates[5:8] = labels[1, 0]  # one class listed three times, hits of row 1
    sampled_values = (candidates, te, se)
    value, grads = _ours(adapter, weights, biases, labels, inputs, sampled_values,
                         num_sampled=num_sampled, label_smoothing=0.1)
    want, want_grads = _reference(weights, biases, labels, inputs, sampled_values, 0.1)
    assert np.all(np.isfinite(value))
    _assert_close(value, grads, want, want_grads, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_half_precision_is_computed_in_float32(adapter, dtype):
    """The -1e30 mask of removed hits would be -inf in half precision: inputs in half
    precision are computed in float32, finite, and close to the float32 result."""
    weights, biases, labels, inputs, sampled_values = _problem(2, seed=5)
    params = dict(num_true=2, sampled_values=sampled_values, label_smoothing=0.1)
    value, grads = adapter.value_and_grad(
        "sampled_softmax_loss", weights, biases, labels, inputs, S, C, wrt=WRT, dtype=dtype,
        **params,
    )
    want, _ = _reference(weights, biases, labels, inputs, sampled_values, 0.1)
    assert np.all(np.isfinite(value)) and all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_allclose(value, want, rtol=5e-2, atol=5e-2)


@pytest.mark.parametrize(
    "label_smoothing, error",
    [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
     (float("inf"), ValueError), ("0.1", TypeError), (True, TypeError), (None, TypeError)],
)
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_bad_label_smoothing_is_refused(adapter, label_smoothing, error):
    weights, biases, labels, inputs, sampled_values = _problem(1)
    fn = adapter.fn("sampled_softmax_loss")
    tensors = [adapter.tensor(a) for a in (weights, biases, labels, inputs)]
    with pytest.raises(error, match="label_smoothing"):
        fn(*tensors, S, C, sampled_values=sampled_values, label_smoothing=label_smoothing)


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_a_tensor_label_smoothing_is_refused(adapter):
    """A static hyper-parameter, as cross_entropy's: a tensor is a TypeError."""
    weights, biases, labels, inputs, sampled_values = _problem(1)
    fn = adapter.fn("sampled_softmax_loss")
    tensors = [adapter.tensor(a) for a in (weights, biases, labels, inputs)]
    with pytest.raises(TypeError, match="label_smoothing"):
        fn(*tensors, S, C, sampled_values=sampled_values,
           label_smoothing=adapter.tensor(np.float32(0.1)))


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_numpy_scalar_label_smoothing(adapter):
    weights, biases, labels, inputs, sampled_values = _problem(1)
    a = adapter.call("sampled_softmax_loss", weights, biases, labels, inputs, S, C,
                     sampled_values=sampled_values, label_smoothing=np.float32(0.25))
    b = adapter.call("sampled_softmax_loss", weights, biases, labels, inputs, S, C,
                     sampled_values=sampled_values, label_smoothing=0.25)
    np.testing.assert_allclose(a, b, rtol=1e-7)


@pytest.mark.cross_framework
@pytest.mark.parametrize("num_true", [1, 2])
def test_gradients_equal_across_frameworks(num_true):
    """torch, jax and tensorflow give the same values and gradients (float32)."""
    from tests.conftest import Adapter

    weights, biases, labels, inputs, sampled_values = _problem(num_true, seed=6)
    results = {
        name: _ours(Adapter(name), weights, biases, labels, inputs, sampled_values,
                    num_true=num_true, label_smoothing=0.2)
        for name in ("torch", "jax", "tensorflow")
    }
    value, grads = results["torch"]
    for name in ("jax", "tensorflow"):
        other, other_grads = results[name]
        np.testing.assert_allclose(other, value, rtol=2e-6, atol=1e-6, err_msg=name)
        for got, want in zip(other_grads, grads, strict=True):
            assert np.all(np.isfinite(got))
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=name)


@pytest.mark.cross_framework
def test_smoothing_under_jax_jit_and_tf_xla_with_the_sampler():
    import jax
    import jax.numpy as jnp
    import tensorflow as tf

    import multiloss.jax as mj
    import multiloss.tensorflow as mtf

    weights, biases, labels, inputs, _ = _problem(2, seed=7)

    def total(w, b, x):
        return jnp.sum(mj.sampled_softmax_loss(w, b, labels, x, S, C, num_true=2, seed=3,
                                               label_smoothing=0.1))

    eager = total(weights, biases, inputs)
    np.testing.assert_allclose(jax.jit(total)(weights, biases, inputs), eager, rtol=1e-5)
    grads = jax.jit(jax.grad(total, argnums=(0, 1, 2)))(weights, biases, inputs)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)

    w, b = tf.Variable(weights), tf.Variable(biases)

    @tf.function(jit_compile=True)
    def step():
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(mtf.sampled_softmax_loss(
                w, b, tf.constant(labels), tf.constant(inputs), S, C, num_true=2, seed=3,
                label_smoothing=0.1,
            ))
        return value, tape.gradient(value, [w, b])

    value, tf_grads = step()
    assert np.isfinite(value.numpy())
    assert all(np.all(np.isfinite(tf.convert_to_tensor(g).numpy())) for g in tf_grads)
