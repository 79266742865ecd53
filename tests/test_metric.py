"""The metric and contrastive losses against their peers in float64:
torch.nn.functional.triplet_margin_loss, optax.losses.ntxent,
pytorch_metric_learning.losses.SupConLoss, a float64 NumPy port of tensorflow-addons'
contrastive_loss and a float64 torch formula of the CLIP loss (F.cross_entropy both
ways); then the edge cases (equal vectors, zero and huge embeddings, temperature 0.01,
anchors without positives), the errors, the Keras classes and traced temperatures."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import Adapter
from loss_cases import ADAPTERS_ONCE
from loss_cases import assert_value_and_grads as check_value_and_grads

from multiloss.verify import frameworks


@pytest.fixture(params=ADAPTERS_ONCE)
def adapter(request) -> Adapter:
    """The Keras adapter in every per-backend session; torch, jax and tensorflow once, in
    the cross_framework session."""
    return Adapter(request.param)


TOL = dict(rtol=1e-5, atol=1e-6)
TRIPLET = (0, 1, 2)


def t64(array, grad=False):
    return torch.tensor(np.asarray(array), dtype=torch.float64, requires_grad=grad)


def torch_value_and_grads(fn, arrays, wrt):
    """``fn`` of float64 tensors (integer arrays as int64), gradients of its sum."""
    tensors = [
        t64(a, grad=i in wrt) if np.asarray(a).dtype.kind == "f" else torch.tensor(a)
        for i, a in enumerate(arrays)
    ]
    out = fn(*tensors)
    grads = torch.autograd.grad(out.sum(), [tensors[i] for i in wrt])
    return out.detach().numpy(), [g.numpy() for g in grads]


def assert_value_and_grads(adapter, loss, arrays, want, want_grads, wrt, tol=TOL, **params):
    check_value_and_grads(adapter, loss, arrays, want, want_grads, wrt, tol, **params)


def reduce_torch(values, reduction):
    return {"none": values, "mean": values.mean(), "sum": values.sum()}[reduction]


def assert_finite(adapter, loss, arrays, wrt, dtype=None, **params):
    value, grads = adapter.value_and_grad(loss, *arrays, wrt=wrt, dtype=dtype, **params)
    assert np.all(np.isfinite(value)), value
    for grad in grads:
        assert np.all(np.isfinite(grad)), grad
    return value, grads


# --- triplet margin loss ------------------------------------------------------------------

TRIPLET_PARAMS = [
    {},
    {"margin": 0.5, "p": 1.0},
    {"p": 3.0, "swap": True},
    {"swap": True, "margin": 2.0, "eps": 0.0},
    {"p": 1.5, "eps": 1e-3, "margin": 0.2},
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("params", TRIPLET_PARAMS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_triplet_margin_loss_matches_torch(adapter, rng, params, reduction):
    arrays = rng.normal(size=(3, 7, 5)).astype(np.float32)
    want, grads = torch_value_and_grads(
        lambda a, p, n: F.triplet_margin_loss(a, p, n, reduction=reduction, **params), arrays, TRIPLET
    )
    assert_value_and_grads(adapter, "triplet_margin_loss", arrays, want, grads, TRIPLET, reduction=reduction, **params)


def test_triplet_margin_loss_rank3_and_large_values(adapter, rng):
    arrays = (rng.normal(size=(3, 2, 3, 4)) * 1e3).astype(np.float32)
    want, grads = torch_value_and_grads(
        lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=300.0, reduction="none"), arrays, TRIPLET
    )
    assert_value_and_grads(adapter, "triplet_margin_loss", arrays, want, grads, TRIPLET, margin=300.0, reduction="none")


def test_triplet_margin_loss_equal_anchor_and_positive(adapter, rng):
    """d(a, a) = ‖ε‖ (torch adds ε to the difference): torch's value and finite
    gradient. With ε = 0 the distance is exactly 0 and its gradient 0 (torch: NaN)."""
    anchor, negative = rng.normal(size=(2, 4, 6)).astype(np.float32)
    arrays = (anchor, anchor.copy(), negative)
    want, grads = torch_value_and_grads(
        lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=3.0, reduction="none"), arrays, TRIPLET
    )
    assert_value_and_grads(adapter, "triplet_margin_loss", arrays, want, grads, TRIPLET, margin=3.0, reduction="none")
    value, (g_anchor, g_positive, g_negative) = assert_finite(
        adapter, "triplet_margin_loss", arrays, TRIPLET, margin=3.0, eps=0.0, reduction="sum"
    )
    d_neg = np.linalg.norm(anchor.astype(np.float64) - negative, axis=-1)
    np.testing.assert_allclose(value, np.maximum(3.0 - d_neg, 0.0).sum(), rtol=1e-5)
    np.testing.assert_array_equal(g_positive, 0.0)  # only the negative distance moves


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_triplet_margin_loss_half_precision_is_finite(adapter, rng, dtype):
    anchor, negative = rng.normal(size=(2, 4, 6)).astype(np.float32)
    value, _ = assert_finite(adapter, "triplet_margin_loss", (anchor, anchor, negative * 100), TRIPLET, dtype=dtype, swap=True)
    out = adapter.fn("triplet_margin_loss")(*(adapter.tensor(a, dtype) for a in (anchor, anchor, negative)))
    assert keras.backend.standardize_dtype(out.dtype) == dtype


@pytest.mark.parametrize(
    "arrays, params, error, match",
    [
        ((np.zeros((4, 3)), np.zeros((4, 2)), np.zeros((4, 3))), {}, ValueError, r"positive.*\(4, 2\).*\(4, 3\)"),
        ((np.zeros((4, 3)), np.zeros((4, 3)), np.zeros((5, 3))), {}, ValueError, r"negative.*\(5, 3\).*\(4, 3\)"),
        ((np.zeros((4, 3)),) * 3, {"p": 0.0}, ValueError, "p must be > 0"),
        ((np.zeros((4, 3)),) * 3, {"p": np.float32(-1.0)}, ValueError, "p must be > 0"),
        ((np.zeros((4, 3)),) * 3, {"eps": -1e-6}, ValueError, "eps"),
        ((np.zeros((4, 3)),) * 3, {"swap": 1}, TypeError, "swap"),
        ((np.zeros((4, 3)),) * 3, {"margin": float("nan")}, ValueError, "margin"),
        ((np.zeros((4, 3)),) * 3, {"margin": 0.0}, ValueError, "margin must be > 0"),
        ((np.zeros((4, 3)),) * 3, {"reduction": "avg"}, ValueError, "reduction"),
    ],
    ids=["positive-shape", "negative-shape", "p-zero", "p-negative", "eps-negative", "swap-int", "margin-nan", "margin-zero", "reduction"],
)
def test_triplet_margin_loss_errors(adapter, arrays, params, error, match):
    with pytest.raises(error, match=match):
        adapter.call("triplet_margin_loss", *(np.asarray(a, np.float32) for a in arrays), **params)


def test_triplet_margin_loss_p_must_be_static(adapter):
    arrays = [np.zeros((2, 3), np.float32)] * 3
    with pytest.raises(TypeError, match="p must be a Python number"):
        adapter.call("triplet_margin_loss", *arrays, p=adapter.tensor(np.float32(2.0)))


# --- contrastive loss ---------------------------------------------------------------------


def tfa_contrastive(y_pred, y_true, margin=1.0):
    """tensorflow-addons' ``contrastive_loss`` (tfa/losses/contrastive.py; Hadsell et al.
    2006) in float64: ``y·d² + (1 − y)·max(m − d, 0)²`` and its gradient for ``d``."""
    d, y = np.asarray(y_pred, np.float64), np.asarray(y_true, np.float64)
    gap = np.maximum(margin - d, 0.0)
    return y * d**2 + (1 - y) * gap**2, 2 * y * d - 2 * (1 - y) * gap


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("margin", [1.0, 0.4, 2.5])
def test_contrastive_loss_matches_the_tfa_formula(adapter, rng, margin, reduction):
    distances = rng.uniform(0.0, 3.0, size=(5, 4)).astype(np.float32)
    labels = (rng.random((5, 4)) > 0.5).astype(np.float32)
    values, slope = tfa_contrastive(distances, labels, margin)
    want = {"none": values, "mean": values.mean(), "sum": values.sum()}[reduction]
    scale = 1.0 / values.size if reduction == "mean" else 1.0
    value, (grad,) = adapter.value_and_grad("contrastive_loss", distances, labels, margin=margin, reduction=reduction)
    np.testing.assert_allclose(value, want, **TOL)
    np.testing.assert_allclose(grad, slope * scale, **TOL)


def test_contrastive_loss_integer_labels_and_errors(adapter, rng):
    distances = rng.uniform(0.0, 2.0, size=6).astype(np.float32)
    labels = np.array([1, 0, 0, 1, 1, 0])
    np.testing.assert_allclose(
        adapter.call("contrastive_loss", distances, labels, reduction="none"),
        tfa_contrastive(distances, labels)[0], **TOL,
    )
    with pytest.raises(ValueError, match=r"y_true.*\(5,\).*\(6,\)"):
        adapter.call("contrastive_loss", distances, labels[:5])
    with pytest.raises(ValueError, match="margin"):
        adapter.call("contrastive_loss", distances, labels, margin=float("inf"))


# --- NT-Xent --------------------------------------------------------------------------------


def optax_ntxent(embeddings, labels, temperature=0.07):
    """``optax.losses.ntxent`` in float64: value and gradient for the embeddings."""
    import jax
    import jax.numpy as jnp
    import optax

    with jax.enable_x64(True):
        fn = jax.value_and_grad(lambda e: optax.losses.ntxent(e, jnp.asarray(labels), temperature))
        value, grad = fn(jnp.asarray(embeddings, jnp.float64))
        return float(value), np.asarray(grad, np.float64)


def optax_ntxent_with_epsilon(embeddings, labels, temperature, epsilon):
    """optax' ntxent (optax/losses/_self_supervised.py) in float64 with the cosine
    similarity's epsilon given (optax takes the embeddings' dtype's): conformance/cases/metric.py."""
    import jax
    import jax.numpy as jnp

    from conformance.cases.metric import optax_ntxent_formula

    with jax.enable_x64(True):
        fn = jax.value_and_grad(
            lambda e: optax_ntxent_formula(e, jnp.asarray(labels), temperature, epsilon)
        )
        value, grad = fn(jnp.asarray(embeddings, jnp.float64))
        return float(value), np.asarray(grad, np.float64)


NTXENT_LABELS = {
    "pairs": np.array([0, 0, 1, 1, 2, 2, 3, 3]),
    "groups": np.array([0, 2, 0, 1, 1, 2, 0, 3]),  # label 3: a row without positives
}


@pytest.mark.parametrize("temperature", [0.07, 0.5, 0.01])
@pytest.mark.parametrize("labels", sorted(NTXENT_LABELS))
def test_ntxent_loss_matches_optax(adapter, rng, labels, temperature):
    embeddings = rng.normal(size=(8, 5)).astype(np.float32)
    ids = NTXENT_LABELS[labels]
    want, want_grad = optax_ntxent(embeddings, ids, temperature)
    value, (grad,) = adapter.value_and_grad("ntxent_loss", embeddings, ids, temperature=temperature)
    tol = TOL if temperature > 0.05 else dict(rtol=1e-4, atol=1e-5)  # logits up to 100
    np.testing.assert_allclose(value, want, **tol)
    np.testing.assert_allclose(grad, want_grad, **tol)


def test_ntxent_loss_zero_and_huge_embeddings(adapter, rng):
    """Norms floored as optax floors float32 inputs (√ε(float32)); 1e30-sized rows (their
    squares overflow float32) have cosine similarities like any other."""
    embeddings = rng.normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 0, 1, 1, 2, 2])
    zero = embeddings.copy()
    zero[2] = 0.0
    want, want_grad = optax_ntxent_with_epsilon(zero, labels, 0.07, float(np.finfo(np.float32).eps))
    value, (grad,) = assert_finite(adapter, "ntxent_loss", (zero, labels), (0,))
    np.testing.assert_allclose(value, want, **TOL)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-5)
    huge = embeddings * np.float32(1e30)
    value, _ = assert_finite(adapter, "ntxent_loss", (huge, labels), (0,))
    np.testing.assert_allclose(value, optax_ntxent(embeddings, labels)[0], **TOL)
    for dtype in ("float16", "bfloat16"):
        assert_finite(adapter, "ntxent_loss", (zero, labels), (0,), dtype=dtype, temperature=0.01)


def test_ntxent_loss_without_positive_pairs_is_zero(adapter, rng):
    embeddings = rng.normal(size=(4, 3)).astype(np.float32)
    value, (grad,) = adapter.value_and_grad("ntxent_loss", embeddings, np.arange(4))
    assert value == 0.0
    np.testing.assert_array_equal(grad, 0.0)


def test_ntxent_loss_labels_column_and_errors(adapter, rng):
    embeddings = rng.normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(
        adapter.call("ntxent_loss", embeddings, labels[:, None]), optax_ntxent(embeddings, labels)[0], **TOL
    )
    with pytest.raises(ValueError, match=r"labels.*\(5,\).*\(6, 4\)"):
        adapter.call("ntxent_loss", embeddings, labels[:5])
    with pytest.raises(ValueError, match=r"embeddings.*\[B, D\].*\(6,\)"):
        adapter.call("ntxent_loss", embeddings[:, 0], labels)
    with pytest.raises(ValueError, match="temperature"):
        adapter.call("ntxent_loss", embeddings, labels, temperature=0.0)


# --- supervised contrastive -----------------------------------------------------------------


def pml_supcon(embeddings, labels, temperature=0.1, reduction="none"):
    """pytorch-metric-learning's SupConLoss in float64: per anchor (DoNothingReducer),
    summed, averaged over the anchors with a positive, or its default reduction
    (``"avg_non_zero"``: over the losses > 0); value and gradient for the embeddings."""
    from pytorch_metric_learning.losses import SupConLoss
    from pytorch_metric_learning.reducers import DoNothingReducer

    def fn(e, y):
        if reduction == "avg_non_zero":  # its default reducer
            return SupConLoss(temperature)(e, y)
        losses = SupConLoss(temperature, reducer=DoNothingReducer())(e, y)["loss"]["losses"]
        if reduction == "mean":  # over the anchors with a positive
            has_positive = ((y[:, None] == y[None, :]).sum(-1) > 1).to(losses.dtype)
            return (losses * has_positive).sum() / has_positive.sum()
        return losses.sum() if reduction == "sum" else losses

    value, (grad,) = torch_value_and_grads(fn, (embeddings, labels), (0,))
    return value, grad


SUPCON_LABELS = np.array([0, 1, 0, 2, 1, 0, 3, 2])  # label 3: an anchor without positives


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("temperature", [0.1, 0.5, 0.01])
def test_supervised_contrastive_loss_matches_pytorch_metric_learning(adapter, rng, temperature, reduction):
    embeddings = rng.normal(size=(8, 5)).astype(np.float32)
    want, want_grad = pml_supcon(embeddings, SUPCON_LABELS, temperature, reduction)
    tol = TOL if temperature > 0.05 else dict(rtol=1e-4, atol=1e-5)
    value, (grad,) = adapter.value_and_grad(
        "supervised_contrastive_loss", embeddings, SUPCON_LABELS, temperature=temperature, reduction=reduction
    )
    np.testing.assert_allclose(value, want, **tol)
    np.testing.assert_allclose(grad, want_grad, **tol)


def test_supervised_contrastive_loss_counts_anchors_with_positives(adapter, rng):
    """The anchor without a positive gives 0 and is not counted by "mean", also with
    ``where`` and ``sample_weight``."""
    embeddings = rng.normal(size=(8, 5)).astype(np.float32)
    per_anchor = adapter.call("supervised_contrastive_loss", embeddings, SUPCON_LABELS, reduction="none")
    assert per_anchor[6] == 0.0 and np.all(np.delete(per_anchor, 6) > 0)
    np.testing.assert_allclose(  # SupConLoss's default reducer: the same anchors here
        adapter.call("supervised_contrastive_loss", embeddings, SUPCON_LABELS, reduction="mean"),
        pml_supcon(embeddings, SUPCON_LABELS, 0.1, "avg_non_zero")[0], **TOL,
    )
    weight = np.linspace(0.5, 2.0, 8).astype(np.float32)
    keep = np.array([True, True, False, True, True, True, True, True])
    got = adapter.call(
        "supervised_contrastive_loss", embeddings, SUPCON_LABELS,
        where=adapter.tensor(keep), sample_weight=adapter.tensor(weight), reduction="mean",
    )
    counted = keep & (np.arange(8) != 6)
    np.testing.assert_allclose(got, (per_anchor * weight)[counted].sum() / weight[counted].sum(), **TOL)
    alone = adapter.call("supervised_contrastive_loss", embeddings[:3], np.array([0, 1, 2]), reduction="mean")
    assert alone == 0.0


def test_supervised_contrastive_loss_one_label_follows_the_paper(adapter, rng):
    """Without any negative the paper's formula (log of the positives' share of the
    denominator, which then holds only positives); pytorch-metric-learning returns 0."""
    embeddings = rng.normal(size=(4, 3))
    z = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    logits = z @ z.T / 0.1
    want = []
    for i in range(4):
        others = np.delete(logits[i], i)
        want.append(np.log(np.exp(others).sum()) - others.mean())
    got = adapter.call("supervised_contrastive_loss", embeddings.astype(np.float32), np.zeros(4, int), reduction="none")
    np.testing.assert_allclose(got, want, **TOL)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_supervised_contrastive_loss_zero_and_huge_embeddings(adapter, rng, dtype):
    embeddings = rng.normal(size=(8, 5)).astype(np.float32)
    embeddings[2] = 0.0
    if dtype == "float32":
        want, want_grad = pml_supcon(embeddings, SUPCON_LABELS, reduction="sum")
        value, (grad,) = assert_finite(adapter, "supervised_contrastive_loss", (embeddings, SUPCON_LABELS), (0,), reduction="sum")
        np.testing.assert_allclose(value, want, **TOL)
        np.testing.assert_allclose(grad, want_grad, **TOL)  # ~1e12 on the zero row, as F.normalize
        huge = embeddings * np.float32(1e30)
        value, _ = assert_finite(adapter, "supervised_contrastive_loss", (huge, SUPCON_LABELS), (0,), reduction="sum")
        np.testing.assert_allclose(value, want, **TOL)
    else:  # float16: the norm floor 2^-5 keeps the zero row's gradient in range
        assert_finite(adapter, "supervised_contrastive_loss", (embeddings, SUPCON_LABELS), (0,),
                      dtype=dtype, temperature=0.01, reduction="sum")


def test_supervised_contrastive_loss_errors(adapter, rng):
    embeddings = rng.normal(size=(6, 4)).astype(np.float32)
    with pytest.raises(ValueError, match=r"labels.*\(6, 2\).*\(6, 4\)"):
        adapter.call("supervised_contrastive_loss", embeddings, np.zeros((6, 2), int))
    with pytest.raises(ValueError, match=r"embeddings.*\[B, D\].*\(2, 3, 4\)"):
        adapter.call("supervised_contrastive_loss", embeddings.reshape(2, 3, 4), np.zeros(2, int))
    with pytest.raises(ValueError, match="temperature"):
        adapter.call("supervised_contrastive_loss", embeddings, np.zeros(6, int), temperature=-0.1)


# --- CLIP -----------------------------------------------------------------------------------


def torch_clip(image, text, temperature=1.0, normalize=True):
    """Radford et al. 2021 per pair in float64 torch: (CE(L, arange) + CE(Lᵀ, arange)) / 2
    with L = normalize(image) @ normalize(text).T / temperature (OpenCLIP's ClipLoss)."""
    if normalize:
        image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    logits = image @ text.T / temperature
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target, reduction="none") + F.cross_entropy(logits.T, target, reduction="none")) / 2


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    "params", [{}, {"temperature": 0.07}, {"temperature": 0.01}, {"temperature": 3.0, "normalize": False}],
    ids=["default", "t0.07", "t0.01", "unnormalized"],
)
def test_clip_loss_matches_the_torch_formula(adapter, rng, params, reduction):
    arrays = rng.normal(size=(2, 6, 4)).astype(np.float32)
    want, grads = torch_value_and_grads(
        lambda i, t: reduce_torch(torch_clip(i, t, **params), reduction), arrays, (0, 1)
    )
    temperature = params.get("temperature", 1.0)  # gradients ~1/T: float32 rounding of them
    tol = dict(rtol=1e-5 if temperature > 0.05 else 1e-4, atol=1e-6 / temperature)
    assert_value_and_grads(adapter, "clip_loss", arrays, want, grads, (0, 1), tol=tol, reduction=reduction, **params)


def test_clip_loss_mean_is_openclip_loss(adapter, rng):
    """``"mean"`` is CLIP's (CE(L) + CE(Lᵀ)) / 2 with the batch-mean cross entropies."""
    image, text = rng.normal(size=(2, 5, 3))
    logits = F.normalize(t64(image), dim=-1) @ F.normalize(t64(text), dim=-1).T / 0.07
    target = torch.arange(5)
    want = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    got = adapter.call("clip_loss", image.astype(np.float32), text.astype(np.float32), temperature=0.07, reduction="mean")
    np.testing.assert_allclose(got, want.item(), **TOL)
    swapped = adapter.call("clip_loss", text.astype(np.float32), image.astype(np.float32), temperature=0.07, reduction="none")
    np.testing.assert_allclose(
        swapped, adapter.call("clip_loss", image.astype(np.float32), text.astype(np.float32), temperature=0.07, reduction="none"),
        **TOL,
    )


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_clip_loss_zero_and_huge_embeddings(adapter, rng, dtype):
    image, text = rng.normal(size=(2, 5, 4)).astype(np.float32)
    text[1] = 0.0
    if dtype == "float32":
        want, grads = torch_value_and_grads(lambda i, t: torch_clip(i, t).sum(), (image, text), (0, 1))
        assert_value_and_grads(adapter, "clip_loss", (image, text), want, grads, (0, 1), reduction="sum")
        value, _ = assert_finite(adapter, "clip_loss", (image * np.float32(1e30), text * np.float32(1e30)), (0, 1), reduction="sum")
        np.testing.assert_allclose(value, want, **TOL)
    else:
        assert_finite(adapter, "clip_loss", (image, text), (0, 1), dtype=dtype, temperature=0.01, reduction="sum")


def test_clip_loss_errors(adapter, rng):
    image = rng.normal(size=(5, 4)).astype(np.float32)
    with pytest.raises(ValueError, match=r"text_embeddings.*\(5, 3\).*\(5, 4\)"):
        adapter.call("clip_loss", image, image[:, :3])
    with pytest.raises(ValueError, match=r"image_embeddings.*\[B, D\].*\(4,\)"):
        adapter.call("clip_loss", image[0], image[0])
    with pytest.raises(TypeError, match="normalize"):
        adapter.call("clip_loss", image, image, normalize="yes")
    with pytest.raises(ValueError, match="temperature"):
        adapter.call("clip_loss", image, image, temperature=0.0)


# --- traced temperatures (a learned CLIP logit scale) ---------------------------------------


@pytest.mark.cross_framework
def test_temperature_as_a_traced_tensor_with_its_gradient():
    """``temperature`` may be a tensor (CLIP learns it): its gradient is torch's, and
    jax.jit / tf.function(jit_compile=True) trace it."""
    import jax
    import tensorflow as tf

    import multiloss.jax as mj
    import multiloss.tensorflow as mtf
    import multiloss.torch as mt

    rng = np.random.default_rng(3)
    image, text = rng.normal(size=(2, 5, 4)).astype(np.float32)
    temperature = t64(0.3, grad=True)
    want = torch_clip(t64(image), t64(text), temperature).mean()
    (want_grad,) = torch.autograd.grad(want, temperature)
    t = torch.tensor(0.3, requires_grad=True)
    got = mt.clip_loss(torch.tensor(image), torch.tensor(text), temperature=t)
    (grad,) = torch.autograd.grad(got, t)
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)
    np.testing.assert_allclose(grad.item(), want_grad.item(), rtol=1e-5)
    value, jgrad = jax.jit(jax.value_and_grad(lambda tau: mj.clip_loss(image, text, temperature=tau)))(np.float32(0.3))
    np.testing.assert_allclose([float(value), float(jgrad)], [want.item(), want_grad.item()], rtol=1e-5)
    labels = np.array([0, 0, 1, 1, 2])

    def xla(fn):
        return tf.function(lambda tau: fn(tf.constant(image), tf.constant(labels), temperature=tau), jit_compile=True)

    for fn in (mtf.ntxent_loss, mtf.supervised_contrastive_loss):
        eager = fn(tf.constant(image), tf.constant(labels), temperature=0.2)
        np.testing.assert_allclose(xla(fn)(tf.constant(0.2)).numpy(), eager.numpy(), rtol=1e-5, err_msg=fn.__name__)


# --- Keras classes --------------------------------------------------------------------------


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


def test_keras_triplet_and_clip_classes_read_packed_y_pred(rng):
    import multiloss.keras as mk

    anchor, positive, negative = rng.normal(size=(3, 6, 4)).astype(np.float32)
    weight = np.linspace(0.0, 2.0, 6).astype(np.float32)
    per_triplet = F.triplet_margin_loss(t64(anchor), t64(positive), t64(negative), swap=True, reduction="none").numpy()
    packed = np.concatenate([anchor, positive, negative], -1)
    got = mk.TripletMarginLoss(swap=True)(np.zeros(6, np.float32), packed, sample_weight=weight)
    np.testing.assert_allclose(_np(got), (per_triplet * weight).mean(), **TOL)  # sum_over_batch_size
    per_pair = torch_clip(t64(anchor), t64(positive), 0.5).numpy()
    got = mk.CLIPLoss(temperature=0.5)(np.zeros(6, np.float32), np.concatenate([anchor, positive], -1))
    np.testing.assert_allclose(_np(got), per_pair.mean(), **TOL)
    with pytest.raises(ValueError, match="divisible by 3"):
        mk.TripletMarginLoss()(np.zeros(6, np.float32), np.zeros((6, 5), np.float32))


def test_keras_label_first_classes(rng):
    """``NTXentLoss``/``SupervisedContrastiveLoss`` take ``(labels, embeddings)``; the
    anchors without a positive are not counted by Keras' reductions either;
    ``ContrastiveLoss`` takes ``(pair labels, distances)``."""
    import multiloss.keras as mk

    embeddings = rng.normal(size=(8, 5)).astype(np.float32)
    pairs = NTXENT_LABELS["pairs"]
    np.testing.assert_allclose(_np(mk.NTXentLoss(temperature=0.2)(pairs, embeddings)), optax_ntxent(embeddings, pairs, 0.2)[0], **TOL)
    np.testing.assert_allclose(
        _np(mk.ntxent_loss(labels=pairs, embeddings=embeddings)), optax_ntxent(embeddings, pairs)[0], **TOL
    )
    want = pml_supcon(embeddings, SUPCON_LABELS, 0.1, "avg_non_zero")[0]
    for labels in (SUPCON_LABELS, SUPCON_LABELS[:, None]):
        np.testing.assert_allclose(_np(mk.SupervisedContrastiveLoss()(labels, embeddings)), want, **TOL)
    distances = rng.uniform(0.0, 2.0, size=6).astype(np.float32)
    labels = np.array([1, 0, 0, 1, 1, 0], np.float32)
    np.testing.assert_allclose(
        _np(mk.ContrastiveLoss(margin=1.5)(labels, distances)), tfa_contrastive(distances, labels, 1.5)[0].mean(), **TOL
    )


def test_keras_supervised_contrastive_fit(tmp_path):
    """A model trained with ``SupervisedContrastiveLoss``: integer labels, finite loss,
    the class survives saving."""
    import multiloss.keras as mk

    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = np.repeat(np.arange(4), 4)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=mk.SupervisedContrastiveLoss(temperature=0.5))
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    path = tmp_path / "supcon.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.loss) is mk.SupervisedContrastiveLoss
    assert reloaded.loss.get_config()["temperature"] == 0.5
    embeddings = model.predict(x, verbose=0)
    np.testing.assert_allclose(
        _np(reloaded.loss(y, embeddings)), pml_supcon(embeddings, y, 0.5, "avg_non_zero")[0], rtol=1e-5
    )
    assert frameworks.keras_backend() in ("jax", "torch", "tensorflow")
