"""The learning-to-rank losses from their peers in float64:
``optax.losses.ranking_softmax_loss`` (JAX, ``jax_enable_x64``),
``keras_rs.losses.PairwiseLogisticLoss`` (Keras on the generator's tensorflow backend,
``dtype="float64"``, gradients by ``tf.GradientTape``) and, for ListMLE, the float64
Plackett–Luce formula of Xia et al. 2008 (torch autograd), cross-checked against
``keras_rs.losses.ListMLELoss`` in float64 on the inputs where keras-rs' arithmetic is
accurate (its log of a cumulative sum of exponentials, shifted by the list's largest
score and offset by 1e-10, loses the small suffix sums of larger spreads).

Per list; ``"mean"`` counts the lists that carry a signal (a kept item with a non-zero
label for the softmax loss, a label above 0 for the others; not a masked-out list),
weighted by ``sample_weight``.
"""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, jax_reference

RANKING = ("softmax_ranking_loss", "pairwise_logistic_loss", "listmle_loss")


# --- inputs -------------------------------------------------------------------------------


def _lists(rng, shape=(5, 6), scale=1.5, grades=4):
    """Scores and graded labels (ties included), every list with a relevant item."""
    scores = (rng.normal(size=shape) * scale).astype(np.float32)
    labels = rng.integers(0, grades, size=shape)
    flat = labels.reshape(-1, shape[-1])
    flat[flat.max(-1) == 0, 0] = 1
    return {"y_pred": scores, "y_true": labels.astype(np.float32)}


def _padded(rng, loss):
    """Padded lists: an item mask with a fully padded list, a list without a relevant
    kept item, padding on the relevant items, and (pairwise, ListMLE) label -1 pads."""
    inputs = _lists(rng)
    where = rng.random(inputs["y_pred"].shape) > 0.3
    where[:, 0] = True
    where[1] = False  # a list that is entirely padding
    inputs["y_true"][2] = np.where(where[2], 0.0, 2.0).astype(np.float32)  # relevant only where padded
    if loss != "softmax_ranking_loss":
        inputs["y_true"][3, -2:] = -1.0  # keras-rs' padding label
    return inputs, where


def _scaled(inputs, factor):
    return {**inputs, "y_pred": (inputs["y_pred"] * np.float32(factor)).astype(np.float32)}


# --- what "mean" counts -----------------------------------------------------------------------


def _coefficients(loss, y_true, where, list_where, weight):
    """The constant per-list coefficients c (float64 NumPy): the loss' own count (lists
    with a signal) times the list mask and weights. ``"mean"`` is Σ c·ℓ / Σ c."""
    labels = np.asarray(y_true, np.float64)
    kept = np.ones(labels.shape, bool) if where is None else np.broadcast_to(where, labels.shape)
    if loss == "softmax_ranking_loss":
        signal = (kept & (labels != 0)).any(-1)
    else:
        signal = (kept & (labels >= 0) & (labels > 0)).any(-1)
    c = signal.astype(np.float64)
    if list_where is not None:
        c = c * np.broadcast_to(list_where, c.shape)
    if weight is not None:
        c = c * np.broadcast_to(np.asarray(weight, np.float64), c.shape)
    return c


def _reduced(values, c, reduction, total=lambda x: x.sum()):
    """``values`` (a framework tensor) reduced with the coefficients ``c`` (same type);
    ``total`` sums a tensor of that framework."""
    if reduction == "none":
        return values * c
    weighted = total(values * c)
    return weighted if reduction == "sum" else weighted / total(c)


# --- references ---------------------------------------------------------------------------------


def optax_softmax(reduction, where=None, list_where=None, weight=None):
    """``optax.losses.ranking_softmax_loss(reduce_fn=None)`` per list, float64 JAX."""

    def fn(y_pred, y_true):
        import jax.numpy as jnp
        import optax

        values = optax.losses.ranking_softmax_loss(
            y_pred, y_true, where=None if where is None else jnp.asarray(where), reduce_fn=None
        )
        c = jnp.asarray(_coefficients("softmax_ranking_loss", np.asarray(y_true), where, list_where, weight))
        return _reduced(values, c, reduction)

    return jax_reference(fn)


def keras_rs_pairwise(reduction, where=None, list_where=None, weight=None):
    """``keras_rs.losses.PairwiseLogisticLoss(reduction="none", dtype="float64")`` per
    item (``y_true={"labels", "mask"}`` with the item mask), summed over each list and
    divided by its kept items (label >= 0 and in the mask); tf.GradientTape gradients."""

    def compute(inputs, wrt):
        import keras_rs
        import tensorflow as tf

        labels = np.asarray(inputs["y_true"], np.float64)
        mask = np.ones(labels.shape, bool) if where is None else np.broadcast_to(where, labels.shape)
        kept = (mask & (labels >= 0)).sum(-1).astype(np.float64)
        c = tf.constant(_coefficients("pairwise_logistic_loss", labels, where, list_where, weight))
        scores = tf.Variable(np.asarray(inputs["y_pred"], np.float64))
        peer = keras_rs.losses.PairwiseLogisticLoss(reduction="none", dtype="float64")
        lists = (-1, labels.shape[-1])  # keras-rs takes [B, L]: leading axes flattened
        with tf.GradientTape() as tape:
            per_item = peer(
                {"labels": tf.constant(labels.reshape(lists)), "mask": tf.constant(mask.reshape(lists))},
                tf.reshape(scores, lists),
            )
            per_list = tf.reshape(tf.reduce_sum(per_item, -1), labels.shape[:-1])
            per_list = per_list / tf.constant(np.maximum(kept, 1.0))
            out = _reduced(per_list, c, reduction, tf.reduce_sum)
            total = tf.reduce_sum(out)
        grads = {}
        if "y_pred" in wrt:
            grads["y_pred"] = tape.gradient(total, scores).numpy()
        return out.numpy(), grads

    return compute


def pairwise_formula(reduction, where=None):
    """The pairwise logistic loss in float64 torch: per list, Σ_i Σ_j 1[y_i > y_j]·
    softplus(s_j − s_i) over the kept items, divided by their number (keras-rs' per-item
    values averaged over the list; its values are checked equal where this is used)."""

    def compute(inputs, wrt):
        import torch
        import torch.nn.functional as F

        labels = np.asarray(inputs["y_true"], np.float64)
        mask = np.ones(labels.shape, bool) if where is None else np.broadcast_to(where, labels.shape)
        kept = mask & (labels >= 0)
        pairs = (labels[..., :, None] > labels[..., None, :]) & kept[..., :, None] & kept[..., None, :]
        scores = torch.tensor(np.asarray(inputs["y_pred"], np.float64), requires_grad=True)
        terms = torch.tensor(pairs, dtype=torch.float64) * F.softplus(scores[..., None, :] - scores[..., :, None])
        per_list = terms.sum((-1, -2)) / torch.tensor(np.maximum(kept.sum(-1), 1.0))
        c = torch.tensor(_coefficients("pairwise_logistic_loss", labels, where, None, None))
        out = _reduced(per_list, c, reduction)
        (grad,) = torch.autograd.grad(out.sum(), [scores])
        return out.detach().numpy(), {"y_pred": grad.numpy()}

    return compute


def _listmle_lists(y_pred, y_true, where):
    """Per list, float64 torch: Σ_k [log Σ_{m >= k} exp(s_{π_m}) − s_{π_k}] over the kept
    items (mask, label >= 0), π sorting the labels in decreasing order, ties by position."""
    import torch

    labels = y_true.detach().numpy()
    mask = np.ones(labels.shape, bool) if where is None else np.broadcast_to(where, labels.shape)
    flat_scores = y_pred.reshape(-1, labels.shape[-1])
    values = []
    for row, (lab, keep) in enumerate(zip(labels.reshape(-1, labels.shape[-1]), mask.reshape(-1, labels.shape[-1]), strict=True)):
        items = np.flatnonzero(keep & (lab >= 0))
        order = items[np.argsort(-lab[items], kind="stable")]
        z = flat_scores[row, torch.as_tensor(order, dtype=torch.long)]
        terms = [torch.logsumexp(z[k:], 0) - z[k] for k in range(len(order))]
        values.append(torch.stack(terms).sum() if terms else flat_scores[row].sum() * 0.0)
    return torch.stack(values).reshape(labels.shape[:-1])


def listmle_formula(reduction, where=None, list_where=None, weight=None):
    """Xia et al. 2008 in float64 (torch autograd)."""

    def compute(inputs, wrt):
        import torch

        labels = np.asarray(inputs["y_true"], np.float64)
        scores = torch.tensor(np.asarray(inputs["y_pred"], np.float64), requires_grad=True)
        c = torch.tensor(_coefficients("listmle_loss", labels, where, list_where, weight))
        out = _reduced(_listmle_lists(scores, torch.tensor(labels), where), c, reduction)
        grads = {}
        if "y_pred" in wrt:
            (grads["y_pred"],) = torch.autograd.grad(out.sum(), [scores])
            grads["y_pred"] = grads["y_pred"].numpy()
        return out.detach().numpy(), grads

    return compute


def keras_rs_listmle(inputs, where=None):
    """``keras_rs.losses.ListMLELoss(reduction="none", dtype="float64")`` per list."""
    import keras_rs

    labels = np.asarray(inputs["y_true"], np.float64)
    mask = np.ones(labels.shape, bool) if where is None else np.broadcast_to(where, labels.shape)
    peer = keras_rs.losses.ListMLELoss(reduction="none", dtype="float64")
    return np.asarray(peer({"labels": labels, "mask": mask}, np.asarray(inputs["y_pred"], np.float64)))


REFERENCES = {
    "softmax_ranking_loss": (
        optax_softmax,
        "optax.losses.ranking_softmax_loss(reduce_fn=None) per list (float64 JAX)",
    ),
    "pairwise_logistic_loss": (
        keras_rs_pairwise,
        "keras_rs.losses.PairwiseLogisticLoss(reduction='none', dtype='float64') per item, "
        "averaged over each list's kept items (Keras tensorflow backend, tf.GradientTape)",
    ),
    "listmle_loss": (
        listmle_formula,
        "float64 Plackett-Luce NLL (Xia et al. 2008, stable sort of the labels; torch "
        "autograd), equal to keras_rs.losses.ListMLELoss(dtype='float64') where accurate",
    ),
}


# --- cases --------------------------------------------------------------------------------------


def ranking_cases(rng, loss):
    reference, src = REFERENCES[loss]
    inputs = _lists(rng)
    if loss == "listmle_loss":  # keras-rs is accurate on these spreads (scores ~1.5)
        check_agree(
            "listmle formula vs keras_rs", listmle_formula("none")(inputs, [])[0],
            keras_rs_listmle(inputs), rtol=1e-7, atol=1e-9,
        )
    for reduction in ("none", "mean", "sum"):
        yield case(f"typical_{reduction}", inputs, {"reduction": reduction}, reference(reduction), source=src)
    padded, where = _padded(rng, loss)
    if loss == "listmle_loss":
        check_agree(
            "listmle formula vs keras_rs (padded)",
            listmle_formula("none", where)(padded, [])[0][[0, 3, 4]],
            keras_rs_listmle(padded, where)[[0, 3, 4]], rtol=1e-7, atol=1e-9,
        )
    note = "item mask: list 1 all padding, list 2 relevant only where padded (not counted)"
    for reduction in ("none", "mean"):
        yield case(
            f"padded_items_{reduction}", padded, {"where": where, "reduction": reduction},
            reference(reduction, where=where), source=src, note=note,
        )
    list_where = np.array([True, False, True, True, False])
    weight = np.array([0.5, 2.0, 0.0, 1.5, 1.0], np.float32)
    yield case(
        "list_where_and_sample_weight_mean", inputs,
        {"where": list_where, "sample_weight": weight, "reduction": "mean"},
        reference("mean", list_where=list_where, weight=weight), source=src,
        note="where of lower rank masks lists; sample_weight weighs lists",
    )
    yield case(
        "item_where_and_sample_weight_sum", padded,
        {"where": where, "sample_weight": weight, "reduction": "sum"},
        reference("sum", where=where, weight=weight), source=src,
    )
    yield case("rank3_none", _lists(rng, (2, 3, 5)), {"reduction": "none"}, reference("none"), source=src)
    yield case(
        "large_scores_mean", _scaled(inputs, 1e3), {"reduction": "mean"}, reference("mean"),
        source=src, note="scores ~1e3",
    )
    yield case(
        "huge_scores_none", _scaled(inputs, 1e30), {"reduction": "none"}, reference("none"),
        source=src, note="scores ~1e30: exp overflows, the log-space loss does not",
    )
    ties = _lists(rng, scale=0.0)
    ties["y_pred"] = np.round(ties["y_pred"] + rng.integers(-1, 2, size=ties["y_pred"].shape)).astype(np.float32)
    if loss == "pairwise_logistic_loss":
        # keras-rs writes softplus(-x) as relu(-x) + log(1 + exp(-|x|)): at a tie (x = 0)
        # its gradient takes relu'(0) = |x|'(0) = 0, not softplus'(0) = 1/2.
        formula = pairwise_formula("none")
        check_agree("pairwise formula vs keras_rs (ties)", formula(ties, [])[0], reference("none")(ties, [])[0])
        yield case(
            "tied_scores_none", ties, {"reduction": "none"}, formula,
            source="float64 torch softplus formula, values equal to keras_rs.losses.PairwiseLogisticLoss",
            note="scores in {-1, 0, 1}: ties in scores and labels; keras-rs' gradient at a score "
            "tie is 0 instead of softplus'(0) = 1/2 (its relu(-x) + log1p(exp(-|x|)) form)",
        )
    else:
        yield case("tied_scores_none", ties, {"reduction": "none"}, reference("none"), source=src,
                   note="scores in {-1, 0, 1}: ties in scores and labels")
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_none", inputs, {"reduction": "none"}, reference("none"), source=src, dtype=dtype)
        yield case(
            f"{dtype}_large_scores_mean", _scaled(inputs, 100.0), {"reduction": "mean"},
            reference("mean"), source=src, dtype=dtype, note="scores ~100",
        )
        yield case(
            f"{dtype}_padded_mean", padded, {"where": where, "reduction": "mean"},
            reference("mean", where=where), source=src, dtype=dtype,
        )


@builds("softmax_ranking_loss")
def softmax_ranking_loss_cases(rng):
    yield from ranking_cases(rng, "softmax_ranking_loss")


@builds("pairwise_logistic_loss")
def pairwise_logistic_loss_cases(rng):
    yield from ranking_cases(rng, "pairwise_logistic_loss")


@builds("listmle_loss")
def listmle_loss_cases(rng):
    yield from ranking_cases(rng, "listmle_loss")
