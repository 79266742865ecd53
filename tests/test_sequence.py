"""ctc_loss against torch.nn.functional.ctc_loss (float64, values and gradients for the
logits), optax.losses.ctc_loss and keras.ops.ctc_loss / keras.losses.CTC; unalignable
and empty label sequences, padding never read, half precision and large logits, the
argument errors, the Keras class (lengths computed inside: the registry's
``keras_optional``), compiled tracing (jax.jit, torch.compile, XLA) and the ops layer's
``scan`` the recursion runs on.

Reference: Graves et al., ICML 2006, https://doi.org/10.1145/1143844.1143891.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from loss_cases import ADAPTERS_ONCE

from multiloss import core
from multiloss.verify import frameworks

ONCE = pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
cross_framework = pytest.mark.cross_framework
BACKEND = keras.config.backend()


def assert_close(got, want, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=rtol, atol=atol)


def batch(rng, batch=4, frames=8, classes=5, labels=3):
    """Logits [B, T, C] and labels [B, S] with varying lengths, a repeat and an empty
    label sequence; label padding -1 and frame padding are never read."""
    logits = rng.normal(scale=1.5, size=(batch, frames, classes)).astype(np.float32)
    y = rng.integers(1, classes, size=(batch, labels))
    y[1, :2] = y[1, 0]  # a repeat: a blank is needed between
    pred_lengths = np.array([frames, frames - 2, frames - 3, 2])[:batch]
    label_lengths = np.array([labels, labels, labels - 1, 0])[:batch]
    y[2, labels - 1:] = -1
    return logits, y, pred_lengths, label_lengths


def torch_ctc(logits, labels, pred_lengths, label_lengths, blank=0, reduction="none"):
    """torch.nn.functional.ctc_loss per sequence in float64 (zero_infinity: unalignable
    sequences give 0), reduced as multiloss reduces; value and gradient for the logits."""
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    values = F.ctc_loss(
        x.log_softmax(-1).transpose(0, 1), torch.tensor(labels), torch.tensor(pred_lengths),
        torch.tensor(label_lengths), blank=blank, reduction="none", zero_infinity=True,
    )
    out = {"none": values, "mean": values.mean(), "sum": values.sum()}[reduction]
    (grad,) = torch.autograd.grad(out.sum(), x)
    return out.detach().numpy(), grad.numpy()


# --- torch.nn.functional.ctc_loss -----------------------------------------------------


@ONCE
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_matches_torch_ctc_loss(adapter, rng, reduction):
    inputs = batch(rng)
    want, want_grad = torch_ctc(*inputs, reduction=reduction)
    value, (grad,) = adapter.value_and_grad("ctc_loss", *inputs, reduction=reduction)
    assert value.shape == want.shape
    assert_close(value, want)
    assert_close(grad, want_grad)


@ONCE
@pytest.mark.parametrize("blank", [0, 2, 5])
def test_blank_anywhere_and_as_a_label(adapter, rng, blank):
    """blank=5 is the last class; blank=2 also occurs among the labels (torch's rule:
    skip to a state whenever its label differs from the one two states back)."""
    logits = rng.normal(size=(3, 7, 6)).astype(np.float32)
    labels = np.array([[0, 1, 2, 3], [4, 4, 0, 0], [2, 0, 1, 1]])
    inputs = (logits, labels, np.array([7, 7, 5]), np.array([4, 2, 3]))
    want, want_grad = torch_ctc(*inputs, blank=blank)
    value, (grad,) = adapter.value_and_grad("ctc_loss", *inputs, blank=blank, reduction="none")
    assert_close(value, want)
    assert_close(grad, want_grad)


def test_plain_mean_is_not_torchs_mean(rng):
    """multiloss' "mean" is the mean over sequences; torch's divides by label lengths."""
    import multiloss.torch as mt

    logits, labels, pred_lengths, label_lengths = batch(rng)
    label_lengths[-1] = 1
    args = (torch.tensor(logits), torch.tensor(labels), torch.tensor(pred_lengths), torch.tensor(label_lengths))
    got = mt.ctc_loss(*args).item()
    log_probs = args[0].double().log_softmax(-1).transpose(0, 1)
    per_sequence = F.ctc_loss(log_probs, *args[1:], reduction="none")
    assert got == pytest.approx(per_sequence.mean().item(), rel=1e-5)
    torch_mean = F.ctc_loss(log_probs, *args[1:], reduction="mean").item()
    assert torch_mean == pytest.approx((per_sequence / args[3]).mean().item(), rel=1e-9)
    assert got != pytest.approx(torch_mean, rel=1e-2)


# --- optax and keras ------------------------------------------------------------------


@cross_framework
def test_matches_optax_ctc_loss_values_and_gradients(rng):
    import jax
    import jax.numpy as jnp
    import optax

    import multiloss.jax as mj

    logits, labels, pred_lengths, label_lengths = batch(rng)
    labels = np.where(labels < 0, 0, labels)
    logit_paddings = (np.arange(8)[None] >= pred_lengths[:, None]).astype(np.float32)
    label_paddings = (np.arange(3)[None] >= label_lengths[:, None]).astype(np.float32)

    def theirs(x):
        return optax.losses.ctc_loss(x, logit_paddings, labels, label_paddings)

    def ours(x):
        return mj.ctc_loss(x, labels, pred_lengths, label_lengths, reduction="none")

    x = jnp.asarray(logits)
    assert_close(ours(x), theirs(x), rtol=1e-5)
    assert_close(jax.grad(lambda x: ours(x).sum())(x), jax.grad(lambda x: theirs(x).sum())(x))


def test_keras_function_matches_keras_ops_ctc_loss(rng):
    """``keras.ops.ctc_loss(target, output, target_length, output_length)`` on this
    session's backend, for alignable sequences (Keras gives ~1e5 for the others)."""
    import multiloss.keras as mk

    logits, labels, pred_lengths, label_lengths = batch(rng)
    labels = np.where(labels < 0, 0, labels).astype(np.int32)
    want = keras.ops.convert_to_numpy(keras.ops.ctc_loss(
        labels, logits, label_lengths.astype(np.int32), pred_lengths.astype(np.int32)
    ))
    got = keras.ops.convert_to_numpy(mk.ctc_loss(labels, logits, pred_lengths, label_lengths))
    assert_close(got, want, rtol=2e-5, atol=1e-5)


def test_keras_class_matches_keras_losses_ctc(rng):
    """``CTCLoss()`` (no lengths: every frame, the labels that are not the blank) equals
    ``keras.losses.CTC()``, which counts the labels != 0 and uses every frame."""
    import multiloss.keras as mk

    logits = rng.normal(size=(3, 9, 5)).astype(np.float32)
    labels = np.array([[1, 2, 3, 3], [4, 1, 0, 0], [2, 0, 0, 0]], np.int32)
    want = keras.ops.convert_to_numpy(keras.losses.CTC()(labels, logits))
    loss = mk.CTCLoss()
    assert_close(keras.ops.convert_to_numpy(loss(labels, logits)), want, rtol=2e-5)
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert_close(keras.ops.convert_to_numpy(revived(labels, logits)), want, rtol=2e-5)
    per_sequence = mk.ctc_loss(labels, logits, np.full(3, 9), np.array([4, 2, 1]))
    assert_close(keras.ops.convert_to_numpy(loss(labels, logits)),
                 keras.ops.convert_to_numpy(per_sequence).mean(), rtol=1e-6)


def test_keras_class_fits_a_model(rng):
    import multiloss.keras as mk

    inputs = keras.Input((6, 4))
    model = keras.Sequential([inputs, keras.layers.Dense(5)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=mk.CTCLoss())
    x = rng.normal(size=(8, 6, 4)).astype(np.float32)
    y = rng.integers(1, 5, size=(8, 3)).astype(np.int32)
    y[::2, 2] = 0  # padded with the blank
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < history[0]


# --- edge cases ------------------------------------------------------------------------


@ONCE
def test_unalignable_and_empty_sequences(adapter, rng):
    """A label sequence longer than its frames (counting the blank between repeats)
    gives 0 with a zero gradient, as torch's zero_infinity=True; an empty one the
    all-blank path; 0 frames and 0 labels give 0."""
    logits = rng.normal(size=(6, 4, 4)).astype(np.float32)
    labels = np.array([[1, 2, 3], [1, 1, 2], [3, 3, 3], [1, 2, 0], [2, 0, 0], [1, 1, 0]])
    pred_lengths = np.array([2, 3, 4, 0, 0, 3])
    label_lengths = np.array([3, 3, 3, 0, 1, 2])
    value, (grad,) = adapter.value_and_grad(
        "ctc_loss", logits, labels, pred_lengths, label_lengths, reduction="none"
    )
    want, want_grad = torch_ctc(logits, labels, pred_lengths, label_lengths)
    assert_close(value, want)
    assert_close(grad, want_grad)
    assert value[:5].tolist() == [0.0] * 5 and value[5] > 0
    assert np.all(grad[:5] == 0.0)
    blank_path = -F.log_softmax(torch.tensor(logits[5, :3], dtype=torch.float64), -1)
    assert value[5] > blank_path[:, 0].sum().item() - 50  # (a real path, finite)


@ONCE
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_is_computed_in_float32(adapter, rng, dtype):
    inputs = batch(rng)
    value, (grad,) = adapter.value_and_grad("ctc_loss", *inputs, dtype=dtype, reduction="none")
    rounded = frameworks.to_numpy(frameworks.cast("torch", torch.tensor(inputs[0]), dtype)).astype(np.float32)
    want, want_grad = torch_ctc(rounded, *inputs[1:])
    rtol = {"float16": 2e-3, "bfloat16": 1.6e-2}[dtype]
    assert_close(value, want, rtol=rtol, atol=1e-3)
    assert_close(grad, want_grad, rtol=rtol, atol=2e-3)


@ONCE
@pytest.mark.parametrize("scale", [1e2, 1e4, 1e30])
def test_large_logits_are_exact_and_finite(adapter, rng, scale):
    logits, labels, pred_lengths, label_lengths = batch(rng)
    logits = (logits * scale).astype(np.float32)
    # (float16 only where the loss itself fits in float16: below 65504)
    for dtype in ("float32", "float16") if scale < 1e3 else ("float32", "bfloat16"):
        value, (grad,) = adapter.value_and_grad(
            "ctc_loss", logits, labels, pred_lengths, label_lengths, dtype=dtype, reduction="none"
        )
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), (dtype, value)
    want, want_grad = torch_ctc(logits, labels, pred_lengths, label_lengths)
    value, (grad,) = adapter.value_and_grad("ctc_loss", logits, labels, pred_lengths, label_lengths,
                                            reduction="none")
    assert_close(value, want, rtol=1e-5, atol=1e-6 * scale)
    assert_close(grad, want_grad, atol=1e-5)


@ONCE
def test_logits_at_the_edge_of_float32_stay_finite(adapter, rng):
    """Logits of ±3e38 (log_softmax overflows to -inf): the states are clamped at half
    the float32 range, so value and gradient stay finite (the loss is clamped there)."""
    logits, labels, pred_lengths, label_lengths = batch(rng)
    logits = (np.tanh(logits.astype(np.float64)) * 3.4e38).astype(np.float32)
    value, (grad,) = adapter.value_and_grad(
        "ctc_loss", logits, labels, pred_lengths, label_lengths, reduction="none"
    )
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), value
    assert np.all(value >= 0) and value.max() <= 1.8e38


@ONCE
def test_nan_in_a_counted_frame_gives_nan_and_padding_is_never_read(adapter, rng):
    logits, labels, pred_lengths, label_lengths = batch(rng)
    poisoned = logits.copy()
    poisoned[0, 3, 1] = np.nan
    value = adapter.call("ctc_loss", poisoned, labels, pred_lengths, label_lengths, reduction="none")
    assert np.isnan(value[0]) and not np.isnan(value[1:]).any()
    padded = logits.copy()
    padded[1, 7] = np.nan  # frame 7 of sequence 1 (6 frames): padding
    padded[3, 2:] = np.inf
    value, (grad,) = adapter.value_and_grad(
        "ctc_loss", padded, labels, pred_lengths, label_lengths, reduction="none"
    )
    want, want_grad = torch_ctc(logits, labels, pred_lengths, label_lengths)
    assert_close(value, want)
    assert np.all(np.isfinite(grad))
    assert_close(grad, want_grad)


@ONCE
def test_where_and_sample_weight_per_sequence(adapter, rng):
    logits, labels, pred_lengths, label_lengths = batch(rng)
    poisoned = logits.copy()
    poisoned[2] = np.nan  # masked out: never reaches the value or the gradient
    where = np.array([True, True, False, True])
    weight = np.array([0.5, 2.0, 7.0, 1.0], np.float32)
    fn = adapter.fn("ctc_loss")
    want, want_grad = torch_ctc(logits, labels, pred_lengths, label_lengths)
    c = where * weight
    value, (grad,) = frameworks.value_and_grad(
        adapter.name,
        lambda *t: fn(*t, where=adapter.tensor(where), sample_weight=adapter.tensor(weight), reduction="mean"),
        (poisoned, labels, pred_lengths, label_lengths), (0,),
    )
    assert_close(value, (c * want).sum() / c.sum())
    assert np.all(np.isfinite(grad))
    assert_close(grad, c[:, None, None] * want_grad / c.sum())


@ONCE
def test_lengths_none_mean_every_frame_and_the_non_blank_labels(adapter, rng):
    logits = rng.normal(size=(3, 6, 5)).astype(np.float32)
    labels = np.array([[1, 2, 2], [3, 4, 0], [0, 0, 0]])
    fn = adapter.fn("ctc_loss")
    x, y = adapter.tensor(logits), adapter.tensor(labels)
    got = frameworks.to_numpy(fn(x, y, None, None, reduction="none"))
    want, _ = torch_ctc(logits, labels, [6, 6, 6], [3, 2, 0])
    assert_close(got, want)
    got = frameworks.to_numpy(fn(x, y, adapter.tensor(np.array([6, 4, 2])), None, reduction="none"))
    assert_close(got, torch_ctc(logits, labels, [6, 4, 2], [3, 2, 0])[0])
    got = frameworks.to_numpy(fn(x, y, None, adapter.tensor(np.array([3, 3, 1])), reduction="none"))
    assert_close(got, torch_ctc(logits, labels, [6, 6, 6], [3, 3, 1])[0])


@cross_framework
@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32"])
def test_small_integer_labels_and_lengths(rng, dtype):
    logits, labels, pred_lengths, label_lengths = batch(rng)
    labels = np.where(labels < 0, 0, labels)
    want, _ = torch_ctc(logits, labels, pred_lengths, label_lengths)
    for framework in ("torch", "jax", "tensorflow"):
        fn = frameworks.adapter_function(framework, "ctc_loss")
        small = [frameworks.cast(framework, frameworks.to_tensor(framework, a), dtype)
                 for a in (labels, pred_lengths, label_lengths)]
        got = fn(frameworks.to_tensor(framework, logits), *small, reduction="none")
        assert_close(frameworks.to_numpy(got), want)


# --- errors ---------------------------------------------------------------------------


ERRORS = [
    ("rank", dict(y_pred=np.zeros((4, 8))), ValueError, ["y_pred", "[B, T, C]", "(4, 8)"]),
    ("labels_rank", dict(y_true=np.zeros((4,), np.int64)), ValueError, ["y_true", "[B, S]", "(4,)"]),
    ("batch", dict(y_true=np.ones((3, 3), np.int64)), ValueError, ["batch size", "(4, 8, 5)", "(3, 3)"]),
    ("lengths_shape", dict(pred_lengths=np.array([8, 8])), ValueError, ["pred_lengths", "(4,)", "(2,)"]),
    ("lengths_float", dict(label_lengths=np.array([1.0, 2, 2, 0])), TypeError, ["label_lengths", "float"]),
    ("frames_over_T", dict(pred_lengths=np.array([9, 8, 8, 8])), ValueError, ["pred_lengths", "[0, 8]", "9"]),
    ("negative_frames", dict(pred_lengths=np.array([8, -1, 8, 8])), ValueError, ["pred_lengths", "-1"]),
    ("labels_over_S", dict(label_lengths=np.array([4, 3, 2, 0])), ValueError, ["label_lengths", "[0, 3]", "4"]),
    ("label_id", dict(y_true=np.array([[1, 5, 1]] * 4)), ValueError, ["y_true", "5", "[0, 5)"]),
    ("negative_label", dict(y_true=np.array([[1, -1, 1]] * 4)), ValueError, ["y_true", "-1"]),
    ("blank", dict(blank=5), ValueError, ["blank", "[0, 5)"]),
    ("blank_type", dict(blank=1.0), TypeError, ["blank"]),
    ("reduction", dict(reduction="avg"), ValueError, ["reduction", "avg"]),
]


@ONCE
@pytest.mark.parametrize("name, change, exception, fragments", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_arguments_name_the_argument(adapter, name, change, exception, fragments):
    tensors = dict(
        y_pred=np.zeros((4, 8, 5), np.float32), y_true=np.ones((4, 3), np.int64),
        pred_lengths=np.array([8, 8, 8, 8]), label_lengths=np.array([3, 3, 3, 0]),
    )
    params = {}
    for key, value in change.items():
        (tensors if key in tensors else params)[key] = value
    args = [adapter.tensor(tensors[n]) for n in ("y_pred", "y_true", "pred_lengths", "label_lengths")]
    with pytest.raises(exception) as info:
        adapter.fn("ctc_loss")(*args, **params)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_label_padding_is_not_checked(rng):
    """Entries beyond a sequence's label length may hold any padding value."""
    import multiloss.torch as mt

    logits, labels, pred_lengths, label_lengths = batch(rng)
    labels[3] = [-100, 99, 7]  # label length 0
    want, _ = torch_ctc(logits, np.where(labels < 0, 0, labels % 5), pred_lengths, label_lengths)
    got = mt.ctc_loss(*map(torch.tensor, (logits, labels, pred_lengths, label_lengths)), reduction="none")
    assert_close(got.numpy(), want)


# --- the registry's keras_optional -------------------------------------------------------


def test_spec_and_class_forms():
    import multiloss.keras as mk
    import multiloss.torch as mt

    spec = core.get_spec("ctc_loss")
    assert spec.kind == "per_row" and spec.class_name == "CTCLoss"
    assert spec.keras_optional == ("pred_lengths", "label_lengths")
    assert spec.keras_order == ("y_true", "y_pred", "pred_lengths", "label_lengths")
    assert spec.keras_class_name == "CTCLoss"
    assert issubclass(mk.CTCLoss, keras.losses.Loss) and "pred_lengths=None" in mk.CTCLoss.__doc__
    assert issubclass(mt.CTCLoss, torch.nn.Module)
    assert "Same numbers" in spec.doc and "zero_infinity" in spec.doc


def test_register_refuses_bad_keras_optional():
    def two(ops, y_pred, y_true, lengths, *, reduction="mean", where=None, sample_weight=None):
        return y_pred

    for optional in (("y_true",), ("y_pred",), ("nothing",)):
        with pytest.raises(ValueError, match="keras_optional"):
            core.register(kind="per_row", keras_optional=optional)(two)
    assert "two" not in core.registry()


def test_keras_optional_gives_a_keras_class_to_any_loss():
    import multiloss.keras as mk

    def scaled_square(ops, y_pred, y_true, scale, *, reduction="mean", where=None, sample_weight=None):
        """y_pred² · scale (scale 2 when None)."""
        factor = 2.0 if scale is None else ops.expand_dims(scale, -1)
        return ops.mean(ops.square(y_pred - y_true) * factor, axis=-1)

    try:
        core.register(kind="per_example", integer_args=(), keras_optional=("scale",))(scaled_square)
        x = np.array([[1.0, 2.0], [0.0, 3.0]], np.float32)
        y = np.zeros_like(x)
        value = keras.ops.convert_to_numpy(mk.ScaledSquare(reduction="sum")(y, x))
        assert value == pytest.approx(2.0 * (2.5 + 4.5))
    finally:
        core.unregister("scaled_square")


# --- traced forms -------------------------------------------------------------------------


def _traced_inputs():
    return batch(np.random.default_rng(3))


@cross_framework
def test_jax_jit_grad_and_vmap():
    import jax

    import multiloss.jax as mj

    inputs = _traced_inputs()
    want, want_grad = torch_ctc(*inputs, reduction="sum")
    value, grad = jax.jit(jax.value_and_grad(lambda x, *rest: mj.ctc_loss(x, *rest, reduction="sum")))(*inputs)
    assert_close(value, want)
    assert_close(grad, want_grad)
    logits, labels = inputs[:2]
    full = jax.jit(lambda x, y: mj.ctc_loss(x, y, None, None, reduction="none"))(logits, np.abs(labels))
    assert_close(full, torch_ctc(logits, np.abs(labels), [8] * 4, [3] * 4)[0])
    per_example = jax.jit(jax.vmap(lambda *t: mj.ctc_loss(*(a[None] for a in t))))(*inputs)
    assert_close(per_example, torch_ctc(*inputs)[0])


@cross_framework
@pytest.mark.parametrize("lengths", ["given", "none"])
def test_torch_compile_fullgraph(lengths):
    import multiloss.torch as mt

    logits, labels, pred_lengths, label_lengths = _traced_inputs()
    labels = np.abs(labels)
    if lengths == "none":
        pred_lengths, label_lengths = [8] * 4, np.count_nonzero(labels, axis=-1)
    want, want_grad = torch_ctc(logits, labels, pred_lengths, label_lengths, reduction="mean")
    y = torch.tensor(labels)
    lens = (None, None) if lengths == "none" else (torch.tensor(pred_lengths), torch.tensor(label_lengths))
    compiled = torch.compile(lambda x: mt.ctc_loss(x, y, *lens), fullgraph=True, backend="aot_eager")
    try:
        x = torch.tensor(logits, requires_grad=True)
        value = compiled(x)
        (grad,) = torch.autograd.grad(value, x)
    finally:
        torch._dynamo.reset()
    assert_close(value.detach().numpy(), want)
    assert_close(grad.numpy(), want_grad)


@cross_framework
@pytest.mark.parametrize("mode", ["tf.function", "xla", "unknown_shapes"])
def test_tensorflow_graph_and_xla(mode):
    import tensorflow as tf

    import multiloss.tensorflow as mtf

    inputs = _traced_inputs()
    want, want_grad = torch_ctc(*inputs, reduction="sum")

    def step(x, *rest):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = mtf.ctc_loss(x, *rest, reduction="sum")
        return value, tape.gradient(value, x)

    signature = None
    if mode == "unknown_shapes":
        signature = [tf.TensorSpec([None] * a.ndim, tf.as_dtype(a.dtype)) for a in inputs]
    step = tf.function(step, jit_compile=mode == "xla", input_signature=signature)
    value, grad = step(*(tf.constant(a) for a in inputs))
    assert_close(value.numpy(), want)
    assert_close(grad.numpy(), want_grad)


def test_keras_function_traced_on_the_session_backend():
    import multiloss.keras as mk

    logits, labels, pred_lengths, label_lengths = _traced_inputs()
    want, want_grad = torch_ctc(logits, labels, pred_lengths, label_lengths, reduction="mean")

    def loss(x):
        return mk.ctc_loss(labels, x, pred_lengths, label_lengths, reduction="mean")

    if BACKEND == "jax":
        import jax

        value, grad = jax.jit(jax.value_and_grad(loss))(logits)
    elif BACKEND == "torch":
        labels, pred_lengths, label_lengths = map(torch.tensor, (labels, pred_lengths, label_lengths))
        compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
        try:
            x = torch.tensor(logits, requires_grad=True)
            value = compiled(x)
            (grad,) = torch.autograd.grad(value, x)
            value, grad = value.detach(), grad
        finally:
            torch._dynamo.reset()
    else:
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = loss(x)
            return value, tape.gradient(value, x)

        value, grad = step(tf.constant(logits))
    assert_close(np.asarray(value), want)
    assert_close(np.asarray(grad), want_grad)


# --- the ops layer's scan -----------------------------------------------------------------


@pytest.mark.parametrize(
    "framework",
    [pytest.param(f, marks=() if f == BACKEND else cross_framework) for f in ("torch", "jax", "tensorflow")],
)
@pytest.mark.parametrize("reverse", [False, True])
def test_ops_scan_equals_keras_ops_scan(framework, reverse):
    """``ops.scan`` (torch: a plain loop; tensorflow: a while loop XLA can differentiate)
    against public ``keras.ops.scan`` of this session's backend: carries and stacked
    outputs, nested inputs, reversed."""
    from multiloss.core.ops import get_ops

    ops = get_ops(framework)
    xs = np.arange(12, dtype=np.float32).reshape(4, 3)
    scale = np.array([1.0, -2.0, 0.5, 3.0], np.float32)

    def f(carry, x):  # (Keras' tensorflow scan stacks outputs shaped as the carry only)
        row, k = x
        total = carry * 0.5 + row * k
        return total, total * total

    init = np.ones(3, np.float32)
    carry, stacked = ops.scan(
        f, frameworks.to_tensor(framework, init),
        (frameworks.to_tensor(framework, xs), frameworks.to_tensor(framework, scale)), reverse=reverse,
    )
    want_carry, want_stacked = keras.ops.scan(f, init, (xs, scale), reverse=reverse)
    for got, want in ((carry, want_carry), (stacked, want_stacked)):
        assert_close(frameworks.to_numpy(got), keras.ops.convert_to_numpy(want), rtol=1e-6)
    final, nothing = ops.scan(lambda c, x: (c + x, None), frameworks.to_tensor(framework, init),
                              frameworks.to_tensor(framework, xs))
    assert nothing is None
    assert_close(frameworks.to_numpy(final), init + xs.sum(0))
