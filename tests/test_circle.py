"""Circle loss: the pair form against float64 NumPy formulas (seed 000 and the
paper's, alphas held constant), the batch form against keras.losses.circle."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

from multiloss.verify import frameworks


def circle_pair_reference(sp, sn, margin, gamma):
    """float64 per-row value and (sp, sn) gradients, alphas held constant."""
    sp, sn = sp.astype(np.float64), sn.astype(np.float64)
    alpha_p = np.maximum(1 + margin - sp, 0.0)
    alpha_n = np.maximum(sn + margin, 0.0)
    logit_p = -gamma * alpha_p * (sp - (1 - margin))
    logit_n = gamma * alpha_n * (sn - margin)

    def lse(x):
        top = x.max(-1, keepdims=True)
        return (top + np.log(np.exp(x - top).sum(-1, keepdims=True)))[..., 0]

    z = lse(logit_p) + lse(logit_n)
    value = np.logaddexp(0.0, z)
    outer = 1 / (1 + np.exp(-z))  # softplus'(z)
    soft_p = np.exp(logit_p - lse(logit_p)[..., None])
    soft_n = np.exp(logit_n - lse(logit_n)[..., None])
    grad_sp = outer[..., None] * soft_p * (-gamma * alpha_p)
    grad_sn = outer[..., None] * soft_n * (gamma * alpha_n)
    return value, grad_sp, grad_sn


def simnet_circle_loss(sp, sn, margin, scale):
    """Seed 000 (Baidu Wenxin) in float64 NumPy: log(1 + sum exp(n) * sum exp(p)), mean."""
    ap = np.maximum(-(sp - (1 + margin)), 0.0)
    an = np.maximum(sn - (-margin), 0.0)
    loss_p = np.exp(-scale * ap * (sp - (1 - margin))).sum(1)
    loss_n = np.exp(scale * an * (sn - margin)).sum(1)
    return np.log(1 + loss_n * loss_p).mean()


def similarities(rng, shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def test_circle_loss_matches_seed_000(adapter, rng):
    sp, sn = similarities(rng, (4, 2)), similarities(rng, (4, 3))
    want = simnet_circle_loss(sp.astype(np.float64), sn.astype(np.float64), 0.25, 8.0)
    np.testing.assert_allclose(adapter.call("circle_loss", sp, sn, margin=0.25, gamma=8.0, reduction="mean"), want, rtol=1e-5)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("margin,gamma", [(0.4, 80.0), (0.25, 256.0), (0.1, 3.0)])
def test_circle_loss_values_and_gradients(adapter, rng, reduction, margin, gamma):
    sp, sn = similarities(rng, (5, 3)), similarities(rng, (5, 4))
    value, grad_sp, grad_sn = circle_pair_reference(sp, sn, margin, gamma)
    scale = {"none": 1.0, "mean": 1 / 5, "sum": 1.0}[reduction]
    want = {"none": value, "mean": value.mean(), "sum": value.sum()}[reduction]
    got, grads = adapter.value_and_grad(
        "circle_loss", sp, sn, wrt=(0, 1), margin=margin, gamma=gamma, reduction=reduction
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[0], scale * grad_sp, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[1], scale * grad_sn, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("gamma", [512.0])
def test_circle_loss_finite_at_large_gamma_in_float32(adapter, rng, gamma):
    sp, sn = similarities(rng, (6, 3)), similarities(rng, (6, 5))
    sp[0], sn[0] = -1.0, 1.0  # the worst row: exp() of the logits would overflow float32
    value, grad_sp, grad_sn = circle_pair_reference(sp, sn, 0.25, gamma)
    got, grads = adapter.value_and_grad(
        "circle_loss", sp, sn, wrt=(0, 1), margin=0.25, gamma=gamma, reduction="none", dtype="float32"
    )
    assert np.all(np.isfinite(got)) and all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_allclose(got, value, rtol=1e-5)
    # The scaled logits reach ~2000, where one float32 ulp is ~1e-4: the softmax weights
    # inside the gradient carry that much relative rounding whatever the formulation.
    np.testing.assert_allclose(grads[0], grad_sp, rtol=2e-4, atol=1e-4)
    np.testing.assert_allclose(grads[1], grad_sn, rtol=2e-4, atol=1e-4)


def test_circle_loss_shape_mismatch(adapter):
    with pytest.raises(ValueError, match=r"sp .*\(3, 2\).* sn .*\(4, 2\)"):
        adapter.call("circle_loss", np.zeros((3, 2), np.float32), np.zeros((4, 2), np.float32))


def embeddings(rng, batch, dim):
    e = rng.normal(size=(batch, dim))
    return (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)


LABELS = np.array([0, 1, 0, 2, 1, 0, 3])  # label 2 and 3 have no positive


def keras_circle(labels, emb, margin, gamma):
    return keras.ops.convert_to_numpy(
        keras.losses.circle(labels, emb, margin=margin, gamma=gamma)
    ).astype(np.float64)


def torch_batch_circle(emb, labels, margin, gamma):
    """float64 torch formula of the batch form, alphas detached; per anchor and grad."""
    e = torch.tensor(emb, dtype=torch.float64, requires_grad=True)
    s = torch.clamp(e @ e.T, max=1.0)
    y = torch.tensor(labels)
    same = y[:, None] == y[None, :]
    pos = same & ~torch.eye(len(labels), dtype=torch.bool)
    neg = ~same
    alpha_p = torch.relu(1 + margin - s).detach()
    alpha_n = torch.relu(s + margin).detach()
    logit_p = torch.where(pos, -gamma * alpha_p * (s - 1 + margin), -torch.inf)
    logit_n = torch.where(neg, gamma * alpha_n * (s - margin), -torch.inf)
    valid = pos.any(1) & neg.any(1)
    z = torch.logsumexp(logit_p[valid], 1) + torch.logsumexp(logit_n[valid], 1)
    per_anchor = torch.zeros(len(labels), dtype=torch.float64).index_put((valid,), torch.nn.functional.softplus(z))
    (grad,) = torch.autograd.grad(per_anchor.sum(), e)
    return per_anchor.detach().numpy(), grad.numpy(), valid.numpy()


@pytest.mark.parametrize("margin,gamma", [(0.4, 80.0), (0.25, 16.0)])
def test_batch_circle_loss_matches_keras_circle(adapter, rng, margin, gamma):
    emb = embeddings(rng, len(LABELS), 5)
    want = keras_circle(LABELS, emb, margin, gamma)
    assert want[3] == 0.0 and want[6] == 0.0
    got = adapter.call("batch_circle_loss", emb, LABELS, margin=margin, gamma=gamma, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_batch_circle_loss_gradients_hold_alphas_constant(adapter, rng, reduction):
    emb = embeddings(rng, len(LABELS), 4)
    per_anchor, grad, valid = torch_batch_circle(emb, LABELS, 0.4, 8.0)
    scale = 1 / valid.sum() if reduction == "mean" else 1.0
    want = {"none": per_anchor, "mean": per_anchor.sum() / valid.sum(), "sum": per_anchor.sum()}[reduction]
    got, (got_grad,) = adapter.value_and_grad(
        "batch_circle_loss", emb, LABELS, margin=0.4, gamma=8.0, reduction=reduction
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_grad, scale * grad, rtol=1e-5, atol=1e-6)


def test_batch_circle_loss_finite_at_large_gamma(adapter, rng):
    emb = embeddings(rng, len(LABELS), 3)
    got, (grad,) = adapter.value_and_grad("batch_circle_loss", emb, LABELS, gamma=512.0, reduction="none")
    assert np.all(np.isfinite(got)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(got, keras_circle(LABELS, emb, 0.4, 512.0), rtol=1e-5)


def test_batch_circle_loss_without_pairs_is_zero(adapter, rng):
    emb = embeddings(rng, 3, 4)
    got, (grad,) = adapter.value_and_grad("batch_circle_loss", emb, np.array([0, 1, 2]), reduction="mean")
    assert got == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(emb))


def test_batch_circle_loss_column_labels(adapter, rng):
    emb = embeddings(rng, len(LABELS), 3)
    flat = adapter.call("batch_circle_loss", emb, LABELS, reduction="none")
    np.testing.assert_array_equal(adapter.call("batch_circle_loss", emb, LABELS[:, None], reduction="none"), flat)


def test_batch_circle_loss_shape_mismatch(adapter, rng):
    with pytest.raises(ValueError, match=r"y_true .*\(4,\) .*y_pred .*\(3, 2\)"):
        adapter.call("batch_circle_loss", np.zeros((3, 2), np.float32), np.zeros(4, np.int32))
    with pytest.raises(ValueError, match=r"\[B, D\].*\(3,\)"):
        adapter.call("batch_circle_loss", np.zeros(3, np.float32), np.zeros(3, np.int32))


def test_batch_circle_loss_dynamic_batch_under_tf_function(rng):
    import tensorflow as tf

    import multiloss.tensorflow as mtf

    emb = embeddings(rng, len(LABELS), 3)
    fn = tf.function(
        lambda e, y: mtf.batch_circle_loss(e, y, reduction="none"),
        input_signature=[tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([None], tf.int64)],
    )
    np.testing.assert_allclose(fn(emb, LABELS).numpy(), keras_circle(LABELS, emb, 0.4, 80.0), rtol=1e-5)


def test_keras_circle_loss_class_takes_sp_sn(rng):
    import multiloss.keras as mk

    sp, sn = similarities(rng, (3, 2)), similarities(rng, (3, 4))
    value = keras.ops.convert_to_numpy(mk.CircleLoss(gamma=16.0)(sp, sn))
    np.testing.assert_allclose(value, circle_pair_reference(sp, sn, 0.4, 16.0)[0].mean(), rtol=1e-5)


def test_keras_batch_circle_loss_in_model_fit(rng):
    import multiloss.keras as mk

    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = np.arange(16) % 4
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.UnitNormalization()])
    loss = mk.BatchCircleLoss(gamma=16.0)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    predicted = model.predict(x[:8], verbose=0)
    want = keras_circle(y[:8], predicted, 0.4, 16.0).mean()
    np.testing.assert_allclose(float(model.evaluate(x[:8], y[:8], batch_size=8, verbose=0)), want, rtol=1e-4)
    restored = mk.BatchCircleLoss.from_config(loss.get_config())
    assert restored.get_config() == loss.get_config()
    assert frameworks.keras_backend() == keras.config.backend()


def test_circle_nan_in_gives_nan_out(adapter, rng):
    sp, sn = similarities(rng, (2, 2)), similarities(rng, (2, 3))
    sp[0, 0] = np.nan
    got = adapter.call("circle_loss", sp, sn, reduction="none")
    assert np.isnan(got[0]) and np.isfinite(got[1])
    emb = embeddings(rng, len(LABELS), 3)
    emb[0, 0] = np.nan
    assert np.isnan(adapter.call("batch_circle_loss", emb, LABELS, reduction="none")[0])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_circle_half_precision_is_computed_in_float32(adapter, rng, dtype):
    sp, sn = similarities(rng, (3, 2)), similarities(rng, (3, 4))
    got, grads = adapter.value_and_grad(
        "circle_loss", sp, sn, wrt=(0, 1), gamma=256.0, reduction="none", dtype=dtype
    )
    assert all(np.all(np.isfinite(g)) for g in [got, *grads])
    rounded = [frameworks.to_numpy(adapter.tensor(a, dtype)).astype(np.float64) for a in (sp, sn)]
    want = circle_pair_reference(*rounded, 0.4, 256.0)[0]
    np.testing.assert_allclose(got, want, rtol=1e-2)
