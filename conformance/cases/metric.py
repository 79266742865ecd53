"""The metric and contrastive losses from their peers in float64:
torch.nn.functional.triplet_margin_loss, optax.losses.ntxent,
pytorch_metric_learning.losses.SupConLoss, and float64 torch formulas for the
contrastive loss (tensorflow-addons' formula) and the CLIP loss (F.cross_entropy both
ways, as OpenCLIP's ClipLoss)."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, jax_reference, torch_reference

#: Temperature 0.01 multiplies float32 rounding of the similarities (2⁻²⁴) by 100.
SMALL_TEMPERATURE_TOL = {"rtol": 1e-4, "atol": 1e-5}


def _scaled(inputs, factor, *names):
    return {k: (v * np.float32(factor)).astype(np.float32) if k in names else v for k, v in inputs.items()}


# --- triplet margin loss ------------------------------------------------------------------

TRIPLET = ["anchor", "positive", "negative"]


def _triplet(reduction="none", **params):
    import torch.nn.functional as F

    def fn(anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, reduction="none", **params)

    return torch_reference(fn, reduction)


@builds("triplet_margin_loss")
def triplet_margin_loss_cases(rng):
    src = "torch.nn.functional.triplet_margin_loss(reduction='none') (float64)"
    inputs = {name: rng.normal(size=(6, 5)).astype(np.float32) for name in TRIPLET}
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"typical_{reduction}", inputs, {"reduction": reduction}, _triplet(reduction),
            source=src, wrt=TRIPLET,
        )
    options = (
        ("p1_margin_0.5", {"p": 1.0, "margin": 0.5}),
        ("p3_swap", {"p": 3.0, "swap": True}),
        ("swap_margin_2_eps_0", {"swap": True, "margin": 2.0, "eps": 0.0}),
        ("p1.5_eps_1e-3", {"p": 1.5, "eps": 1e-3}),
    )
    for name, params in options:
        yield case(
            f"{name}_none", inputs, {**params, "reduction": "none"}, _triplet(**params),
            source=src, wrt=TRIPLET,
        )
    same = dict(inputs, positive=inputs["anchor"].copy())
    yield case(
        "anchor_equals_positive_none", same, {"reduction": "none"}, _triplet(),
        source=src, wrt=TRIPLET, note="d(a, p) = ||eps||: finite gradient at the norm's kink",
    )
    rank3 = {name: rng.normal(size=(2, 3, 4)).astype(np.float32) for name in TRIPLET}
    yield case("rank3_none", rank3, {"reduction": "none"}, _triplet(), source=src, wrt=TRIPLET)
    yield case(
        "large_values_mean", _scaled(inputs, 1e3, *TRIPLET), {"margin": 500.0, "reduction": "mean"},
        _triplet("mean", margin=500.0), source=src, wrt=TRIPLET, note="embeddings ~1e3",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"reduction": "none"}, _triplet(), source=src, dtype=dtype,
            wrt=TRIPLET,
        )
        yield case(
            f"{dtype}_swap_mean", inputs, {"swap": True, "reduction": "mean"},
            _triplet("mean", swap=True), source=src, dtype=dtype, wrt=TRIPLET,
        )


# --- contrastive loss ---------------------------------------------------------------------


def _contrastive_formula(y_pred, y_true, margin):
    """tensorflow-addons' ``contrastive_loss`` (tfa/losses/contrastive.py, Hadsell et al.
    2006): ``y·d² + (1 − y)·max(m − d, 0)²``, per pair."""
    import torch

    return y_true * y_pred.square() + (1.0 - y_true) * torch.clamp(margin - y_pred, min=0.0).square()


def _contrastive(margin=1.0, reduction="none"):
    return torch_reference(lambda y_pred, y_true: _contrastive_formula(y_pred, y_true, margin), reduction)


def _contrastive_numpy(d, y, margin):
    """The same formula in plain float64 NumPy (an independent check of the torch port)."""
    d, y = d.astype(np.float64), y.astype(np.float64)
    return y * d**2 + (1 - y) * np.maximum(margin - d, 0.0) ** 2


@builds("contrastive_loss")
def contrastive_loss_cases(rng):
    src = "tensorflow-addons contrastive_loss formula y*d^2 + (1-y)*max(m-d, 0)^2 (float64 torch autograd)"
    both = ["y_pred", "y_true"]
    distances = rng.uniform(0.0, 2.0, size=12).astype(np.float32)
    labels = (rng.random(12) > 0.5).astype(np.float32)
    inputs = {"y_pred": distances, "y_true": labels}
    check_agree(
        "contrastive torch port vs NumPy", _contrastive()(inputs, [])[0],
        _contrastive_numpy(distances, labels, 1.0),
    )
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"typical_{reduction}", inputs, {"reduction": reduction}, _contrastive(1.0, reduction),
            source=src, wrt=both,
        )
    for margin in (0.5, 2.5):
        yield case(
            f"margin_{margin}_none", inputs, {"margin": margin, "reduction": "none"},
            _contrastive(margin), source=src, wrt=both,
        )
    soft = {"y_pred": distances, "y_true": rng.uniform(0.0, 1.0, size=12).astype(np.float32)}
    yield case(
        "soft_labels_none", soft, {"reduction": "none"}, _contrastive(), source=src, wrt=both,
        note="labels in [0, 1]: the formula interpolates",
    )
    matrix = {
        "y_pred": rng.uniform(0.0, 2.0, size=(3, 4)).astype(np.float32),
        "y_true": (rng.random((3, 4)) > 0.5).astype(np.float32),
    }
    yield case("matrix_none", matrix, {"reduction": "none"}, _contrastive(), source=src)
    yield case(
        "large_distances_mean", _scaled(inputs, 1e3, "y_pred"), {"margin": 1500.0, "reduction": "mean"},
        _contrastive(1500.0, "mean"), source=src, note="distances ~1e3",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"reduction": "none"}, _contrastive(), source=src, dtype=dtype,
            wrt=both,
        )
        yield case(
            f"{dtype}_mean", inputs, {"margin": 1.5, "reduction": "mean"}, _contrastive(1.5, "mean"),
            source=src, dtype=dtype,
        )


# --- NT-Xent --------------------------------------------------------------------------------


def _optax_ntxent(temperature):
    import optax

    return jax_reference(lambda embeddings, labels: optax.losses.ntxent(embeddings, labels, temperature))


def optax_ntxent_formula(embeddings, labels, temperature, epsilon):
    """optax.losses.ntxent (optax/losses/_self_supervised.py) with the cosine similarity's
    ``epsilon`` (optax: the machine epsilon of the embeddings' dtype) as an argument, so
    float64 can reproduce the floor optax applies to float32 inputs."""
    import jax.numpy as jnp

    norm2 = jnp.sum(jnp.square(embeddings), axis=-1, keepdims=True)
    unit = embeddings / jnp.sqrt(jnp.clip(norm2, epsilon))
    xcs = unit @ unit.T / temperature
    matches = labels[:, None] == labels[None, :]
    diffs = ~matches
    matches = matches & ~jnp.eye(len(labels), dtype=bool)
    xcs_diffs = jnp.where(diffs, xcs, -jnp.inf)
    xcs_matches = jnp.where(matches, xcs, -jnp.inf)
    comb = jnp.concatenate((xcs_diffs, xcs_matches), axis=-1)
    xcs_max = jnp.max(comb, axis=1, keepdims=True)
    shift_diffs, shift_matches = xcs_diffs - xcs_max, xcs_matches - xcs_max
    denom = jnp.sum(jnp.exp(shift_diffs), axis=1, keepdims=True) + jnp.exp(shift_matches)
    log_softm = shift_matches - jnp.log(denom)
    return -jnp.where(matches, log_softm, 0.0).sum() / matches.sum()


@builds("ntxent_loss")
def ntxent_loss_cases(rng):
    src = "optax.losses.ntxent (float64, jax.grad)"
    embeddings = rng.normal(size=(8, 6)).astype(np.float32)
    pairs = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    inputs = {"embeddings": embeddings, "labels": pairs}
    check_agree(
        "optax ntxent vs its formula with epsilon",
        _optax_ntxent(0.07)(inputs, [])[0],
        jax_reference(lambda embeddings, labels: optax_ntxent_formula(
            embeddings, labels, 0.07, np.finfo(np.float64).eps))(inputs, [])[0],
    )
    yield case("default_pairs", inputs, {}, _optax_ntxent(0.07), source=src)
    groups = {
        "embeddings": rng.normal(size=(9, 6)).astype(np.float32),
        "labels": np.array([0, 0, 0, 1, 1, 2, 3, 3, 3]),  # label 2: no positive
    }
    yield case(
        "groups_and_a_singleton", groups, {"temperature": 0.2}, _optax_ntxent(0.2), source=src,
        note="groups of 3 and 2 and a row without positives (only a negative for the others)",
    )
    yield case("temperature_0.5", inputs, {"temperature": 0.5}, _optax_ntxent(0.5), source=src)
    yield case(
        "temperature_0.01", inputs, {"temperature": 0.01}, _optax_ntxent(0.01), source=src,
        tol=SMALL_TEMPERATURE_TOL, note="logits up to 100",
    )
    yield case(
        "large_norms", _scaled(inputs, 1e4, "embeddings"), {}, _optax_ntxent(0.07), source=src,
        note="embeddings ~1e4 (cosine similarities unchanged)",
    )
    zero = dict(inputs, embeddings=inputs["embeddings"].copy())
    zero["embeddings"][3] = 0.0
    yield case(
        "zero_embedding_row", zero, {},
        jax_reference(lambda embeddings, labels: optax_ntxent_formula(
            embeddings, labels, 0.07, float(np.finfo(np.float32).eps))),
        source="optax.losses.ntxent's formula in float64 with float32's epsilon (the floor optax "
        "applies to float32 inputs; jax.grad)",
        note="a zero row: its similarities are 0, its gradient finite",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_pairs", inputs, {"temperature": 0.2}, _optax_ntxent(0.2), source=src, dtype=dtype)


# --- supervised contrastive ---------------------------------------------------------------


def _supcon(temperature, reduction="none"):
    """pytorch-metric-learning's SupConLoss: per anchor (DoNothingReducer), summed, or its
    default reduction (AvgNonZeroReducer: the mean over the anchors with a loss > 0)."""
    import torch
    from pytorch_metric_learning.losses import SupConLoss
    from pytorch_metric_learning.reducers import DoNothingReducer

    def fn(embeddings, labels):
        labels = labels.reshape(-1)  # (PML takes [B] only)
        if reduction == "mean":
            return SupConLoss(temperature)(embeddings, labels)
        losses = SupConLoss(temperature, reducer=DoNothingReducer())(embeddings, labels)
        losses = losses["loss"]["losses"]
        return losses.sum() if reduction == "sum" else torch.as_tensor(losses)

    return torch_reference(fn)


@builds("supervised_contrastive_loss")
def supervised_contrastive_loss_cases(rng):
    src = "pytorch_metric_learning.losses.SupConLoss (float64, torch autograd)"
    embeddings = rng.normal(size=(8, 5)).astype(np.float32)
    labels = np.array([0, 1, 0, 2, 1, 0, 3, 2])  # label 3: an anchor without positives
    inputs = {"embeddings": embeddings, "labels": labels}
    note = "per anchor: SupConLoss(reducer=DoNothingReducer()); anchor 6 has no positive (0, not counted)"
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"default_{reduction}", inputs, {"reduction": reduction}, _supcon(0.1, reduction),
            source=src, note=note,
        )
    yield case(
        "temperature_0.5_none", inputs, {"temperature": 0.5, "reduction": "none"}, _supcon(0.5),
        source=src,
    )
    yield case(
        "temperature_0.01_mean", inputs, {"temperature": 0.01, "reduction": "mean"},
        _supcon(0.01, "mean"), source=src, tol=SMALL_TEMPERATURE_TOL, note="logits up to 100",
    )
    yield case(
        "large_norms_none", _scaled(inputs, 1e4, "embeddings"), {"reduction": "none"}, _supcon(0.1),
        source=src, note="embeddings ~1e4",
    )
    zero = dict(inputs, embeddings=inputs["embeddings"].copy())
    zero["embeddings"][2] = 0.0
    yield case(
        "zero_embedding_row_sum", zero, {"reduction": "sum"}, _supcon(0.1, "sum"), source=src,
        note="F.normalize's 1e-12 floor: the zero row's gradient is ~1e12 times its upstream",
    )
    column = dict(inputs, labels=labels[:, None])
    yield case("labels_column_none", column, {"reduction": "none"}, _supcon(0.1), source=src,
               note="labels [B, 1] (as Keras passes y_true)")
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"temperature": 0.5, "reduction": "none"}, _supcon(0.5),
            source=src, dtype=dtype,
        )


# --- CLIP ---------------------------------------------------------------------------------

CLIP = ["image_embeddings", "text_embeddings"]


def clip_formula(image_embeddings, text_embeddings, temperature, normalize=True):
    """Radford et al. 2021 per pair: (CE(L, arange) + CE(Lᵀ, arange)) / 2 with
    ``L = image @ text.T / temperature`` (F.normalize first), OpenCLIP's ClipLoss."""
    import torch
    import torch.nn.functional as F

    if normalize:
        image_embeddings = F.normalize(image_embeddings, dim=-1)
        text_embeddings = F.normalize(text_embeddings, dim=-1)
    logits = image_embeddings @ text_embeddings.T / temperature
    target = torch.arange(len(logits))
    rows = F.cross_entropy(logits, target, reduction="none")
    columns = F.cross_entropy(logits.T, target, reduction="none")
    return (rows + columns) / 2


def _clip(temperature=1.0, normalize=True, reduction="none"):
    return torch_reference(
        lambda image_embeddings, text_embeddings: clip_formula(
            image_embeddings, text_embeddings, temperature, normalize
        ),
        reduction,
    )


@builds("clip_loss")
def clip_loss_cases(rng):
    src = "float64 torch: (F.cross_entropy(L, arange) + F.cross_entropy(L.T, arange)) / 2, L = normalize(i) @ normalize(t).T / T"
    inputs = {name: rng.normal(size=(6, 4)).astype(np.float32) for name in CLIP}
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"default_{reduction}", inputs, {"reduction": reduction}, _clip(1.0, True, reduction),
            source=src, wrt=CLIP,
        )
    yield case(
        "temperature_0.07_none", inputs, {"temperature": 0.07, "reduction": "none"}, _clip(0.07),
        source=src, wrt=CLIP, note="CLIP's initial temperature",
    )
    yield case(
        "temperature_0.01_mean", inputs, {"temperature": 0.01, "reduction": "mean"},
        _clip(0.01, True, "mean"), source=src, wrt=CLIP, note="logits up to 100",
    )
    yield case(
        "unnormalized_temperature_2_none", inputs, {"temperature": 2.0, "normalize": False, "reduction": "none"},
        _clip(2.0, False), source=src, wrt=CLIP, note="plain dot products",
    )
    yield case(
        "large_norms_none", _scaled(inputs, 1e4, *CLIP), {"temperature": 0.1, "reduction": "none"},
        _clip(0.1), source=src, wrt=CLIP, note="embeddings ~1e4",
    )
    zero = {k: v.copy() for k, v in inputs.items()}
    zero["text_embeddings"][1] = 0.0
    yield case(
        "zero_text_row_sum", zero, {"reduction": "sum"}, _clip(1.0, True, "sum"), source=src,
        wrt=CLIP, note="F.normalize's 1e-12 floor: the zero row's gradient is ~1e12 times its upstream",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"temperature": 0.5, "reduction": "none"}, _clip(0.5),
            source=src, dtype=dtype, wrt=CLIP,
        )
