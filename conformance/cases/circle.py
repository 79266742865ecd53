"""circle_loss (Baidu's simnet circle_loss formula in float64, α weights detached) and
batch_circle_loss (float64 formula; per-anchor values cross-checked with keras.losses.circle)."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, keras_value, torch_reference

#: γ = 256 / 512 scale float32 rounding of the similarities (2^-24) by γ·α ≈ 700:
#: relative errors of a few 1e-5 are float32's resolution there, not a defect.
LARGE_GAMMA_TOL = {"rtol": 1e-4, "atol": 1e-5}


def seed_circle_rows(sp, sn, margin, gamma, log_space=False, pos_mask=None, neg_mask=None):
    """Per-row Circle loss of Baidu's simnet: log(1 + Σ e^{logit_n} Σ e^{logit_p}), α held constant.

    ``log_space`` evaluates the same expression as softplus(LSE + LSE) (for γ where
    the float64 exponentials overflow); masks drop pairs.
    """
    import torch
    import torch.nn.functional as F

    alpha_p = torch.relu(1 + margin - sp).detach()
    alpha_n = torch.relu(sn + margin).detach()
    logit_p = -gamma * alpha_p * (sp - (1 - margin))
    logit_n = gamma * alpha_n * (sn - margin)
    if pos_mask is not None:
        logit_p = torch.where(pos_mask, logit_p, torch.full_like(logit_p, -torch.inf))
        logit_n = torch.where(neg_mask, logit_n, torch.full_like(logit_n, -torch.inf))
    if log_space:
        return F.softplus(torch.logsumexp(logit_n, -1) + torch.logsumexp(logit_p, -1))
    return torch.log(1 + logit_n.exp().sum(-1) * logit_p.exp().sum(-1))


def _circle(margin, gamma, reduction="none", log_space=False):
    def fn(sp, sn):
        return seed_circle_rows(sp, sn, margin, gamma, log_space)

    return torch_reference(fn, reduction)


@builds("circle_loss")
def circle_loss_cases(rng):
    src = "Baidu's simnet circle_loss formula in float64 (α detached, torch autograd)"
    log_src = "Baidu's simnet formula as softplus(LSE + LSE) in float64 (α detached, torch autograd)"
    both = ["sp", "sn"]
    sp = rng.uniform(0.2, 1.0, size=(6, 3)).astype(np.float32)
    sn = rng.uniform(-0.6, 0.7, size=(6, 5)).astype(np.float32)
    inputs = {"sp": sp, "sn": sn}
    check_agree("circle exp form vs log space", _circle(0.4, 80.0)(inputs, [])[0], _circle(0.4, 80.0, log_space=True)(inputs, [])[0])
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"default_{reduction}", inputs, {"reduction": reduction}, _circle(0.4, 80.0, reduction),
            source=src, wrt=both, note="gamma=80, margin=0.4 (Keras, pytorch-metric-learning)",
        )
    yield case(
        "paper_face_setting", inputs, {"margin": 0.25, "gamma": 256.0, "reduction": "none"},
        _circle(0.25, 256.0), source=src, wrt=both, note="gamma=256, margin=0.25", tol=LARGE_GAMMA_TOL,
    )
    yield case(
        "gamma_512_mean", inputs, {"margin": 0.25, "gamma": 512.0, "reduction": "mean"},
        _circle(0.25, 512.0, "mean", log_space=True), source=log_src, wrt=both, tol=LARGE_GAMMA_TOL,
        note="exp() of the logits overflows float32 (and float64 beyond ~709)",
    )
    sp1, sn1 = rng.uniform(0.0, 1.0, size=(4, 1)).astype(np.float32), rng.uniform(-0.5, 0.5, size=(4, 7)).astype(np.float32)
    yield case(
        "one_positive_per_row", {"sp": sp1, "sn": sn1}, {"margin": 0.3, "gamma": 32.0, "reduction": "none"},
        _circle(0.3, 32.0), source=src, wrt=both,
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"gamma": 16.0, "reduction": "none"}, _circle(0.4, 16.0),
            source=src, dtype=dtype, wrt=both,
        )


def _batch_circle_rows(margin, gamma):
    """``fn(y_pred, y_true) -> (per-anchor loss, valid)``: every other sample of the anchor's
    label a positive, every other label a negative; anchors lacking either give 0."""
    import torch

    def fn(y_pred, y_true):
        sim = torch.clamp(y_pred @ y_pred.T, max=1.0)
        same = y_true[:, None] == y_true[None, :]
        eye = torch.eye(len(y_true), dtype=torch.bool)
        pos, neg = same & ~eye, ~same
        valid = pos.any(-1) & neg.any(-1)
        rows = seed_circle_rows(sim, sim, margin, gamma, log_space=True, pos_mask=pos | ~valid[:, None], neg_mask=neg | ~valid[:, None])
        return torch.where(valid, rows, torch.zeros_like(rows)), valid

    return fn


def _batch_circle(margin, gamma, reduction="none"):
    rows = _batch_circle_rows(margin, gamma)

    def fn(y_pred, y_true):
        loss, valid = rows(y_pred, y_true)
        if reduction == "mean":
            return loss.sum() / valid.sum()
        return loss.sum() if reduction == "sum" else loss

    return torch_reference(fn)


@builds("batch_circle_loss")
def batch_circle_loss_cases(rng):
    import keras

    src = "float64 formula: simnet Circle rows over the batch similarity matrix (α detached, torch autograd)"
    embeddings = rng.normal(size=(8, 4))
    embeddings = (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)).astype(np.float32)
    labels = np.array([0, 1, 0, 2, 1, 0, 3, 2])  # label 3: an anchor without positives
    inputs = {"y_pred": embeddings, "y_true": labels}
    for margin, gamma in ((0.4, 80.0), (0.25, 256.0)):
        check_agree(
            f"batch circle (m={margin}, γ={gamma}) vs keras.losses.circle",
            _batch_circle(margin, gamma)(inputs, [])[0],
            keras_value(
                lambda y, x, g=gamma, m=margin: keras.losses.circle(y, x, gamma=g, margin=m), labels, embeddings
            ),
            rtol=1e-7,
        )
    note = "per-anchor values equal keras.losses.circle; gradients with α detached (Keras differentiates α)"
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"default_{reduction}", inputs, {"reduction": reduction}, _batch_circle(0.4, 80.0, reduction),
            source=src, note=note,
        )
    yield case(
        "paper_face_setting", inputs, {"margin": 0.25, "gamma": 256.0, "reduction": "none"},
        _batch_circle(0.25, 256.0), source=src, note=note, tol=LARGE_GAMMA_TOL,
    )
    yield case(
        "gamma_512_mean", inputs, {"margin": 0.25, "gamma": 512.0, "reduction": "mean"},
        _batch_circle(0.25, 512.0, "mean"), source=src, tol=LARGE_GAMMA_TOL,
        note="mean over the anchors with a positive and a negative",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"gamma": 16.0, "reduction": "none"}, _batch_circle(0.4, 16.0),
            source=src, dtype=dtype,
        )
