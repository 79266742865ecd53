"""``multiloss.keras.LinearCrossEntropyHead``: the vocabulary head trains with ``model.fit``
(its loss and its weight gradient equal a float64 NumPy cross entropy of the full logits),
predicts logits or top-k, and saves and reloads with every parameter — on the Keras
backend of the session (nox runs this file once per backend)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
import multiloss.keras as mk  # noqa: E402

V, D = 37, 6


def reference(h, w, b, y, *, keep=None, sample_weight=None, smoothing=0.0, softcap=None):
    """Mean cross entropy of ``h @ w.T + b`` over the kept rows and ``∂/∂w``, float64."""
    h, w = h.reshape(-1, D).astype(np.float64), w.astype(np.float64)
    y = y.reshape(-1)
    s = h @ w.T + (0.0 if b is None else b)
    x = s if softcap is None else softcap * np.tanh(s / softcap)
    lse = np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1)) + x.max(-1)
    target = (1 - smoothing) * np.eye(V)[y] + smoothing / V
    rows = lse - (target * x).sum(-1)
    weight = np.ones(len(y)) if keep is None else keep.reshape(-1).astype(np.float64)
    if sample_weight is not None:
        weight = weight * sample_weight.reshape(-1)
    loss = (rows * weight).sum() / weight.sum()
    p = np.exp(x - lse[:, None])
    gx = (p - target) * (weight / weight.sum())[:, None]
    if softcap is not None:
        gx = gx * (1 - np.tanh(s / softcap) ** 2)
    return loss, gx.T @ h


def hidden_model(head, steps=6):
    hidden = keras.Input((steps, D))
    labels = keras.Input((steps,), dtype="int32")
    return keras.Model([hidden, labels], head(hidden, labels))


@pytest.mark.parametrize(
    "params",
    [{}, {"use_bias": True, "label_smoothing": 0.1}, {"logit_softcap": 2.0, "chunk_size": 8}],
    ids=["plain", "bias-smoothing", "softcap"],
)
def test_one_sgd_step_follows_the_full_logits_gradient(params):
    """``fit`` with SGD(learning_rate=1) for one batch: the loss it reports and the
    change of ``kernel`` (= −∂loss/∂kernel) match NumPy's cross entropy of the full logits."""
    rng = np.random.default_rng(0)
    h = rng.standard_normal((4, 6, D)).astype("float32")
    y = rng.integers(0, V, (4, 6)).astype("int32")
    head = mk.LinearCrossEntropyHead(
        V, bias_initializer=keras.initializers.RandomNormal(seed=1), **params
    )
    model = hidden_model(head)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
    w0 = keras.ops.convert_to_numpy(head.kernel)
    b0 = keras.ops.convert_to_numpy(head.bias) if head.bias is not None else None
    history = model.fit([h, y], epochs=1, batch_size=4, shuffle=False, verbose=0)
    want_loss, want_grad = reference(
        h, w0, b0, y, smoothing=params.get("label_smoothing", 0.0),
        softcap=params.get("logit_softcap"),
    )
    np.testing.assert_allclose(history.history["loss"][0], want_loss, rtol=1e-5)
    w1 = keras.ops.convert_to_numpy(head.kernel)
    np.testing.assert_allclose(w0 - w1, want_grad, rtol=1e-4, atol=1e-6)


def test_mask_ignore_index_and_sample_weight_choose_the_rows():
    """A Keras mask (``Embedding(mask_zero=True)``), ``ignore_index`` and ``sample_weight``
    drop or weigh rows of the mean, as the reference's kept rows."""
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 5, (3, 5)).astype("int32")  # id 0 is padding
    labels = rng.integers(0, V, (3, 5)).astype("int32")
    labels[0, 1] = -1  # ignored
    weights = rng.uniform(0.5, 2.0, (3, 5)).astype("float32")
    embedding = keras.layers.Embedding(5, D, mask_zero=True)
    head = mk.LinearCrossEntropyHead(V, ignore_index=-1)
    hidden = embedding(tokens)
    loss = head(hidden, labels, sample_weight=weights, training=True)
    keep = (tokens != 0) & (labels != -1)
    h = keras.ops.convert_to_numpy(hidden)
    w = keras.ops.convert_to_numpy(head.kernel)
    want, _ = reference(h, w, None, np.where(keep, labels, 0), keep=keep, sample_weight=weights)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(loss)), want, rtol=1e-5)
    assert len(head.losses) == 1


def test_inference_returns_logits_or_top_k():
    rng = np.random.default_rng(2)
    h = rng.standard_normal((2, 3, D)).astype("float32")
    head = mk.LinearCrossEntropyHead(V, use_bias=True, logit_softcap=5.0,
                                     bias_initializer="ones")
    logits = keras.ops.convert_to_numpy(head(h))
    w = keras.ops.convert_to_numpy(head.kernel)
    want = 5.0 * np.tanh((h @ w.T + 1.0) / 5.0)
    assert logits.shape == (2, 3, V)
    np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-6)
    # labels given but not training: still logits
    labels = np.zeros((2, 3), "int32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(head(h, labels, training=False)), logits)
    top = mk.LinearCrossEntropyHead(V, top_k=4)
    values, indices = top(h)
    full = h @ keras.ops.convert_to_numpy(top.kernel).T
    np.testing.assert_allclose(keras.ops.convert_to_numpy(values),
                               -np.sort(-full, axis=-1)[..., :4], rtol=1e-5, atol=1e-6)
    assert keras.ops.convert_to_numpy(indices).shape == (2, 3, 4)


def test_fit_save_reload_predict(tmp_path):
    """A small language model trains (the loss falls), saves to ``.keras`` and reloads
    with every parameter and the same predictions."""
    rng = np.random.default_rng(3)
    tokens = keras.Input((6,), dtype="int32")
    labels = keras.Input((6,), dtype="int32")
    hidden = keras.layers.Embedding(V, D)(tokens)
    params = dict(use_bias=True, chunk_size=8, ignore_index=-100, label_smoothing=0.05,
                  class_weight=list(np.linspace(0.5, 1.5, V)), z_loss=1e-4,
                  logit_softcap=30.0, top_k=None)
    out = mk.LinearCrossEntropyHead(V, name="head", **params)(hidden, labels)
    model = keras.Model([tokens, labels], out)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    x = rng.integers(0, V, (64, 6)).astype("int32")
    y = np.roll(x, -1, axis=1)
    losses = model.fit([x, y], epochs=4, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    predicted = model.predict([x, y], verbose=0)
    assert predicted.shape == (64, 6, V)
    path = tmp_path / "lm.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    config = reloaded.get_layer("head").get_config()
    for key, value in params.items():
        np.testing.assert_allclose(config[key], value) if key == "class_weight" else None
        assert key == "class_weight" or config[key] == value, (key, config[key], value)
    np.testing.assert_allclose(reloaded.predict([x, y], verbose=0), predicted, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"vocabulary_size": 0}, "vocabulary_size"),
        ({"vocabulary_size": 5, "top_k": 6}, "top_k"),
        ({"vocabulary_size": 5, "label_smoothing": 1.5}, "label_smoothing"),
        ({"vocabulary_size": 5, "logit_softcap": 0.0}, "logit_softcap"),
        ({"vocabulary_size": 5, "chunk_size": 0}, "chunk_size"),
        ({"vocabulary_size": 5, "class_weight": [1.0, 2.0]}, "class_weight"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mk.LinearCrossEntropyHead(**kwargs)


def test_mixed_precision_trains_with_float32_weights():
    """Under ``mixed_bfloat16`` the kernel stays float32, the loss is computed in float32
    from bfloat16 hidden states, and one SGD step moves the kernel as in float32 (to
    bfloat16's resolution of the inputs)."""
    rng = np.random.default_rng(4)
    h = rng.standard_normal((4, 6, D)).astype("float32")
    y = rng.integers(0, V, (4, 6)).astype("int32")
    head = mk.LinearCrossEntropyHead(V, dtype="mixed_bfloat16")
    model = hidden_model(head)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
    w0 = keras.ops.convert_to_numpy(head.kernel)
    loss = model.fit([h, y], epochs=1, batch_size=4, verbose=0).history["loss"][0]
    assert keras.backend.standardize_dtype(head.kernel.dtype) == "float32"
    want_loss, want_grad = reference(h, w0, None, y)
    np.testing.assert_allclose(loss, want_loss, rtol=2e-2)
    np.testing.assert_allclose(w0 - keras.ops.convert_to_numpy(head.kernel), want_grad,
                               rtol=5e-2, atol=2e-3)
