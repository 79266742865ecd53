"""sampled_softmax_loss, nce_loss and log_uniform_candidate_sampler against TensorFlow.

With fixed ``sampled_values`` the losses are deterministic: values and gradients (for
weights, biases and inputs) equal ``tf.nn.sampled_softmax_loss`` / ``tf.nn.nce_loss``
(TF float32) in every adapter. The sampler is checked in distribution (frequencies,
distinct candidates, expected counts against TF's), and the losses with the sampler
jit under ``jax.jit`` and ``tf.function(jit_compile=True)``.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import Adapter

C, D, B, S = 20, 4, 5, 6


def _problem(num_true: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(C, D)).astype(np.float32)
    biases = rng.normal(size=C).astype(np.float32)
    inputs = rng.normal(size=(B, D)).astype(np.float32)
    labels = rng.integers(0, C, size=(B, num_true)).astype(np.int64)
    # two accidental hits (a true class of rows 0 and 2 among the candidates)
    candidates = np.array([labels[0, 0], 3, 7, labels[2, -1], 11, 19], np.int64)
    true_expected = rng.uniform(0.1, 1.0, size=(B, num_true)).astype(np.float32)
    sampled_expected = rng.uniform(0.1, 1.0, size=S).astype(np.float32)
    return weights, biases, labels, inputs, (candidates, true_expected, sampled_expected)


def _tf_reference(loss, weights, biases, labels, inputs, sampled_values, **params):
    import tensorflow as tf

    fn = {"sampled_softmax_loss": tf.nn.sampled_softmax_loss, "nce_loss": tf.nn.nce_loss}[loss]
    w, b, x = (tf.constant(a) for a in (weights, biases, inputs))
    with tf.GradientTape() as tape:
        tape.watch([w, b, x])
        out = fn(w, b, tf.constant(labels), x, S, C,
                 sampled_values=tuple(tf.constant(a) for a in sampled_values), **params)
        total = tf.reduce_sum(out)
    grads = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(total, [w, b, x])]
    return out.numpy(), grads


@pytest.mark.parametrize("num_true", [1, 3])
@pytest.mark.parametrize("remove_accidental_hits", [True, False])
@pytest.mark.parametrize("loss", ["sampled_softmax_loss", "nce_loss"])
def test_values_and_gradients_equal_tensorflow(adapter, loss, remove_accidental_hits, num_true):
    weights, biases, labels, inputs, sampled_values = _problem(num_true)
    params = dict(num_true=num_true, remove_accidental_hits=remove_accidental_hits)
    expected, expected_grads = _tf_reference(loss, weights, biases, labels, inputs, sampled_values, **params)
    value, grads = adapter.value_and_grad(
        loss, weights, biases, labels, inputs, S, C, wrt=(0, 1, 3),
        sampled_values=sampled_values, **params,
    )
    assert value.shape == (B,)
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
    for name, got, want in zip(("weights", "biases", "inputs"), grads, expected_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
        assert np.all(np.isfinite(got)), name


def test_defaults_match_tensorflow(adapter):
    """Default remove_accidental_hits (True for softmax, False for NCE), labels [B]."""
    weights, biases, labels, inputs, sampled_values = _problem(1)
    for loss in ("sampled_softmax_loss", "nce_loss"):
        expected, _ = _tf_reference(loss, weights, biases, labels, inputs, sampled_values)
        got = adapter.call(loss, weights, biases, labels[:, 0], inputs, S, C, sampled_values=sampled_values)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_without_sampled_values_draws_reproducibly(adapter):
    weights, biases, labels, inputs, _ = _problem(2)
    for loss in ("sampled_softmax_loss", "nce_loss"):
        a = adapter.call(loss, weights, biases, labels, inputs, S, C, num_true=2, seed=7)
        b = adapter.call(loss, weights, biases, labels, inputs, S, C, num_true=2, seed=7)
        assert a.shape == (B,) and np.all(np.isfinite(a)) and np.all(a > 0)
        np.testing.assert_array_equal(a, b)


def _sampler(adapter: Adapter, *args, **kwargs):
    fn = adapter.fn("log_uniform_candidate_sampler")
    out = fn(adapter.tensor(args[0]), *args[1:], **kwargs)
    from multiloss.verify import frameworks

    return tuple(frameworks.to_numpy(t) for t in out)


def _p(k, range_max):
    """P(k) in float64, as log1p (the difference of logs loses digits for large k)."""
    k = np.asarray(k, np.float64)
    return np.log1p(1.0 / (k + 1.0)) / np.log1p(float(range_max))


def test_sampler_with_replacement_frequencies_and_expected_counts(adapter):
    import tensorflow as tf

    range_max, n = 10, 20000
    true_classes = np.array([[0, 3], [9, 1]], np.int64)
    candidates, true_expected, sampled_expected = _sampler(adapter, true_classes, 2, n, False, range_max, seed=3)
    assert candidates.shape == (n,) and candidates.dtype.kind == "i"
    assert candidates.min() >= 0 and candidates.max() < range_max
    freq = np.bincount(candidates, minlength=range_max) / n
    np.testing.assert_allclose(freq, _p(np.arange(range_max), range_max), atol=0.015)
    # expected counts: exactly TF's (num_sampled * P(k)), for the true and sampled classes
    tf_out = tf.random.log_uniform_candidate_sampler(true_classes, 2, n, False, range_max, seed=1)
    np.testing.assert_allclose(true_expected, tf_out.true_expected_count.numpy(), rtol=1e-6)
    tf_candidates = tf_out.sampled_candidates.numpy()
    ours_at_tf = _sampler(adapter, tf_candidates.reshape(-1, 1), 1, n, False, range_max, seed=0)[1]
    np.testing.assert_allclose(ours_at_tf[:, 0], tf_out.sampled_expected_count.numpy(), rtol=1e-6)
    np.testing.assert_allclose(sampled_expected, n * _p(candidates, range_max), rtol=1e-5)


def _precision_classes(range_max: int) -> np.ndarray:
    """Every class near the bottom and the top of the range, and random ones between."""
    rng = np.random.default_rng(range_max)
    return np.unique(np.concatenate([
        np.arange(min(range_max, 2000)),
        np.arange(max(0, range_max - 2000), range_max),
        rng.integers(0, range_max, size=4000),
        [range_max - 1],
    ])).astype(np.int64)


def _max_relative_error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want) / want))


@pytest.mark.parametrize("range_max", [1000, 10**7])
def test_sampler_expected_counts_to_float32_precision(adapter, range_max):
    """Issue 9: S * P(k) within 1e-6 (relative) of float64 for every class up to 10**7,
    and of TensorFlow's counts (a difference of float32 logs was off by 4.5e-4 at
    range_max=1000 and by a factor of 19, or 0, at 10**7)."""
    import tensorflow as tf

    num_sampled = 64
    classes = _precision_classes(range_max)
    true_classes = classes.reshape(-1, 1)
    candidates, true_expected, sampled_expected = _sampler(
        adapter, true_classes, 1, num_sampled, False, range_max, seed=5
    )
    assert true_expected.dtype == np.float32 and sampled_expected.dtype == np.float32
    assert _max_relative_error(true_expected[:, 0], num_sampled * _p(classes, range_max)) <= 1e-6
    assert _max_relative_error(sampled_expected, num_sampled * _p(candidates, range_max)) <= 1e-6
    tf_out = tf.random.log_uniform_candidate_sampler(
        true_classes, 1, num_sampled, False, range_max, seed=1
    )
    assert _max_relative_error(true_expected, tf_out.true_expected_count.numpy()) <= 1e-6
    tf_candidates = tf_out.sampled_candidates.numpy()
    ours_at_tf = _sampler(adapter, tf_candidates.reshape(-1, 1), 1, num_sampled, False, range_max)[1]
    assert _max_relative_error(ours_at_tf[:, 0], tf_out.sampled_expected_count.numpy()) <= 1e-6


def test_sampler_unique_expected_counts_to_float32_precision(adapter):
    """unique=True: -expm1(T * log1p(-P(k))) within 1e-6 of float64 for every class up to
    10**7, with T (the number of tries, one for the whole call) read back from the
    count of class 0 (S * P(k), TensorFlow's shortcut, when T = S)."""
    range_max, num_sampled = 10**7, 64
    classes = _precision_classes(range_max)
    candidates, true_expected, sampled_expected = _sampler(
        adapter, classes.reshape(-1, 1), 1, num_sampled, True, range_max, seed=4
    )
    p, p_sampled = _p(classes, range_max), _p(candidates, range_max)
    tries = np.log1p(-np.float64(true_expected[0, 0])) / np.log1p(-p[0])
    if np.isclose(true_expected[0, 0], num_sampled * p[0], rtol=1e-5):
        want, want_sampled = num_sampled * p, num_sampled * p_sampled
    else:
        assert abs(tries - np.round(tries)) < 1e-3 and tries > num_sampled, tries
        tries = np.round(tries)
        want, want_sampled = -np.expm1(tries * np.log1p(-p)), -np.expm1(tries * np.log1p(-p_sampled))
    assert _max_relative_error(true_expected[:, 0], want) <= 1e-6
    assert _max_relative_error(sampled_expected, want_sampled) <= 1e-6


def test_sampler_unique_gives_distinct_candidates(adapter):
    true_classes = np.array([[0], [5]], np.int64)
    for range_max, num_sampled in ((50, 10), (8, 8)):
        candidates, true_expected, sampled_expected = _sampler(
            adapter, true_classes, 1, num_sampled, True, range_max, seed=11
        )
        assert len(set(candidates.tolist())) == num_sampled
        assert candidates.min() >= 0 and candidates.max() < range_max
        assert true_expected.shape == (2, 1) and sampled_expected.shape == (num_sampled,)
        assert np.all((sampled_expected > 0) & (sampled_expected <= 1.0 + 1e-6))
        assert np.all((true_expected > 0) & (true_expected <= 1.0 + 1e-6))


@pytest.mark.cross_framework
def test_sampler_unique_distribution_matches_tensorflow():
    """Inclusion frequencies and mean expected counts agree with TF's rejection sampler."""
    import tensorflow as tf

    import multiloss.jax as mj

    range_max, num_sampled, runs = 30, 5, 1500
    true_classes = np.array([[0], [4], [29]], np.int64)
    ours_in, tf_in = np.zeros(range_max), np.zeros(range_max)
    ours_true, tf_true = np.zeros((3, 1)), np.zeros((3, 1))
    for i in range(runs):
        c, t, s = mj.log_uniform_candidate_sampler(true_classes, 1, num_sampled, True, range_max, seed=i)
        c = np.asarray(c)
        assert len(set(c.tolist())) == num_sampled
        ours_in[c] += 1
        ours_true += np.asarray(t)
        # the same num_tries T for every class: s and t follow one formula
        tries = _tries(t, true_classes, range_max)
        if np.isfinite(tries):
            np.testing.assert_allclose(
                np.asarray(s), -np.expm1(tries * np.log1p(-_p(c, range_max))), rtol=1e-3
            )
        tf_out = tf.random.log_uniform_candidate_sampler(true_classes, 1, num_sampled, True, range_max, seed=i + 1)
        tf_in[tf_out.sampled_candidates.numpy()] += 1
        tf_true += tf_out.true_expected_count.numpy()
    np.testing.assert_allclose(ours_in / runs, tf_in / runs, atol=0.06)
    np.testing.assert_allclose(ours_true / runs, tf_true / runs, rtol=0.05)


def _tries(true_expected, true_classes, range_max):
    """num_tries recovered from the expected count of the first true class."""
    p = _p(true_classes[-1, 0], range_max)
    count = np.asarray(true_expected, np.float64)[-1, 0]
    if count >= 1.0 or np.isclose(count, p * 5):  # T = S: TF's shortcut S * P(k)
        return np.nan
    return np.log1p(-count) / np.log1p(-p)


@pytest.mark.cross_framework
@pytest.mark.parametrize("loss", ["sampled_softmax_loss", "nce_loss"])
def test_jax_jit_and_grad_with_the_sampler(loss):
    import jax
    import jax.numpy as jnp

    import multiloss.jax as mj

    weights, biases, labels, inputs, _ = _problem(1)
    fn = getattr(mj, loss)

    def total(w, b, x, seed):
        return jnp.sum(fn(w, b, labels, x, S, C, seed=seed))

    eager = total(weights, biases, inputs, 5)
    jitted = jax.jit(total, static_argnums=3)
    np.testing.assert_allclose(jitted(weights, biases, inputs, 5), eager, rtol=1e-5)
    grads = jax.jit(jax.grad(total, argnums=(0, 1, 2)), static_argnums=3)(weights, biases, inputs, 5)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)
    sampler = jax.jit(
        lambda t: mj.log_uniform_candidate_sampler(t, 1, S, True, C, seed=2)
    )
    candidates = np.asarray(sampler(labels)[0])
    assert len(set(candidates.tolist())) == S


@pytest.mark.cross_framework
@pytest.mark.parametrize("loss", ["sampled_softmax_loss", "nce_loss"])
def test_tensorflow_xla_with_the_unique_sampler(loss):
    import tensorflow as tf

    import multiloss.tensorflow as mtf

    weights, biases, labels, inputs, _ = _problem(2)
    w, b, x = tf.Variable(weights), tf.Variable(biases), tf.constant(inputs)
    fn = getattr(mtf, loss)

    @tf.function(jit_compile=True)
    def step():
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(fn(w, b, tf.constant(labels), x, S, C, num_true=2, seed=4))
        return value, tape.gradient(value, [w, b])

    value, grads = step()
    eager = tf.reduce_sum(fn(w, b, labels, x, S, C, num_true=2, seed=4))
    np.testing.assert_allclose(value.numpy(), eager.numpy(), rtol=1e-5)
    assert all(np.all(np.isfinite(tf.convert_to_tensor(g).numpy())) for g in grads)

    @tf.function(jit_compile=True)
    def sample():
        return mtf.log_uniform_candidate_sampler(tf.constant(labels), 2, S, True, C)

    candidates = sample()[0].numpy()
    assert len(set(candidates.tolist())) == S


@pytest.mark.cross_framework
def test_torch_gradients_and_sampler():
    import torch

    import multiloss.torch as mt

    weights, biases, labels, inputs, _ = _problem(1)
    w = torch.tensor(weights, requires_grad=True)
    out = mt.sampled_softmax_loss(w, torch.tensor(biases), torch.tensor(labels), torch.tensor(inputs), S, C)
    out.sum().backward()
    assert out.shape == (B,) and torch.isfinite(w.grad).all()


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"num_sampled": 0}, "num_sampled"),
        ({"num_sampled": 2.5}, "num_sampled"),
        ({"num_classes": -1}, "num_classes"),
        ({"weights": np.zeros((C,), np.float32)}, "weights"),
        ({"biases": np.zeros((C + 1,), np.float32)}, "biases"),
        ({"labels": np.zeros((B, 2), np.int64)}, "labels"),
        ({"labels": np.zeros((B, 1), np.float32)}, "labels"),
        ({"inputs": np.zeros((B, D + 1), np.float32)}, "inputs"),
        ({"sampled_values": (np.zeros(S + 1, np.int64), np.ones((B, 1), np.float32),
                             np.ones(S + 1, np.float32))}, "sampled_candidates"),
        ({"sampled_values": (np.zeros(S, np.int64), np.ones((B, 2), np.float32),
                             np.ones(S, np.float32))}, "true_expected_count"),
        ({"sampled_values": (1, 2)}, "sampled_values"),
        # class ids outside [0, num_classes): a ValueError, not a gather error or NaN
        ({"labels": np.full((B, 1), C, np.int64)}, r"labels holds class id 20, outside \[0, 20\)"),
        ({"labels": np.full((B, 1), -1, np.int64)}, r"labels holds class id -1"),
        ({"sampled_values": (np.full(S, C, np.int64), np.ones((B, 1), np.float32),
                             np.ones(S, np.float32))}, r"sampled_values.* holds class id 20"),
    ],
)
def test_bad_arguments_name_the_argument(adapter, kwargs, fragment):
    weights, biases, labels, inputs, sampled_values = _problem(1)
    args = dict(weights=weights, biases=biases, labels=labels, inputs=inputs, num_sampled=S,
                num_classes=C, sampled_values=sampled_values)
    args.update(kwargs)
    fn = adapter.fn("sampled_softmax_loss")
    tensors = [args.pop(k) for k in ("weights", "biases", "labels", "inputs")]
    tensors = [adapter.tensor(t) for t in tensors]
    with pytest.raises(ValueError, match=fragment):
        fn(*tensors, args.pop("num_sampled"), args.pop("num_classes"), **args)


def test_sampler_bad_arguments(adapter):
    fn = adapter.fn("log_uniform_candidate_sampler")
    classes = adapter.tensor(np.zeros((2, 1), np.int64))
    with pytest.raises(ValueError, match="num_sampled"):
        fn(classes, 1, 11, True, 10)
    with pytest.raises(ValueError, match="true_classes"):
        fn(classes, 2, 3, True, 10)
    with pytest.raises(ValueError, match="unique"):
        fn(classes, 1, 3, "yes", 10)
    with pytest.raises(ValueError, match="seed"):
        fn(classes, 1, 3, True, 10, seed=1.5)
    # num_sampled=1: a single draw, expected count S * P(k)
    _, true_expected, _ = _sampler(adapter, np.zeros((2, 1), np.int64), 1, 1, True, 10)
    np.testing.assert_allclose(true_expected, _p(np.zeros((2, 1)), 10), rtol=1e-6)
