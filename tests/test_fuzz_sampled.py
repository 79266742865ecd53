"""Regression tests for fuzzing finds in sampled_softmax_loss / nce_loss.

Bug 4: sampled candidate ids were cast to the dtype of ``labels`` before the
accidental-hit comparison, so with uint8/int8 labels the candidate 261 became 5 and
was masked as a hit of label 5 (and TensorFlow could not gather with int8 ids). Ids
are now compared (and gathered) in a dtype that holds both: the results equal
``tf.nn`` with int64 labels for every label dtype.

Bug 5: class ids were never range-checked: a label >= num_classes gave an IndexError
(torch), an InvalidArgumentError (TF) or NaN (JAX), and -1 silently read the last
class; the same for the candidates of ``sampled_values``. Eager calls now raise a
``ValueError`` naming the argument and the range, as ``y_true`` of cross_entropy
(through ``check_labels_in_range``, which honours ``multiloss.set_label_check``);
traced calls are not checked.
"""

from __future__ import annotations

import numpy as np
import pytest

import multiloss
from multiloss.verify import frameworks

C, D = 300, 4
LABELS = np.array([[5], [7], [100]])
#: 261 is 5 as uint8/int8 (261 - 256): an accidental hit of row 0 if compared there.
CANDIDATES = np.array([261, 7, 3, 299, 0, 150], np.int64)
S = len(CANDIDATES)
LOSSES = ("sampled_softmax_loss", "nce_loss")
LABEL_DTYPES = ("uint8", "int8", "int16", "int32", "int64", "uint16", "uint32")


def _problem():
    rng = np.random.default_rng(4)
    weights = rng.normal(size=(C, D)).astype(np.float32)
    biases = rng.normal(size=C).astype(np.float32)
    inputs = rng.normal(size=(len(LABELS), D)).astype(np.float32)
    true_expected = rng.uniform(0.1, 1.0, size=(len(LABELS), 1)).astype(np.float32)
    sampled_expected = rng.uniform(0.1, 1.0, size=S).astype(np.float32)
    return weights, biases, inputs, (CANDIDATES, true_expected, sampled_expected)


def _tf_reference(loss, weights, biases, labels, inputs, sampled_values, **params):
    """``tf.nn.<loss>`` with int64 labels and candidates: values and gradients."""
    import tensorflow as tf

    fn = {"sampled_softmax_loss": tf.nn.sampled_softmax_loss, "nce_loss": tf.nn.nce_loss}[loss]
    w, b, x = (tf.constant(a) for a in (weights, biases, inputs))
    candidates, true_expected, sampled_expected = sampled_values
    sampled = (
        tf.constant(np.asarray(candidates, np.int64)),
        tf.constant(true_expected),
        tf.constant(sampled_expected),
    )
    with tf.GradientTape() as tape:
        tape.watch([w, b, x])
        out = fn(w, b, tf.constant(np.asarray(labels, np.int64)), x, S, C,
                 sampled_values=sampled, **params)
        total = tf.reduce_sum(out)
    grads = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(total, [w, b, x])]
    return out.numpy(), grads


def _skip_unsupported(adapter, dtype):
    """Skip dtypes the adapter's framework has no usable tensors of (torch before 2.3
    has no uint16/uint32, and little support for them after)."""
    try:
        probe = adapter.tensor(np.array([1, 2], dtype))
        frameworks.to_numpy(frameworks.cast(adapter.framework, probe, "int32"))
    except (TypeError, AttributeError, RuntimeError, ValueError) as exc:
        pytest.skip(f"{adapter.framework} has no usable {dtype} tensors: {exc}")


# ---------------------------------------------------------------------------------
# Bug 4: candidate ids compared in the label dtype


@pytest.mark.parametrize("remove_accidental_hits", [True, False])
@pytest.mark.parametrize("label_dtype", LABEL_DTYPES)
@pytest.mark.parametrize("loss", LOSSES)
def test_narrow_label_dtypes_match_tensorflow_int64(adapter, loss, label_dtype, remove_accidental_hits):
    _skip_unsupported(adapter, label_dtype)
    weights, biases, inputs, sampled_values = _problem()
    params = dict(remove_accidental_hits=remove_accidental_hits)
    expected, expected_grads = _tf_reference(
        loss, weights, biases, LABELS, inputs, sampled_values, **params
    )
    value, grads = adapter.value_and_grad(
        loss, weights, biases, LABELS.astype(label_dtype), inputs, S, C, wrt=(0, 1, 3),
        sampled_values=sampled_values, **params,
    )
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
    for name, got, want in zip(("weights", "biases", "inputs"), grads, expected_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_reproducer_row_zero_is_not_masked(adapter):
    """The fuzz case: uint8 labels, candidate 261 is no accidental hit of label 5."""
    weights, biases, inputs, sampled_values = _problem()
    expected, _ = _tf_reference("sampled_softmax_loss", weights, biases, LABELS, inputs, sampled_values)
    got = adapter.call(
        "sampled_softmax_loss", weights, biases, LABELS.astype("uint8"), inputs, S, C,
        sampled_values=sampled_values,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # what the bug gave: candidate 261 (5 as uint8) masked in row 0 as a hit of label 5
    candidates, true_expected, sampled_expected = sampled_values
    w, b, x = (a.astype(np.float64) for a in (weights, biases, inputs))
    true_logit = np.sum(x[0] * w[5]) + b[5] - np.log(true_expected[0, 0])
    sampled_logits = x[0] @ w[candidates].T + b[candidates] - np.log(sampled_expected)
    buggy = np.logaddexp.reduce(np.append(sampled_logits[1:], true_logit)) - true_logit
    np.testing.assert_allclose(
        np.logaddexp.reduce(np.append(sampled_logits, true_logit)) - true_logit, expected[0], rtol=1e-5
    )
    assert not np.isclose(got[0], buggy, rtol=1e-3)


@pytest.mark.parametrize("candidate_dtype", ["uint16", "int16", "int32", "int64"])
@pytest.mark.parametrize("label_dtype", ["uint8", "int8", "int64"])
@pytest.mark.parametrize("loss", LOSSES)
def test_candidate_and_label_dtypes_mixed(adapter, loss, label_dtype, candidate_dtype):
    _skip_unsupported(adapter, label_dtype)
    _skip_unsupported(adapter, candidate_dtype)
    weights, biases, inputs, (candidates, true_expected, sampled_expected) = _problem()
    expected, _ = _tf_reference(
        loss, weights, biases, LABELS, inputs, (candidates, true_expected, sampled_expected),
        remove_accidental_hits=True,
    )
    sampled_values = (adapter.tensor(candidates.astype(candidate_dtype)), true_expected, sampled_expected)
    got = adapter.call(
        loss, weights, biases, LABELS.astype(label_dtype), inputs, S, C,
        sampled_values=sampled_values, remove_accidental_hits=True,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("label_dtype", ["uint8", "int8", "int16"])
@pytest.mark.parametrize("loss", LOSSES)
def test_narrow_labels_with_the_sampler(adapter, loss, label_dtype):
    """Drawn candidates: narrow labels give the same result as int64 labels."""
    weights, biases, inputs, _ = _problem()
    wide = adapter.call(loss, weights, biases, LABELS, inputs, 40, C, seed=3,
                        remove_accidental_hits=True)
    narrow = adapter.call(loss, weights, biases, LABELS.astype(label_dtype), inputs, 40, C,
                          seed=3, remove_accidental_hits=True)
    assert np.all(np.isfinite(narrow))
    np.testing.assert_allclose(narrow, wide, rtol=1e-6)


@pytest.mark.cross_framework
@pytest.mark.parametrize("label_dtype", ["uint8", "int8", "int32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_narrow_labels_under_jax_jit(loss, label_dtype):
    import jax
    import jax.numpy as jnp

    import multiloss.jax as mj

    weights, biases, inputs, sampled_values = _problem()
    expected, _ = _tf_reference(loss, weights, biases, LABELS, inputs, sampled_values,
                                remove_accidental_hits=True)
    fn = getattr(mj, loss)
    labels = jnp.asarray(LABELS.astype(label_dtype))
    candidates = jnp.asarray(CANDIDATES)

    @jax.jit
    def run(w, b, x, y, c):
        return fn(w, b, y, x, S, C, sampled_values=(c, *sampled_values[1:]),
                  remove_accidental_hits=True)

    np.testing.assert_allclose(np.asarray(run(weights, biases, inputs, labels, candidates)),
                               expected, rtol=1e-5, atol=1e-6)


@pytest.mark.cross_framework
@pytest.mark.parametrize("label_dtype", ["uint8", "int8", "int32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_narrow_labels_under_tf_xla(loss, label_dtype):
    import tensorflow as tf

    import multiloss.tensorflow as mtf

    weights, biases, inputs, sampled_values = _problem()
    expected, _ = _tf_reference(loss, weights, biases, LABELS, inputs, sampled_values,
                                remove_accidental_hits=True)
    fn = getattr(mtf, loss)

    @tf.function(jit_compile=True)
    def run(y, c):
        return fn(weights, biases, y, inputs, S, C, sampled_values=(c, *sampled_values[1:]),
                  remove_accidental_hits=True)

    got = run(tf.constant(LABELS.astype(label_dtype)), tf.constant(CANDIDATES))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------
# Bug 5: class ids never range-checked


def _call(adapter, loss, labels, sampled_values="default", **params):
    weights, biases, inputs, default = _problem()
    if isinstance(sampled_values, str):
        sampled_values = default
    num_sampled = S if sampled_values is not None else 10
    fn = adapter.fn(loss)
    return fn(adapter.tensor(weights), adapter.tensor(biases), adapter.tensor(labels),
              adapter.tensor(inputs), num_sampled, C, sampled_values=sampled_values, **params)


BAD_LABELS = [
    pytest.param(np.array([[5], [7], [300]]), 300, id="num_classes"),
    pytest.param(np.array([[5], [7], [1000]]), 1000, id="far-above"),
    pytest.param(np.array([[5], [-1], [100]]), -1, id="minus-one"),
    pytest.param(np.array([[5], [-1], [100]], np.int8), -1, id="minus-one-int8"),
]


@pytest.mark.parametrize("labels, bad", BAD_LABELS)
@pytest.mark.parametrize("loss", LOSSES)
def test_out_of_range_labels_raise_value_error(adapter, loss, labels, bad):
    with pytest.raises(ValueError, match=rf"labels holds class id {bad}, outside \[0, 300\)"):
        _call(adapter, loss, labels)


@pytest.mark.parametrize("labels, bad", BAD_LABELS)
@pytest.mark.parametrize("loss", LOSSES)
def test_out_of_range_labels_raise_with_the_sampler(adapter, loss, labels, bad):
    with pytest.raises(ValueError, match=rf"labels holds class id {bad}, outside \[0, 300\)"):
        _call(adapter, loss, labels, sampled_values=None, seed=1)


@pytest.mark.parametrize("bad", [300, 301, -1])
@pytest.mark.parametrize("loss", LOSSES)
def test_out_of_range_candidates_raise_value_error(adapter, loss, bad):
    _, _, _, (candidates, true_expected, sampled_expected) = _problem()
    candidates = candidates.copy()
    candidates[2] = bad
    with pytest.raises(ValueError, match=rf"sampled_values.* holds class id {bad}, outside \[0, 300\)"):
        _call(adapter, loss, LABELS, sampled_values=(adapter.tensor(candidates), true_expected, sampled_expected))


def test_boundary_ids_are_accepted(adapter):
    labels = np.array([[0], [299], [100]])
    for loss in LOSSES:
        out = frameworks.to_numpy(_call(adapter, loss, labels))
        assert out.shape == (3,) and np.all(np.isfinite(out))


def test_sampler_true_classes_out_of_range(adapter):
    fn = adapter.fn("log_uniform_candidate_sampler")
    for bad in (10, -1):
        classes = adapter.tensor(np.array([[0], [bad]], np.int64))
        with pytest.raises(ValueError, match=rf"true_classes holds class id {bad}, outside \[0, 10\)"):
            fn(classes, 1, 3, True, 10, seed=0)


def test_label_check_never_skips_the_check(adapter):
    previous = multiloss.set_label_check("never")
    try:
        # -1 is read as the last class (no check asked for): no ValueError
        out = frameworks.to_numpy(_call(adapter, "sampled_softmax_loss", np.array([[5], [-1], [100]])))
    finally:
        multiloss.set_label_check(previous)
    assert out.shape == (3,)


@pytest.mark.cross_framework
def test_traced_calls_are_not_checked():
    """A compiled graph cannot raise: under jax.jit the check is skipped."""
    import jax

    import multiloss.jax as mj

    weights, biases, inputs, sampled_values = _problem()

    @jax.jit
    def run(y):
        return mj.sampled_softmax_loss(weights, biases, y, inputs, S, C, sampled_values=sampled_values)

    assert run(np.array([[5], [7], [300]])).shape == (3,)
    with pytest.raises(ValueError, match="labels"):
        mj.sampled_softmax_loss(weights, biases, np.array([[5], [7], [300]]), inputs, S, C,
                                sampled_values=sampled_values)


@pytest.mark.parametrize("loss", LOSSES)
def test_sharded_weights_and_float_labels_raise_multiloss_errors(adapter, loss):
    """Ported from TensorFlow's nn_test (partitioned weights, float labels): a clear
    multiloss error naming the argument, never a raw framework error."""
    weights, biases, inputs, sampled_values = _problem()
    shards = [adapter.tensor(weights[: C // 2]), adapter.tensor(weights[C // 2 :])]
    fn = adapter.fn(loss)
    with pytest.raises(TypeError, match="weights.*shards.*partition_strategy"):
        fn(shards, adapter.tensor(biases), adapter.tensor(LABELS), adapter.tensor(inputs), S, C,
           sampled_values=sampled_values)
    with pytest.raises(ValueError, match="labels must hold integer class ids"):
        fn(adapter.tensor(weights), adapter.tensor(biases), adapter.tensor(LABELS.astype(np.float32)),
           adapter.tensor(inputs), S, C, sampled_values=sampled_values)
