"""dice_loss and jaccard_loss (optax.losses.dice_loss, float64, cross-checked with a
float64 torch formula), lovasz_softmax_loss and lovasz_hinge_loss (a float64 torch port
of the reference implementation, cross-checked with the Lovász extension computed from
its definition).

``y_pred`` is channel-last ``[B, H, W, C]`` here; the reference takes ``[B, C, H, W]``
and gets the inputs moved there. Lovász inputs are drawn without ties among the errors
of one image and class (after rounding to the case's dtype): at a tie the value is the
same for every order but the gradient (a subgradient) depends on how the sort breaks
it, and the reference's ``torch.sort`` is not stable.
"""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, jax_reference, round_to, torch_reference

IGNORE = 255


# --- Dice / Jaccard: optax ------------------------------------------------------------


def _one_hot_np(ids: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[ids]


def optax_dice(reduction="none", *, alpha=0.5, beta=0.5, smooth=1.0, class_weight=None,
               from_logits=True, ignore_index=None):
    """``optax.losses.dice_loss`` per image on one-hot targets (integer ids are one-hot
    encoded; C = 1 takes the binary target). optax has no ``ignore_index``: each image is
    evaluated on its kept pixels only (the ignored ones removed), as multiloss defines it."""
    import jax
    import jax.numpy as jnp
    import optax

    def fn(y_pred, y_true):
        classes = y_pred.shape[-1]
        ids = y_true.ndim == y_pred.ndim - 1 or (classes > 1 and y_true.shape[-1] == 1)
        if classes > 1 and y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        if classes == 1:
            targets = jnp.reshape(y_true, y_pred.shape).astype(jnp.float64)
        elif ids:
            targets = jax.nn.one_hot(jnp.where(y_true == IGNORE, 0, y_true), classes, dtype=jnp.float64)
        else:
            targets = y_true
        weights = None if class_weight is None else jnp.asarray(class_weight, jnp.float64)
        kwargs = dict(class_weights=weights, smooth=smooth, alpha=alpha, beta=beta, apply_softmax=from_logits)
        if ignore_index is None:
            loss = optax.losses.dice_loss(y_pred, targets, **kwargs)
        else:
            keep = np.reshape(np.asarray(y_true), y_pred.shape[:-1]) != ignore_index
            loss = jnp.stack([
                optax.losses.dice_loss(y_pred[b][keep[b]][None], targets[b][keep[b]][None], **kwargs)[0]
                for b in range(y_pred.shape[0])
            ])
        return {"none": loss, "mean": jnp.mean(loss), "sum": jnp.sum(loss)}[reduction]

    return jax_reference(fn)


def torch_tversky(y_pred, targets, alpha, beta, smooth, from_logits=True):
    """The float64 formula (independent of optax): per image, mean over classes."""
    import torch

    if from_logits:
        probs = torch.sigmoid(y_pred) if y_pred.shape[-1] == 1 else torch.softmax(y_pred, -1)
    else:
        probs = y_pred
    axes = tuple(range(1, y_pred.ndim - 1))
    tp = (probs * targets).sum(axes)
    fp = probs.sum(axes) - tp
    fn = targets.sum(axes) - tp
    return (1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)).mean(-1)


def _overlap_cases(rng, loss, alpha, beta):
    """The cases shared by dice_loss (α, β free) and jaccard_loss (α = β = 1)."""
    import torch

    src = f"optax.losses.dice_loss(y_pred, one_hot(y_true), alpha={alpha}, beta={beta}) per image (float64, jax.grad)"
    params = {} if loss == "jaccard_loss" else {"alpha": alpha, "beta": beta}

    def ref(reduction="none", **kw):
        return optax_dice(reduction, alpha=alpha, beta=beta, **kw)

    logits = rng.normal(scale=1.5, size=(2, 4, 5, 3)).astype(np.float32)
    ids = rng.integers(0, 3, size=(2, 4, 5))
    ids[1][ids[1] == 2] = 0  # class 2 absent from image 1
    inputs = {"y_pred": logits, "y_true": ids}
    formula = torch_tversky(torch.tensor(logits, dtype=torch.float64),
                            torch.tensor(_one_hot_np(ids, 3), dtype=torch.float64), alpha, beta, 1.0)
    check_agree(f"{loss} optax vs formula", ref()(inputs, [])[0], formula.numpy())
    for reduction in ("none", "mean", "sum"):
        yield case(f"ids_{reduction}", inputs, {**params, "reduction": reduction}, ref(reduction), source=src,
                   note="class 2 absent from image 1")
    one_hot = {"y_pred": logits, "y_true": _one_hot_np(ids, 3)}
    yield case("one_hot_none", one_hot, {**params, "reduction": "none"}, ref(), source=src)
    soft = rng.dirichlet(np.ones(3), size=(2, 4, 5)).astype(np.float32)
    yield case("soft_targets_none", {"y_pred": logits, "y_true": soft}, {**params, "reduction": "none"}, ref(),
               source=src, wrt=["y_pred", "y_true"], note="soft targets, gradient for both")
    yield case("ids_with_class_axis_none", {"y_pred": logits, "y_true": ids[..., None]},
               {**params, "reduction": "none"}, ref(), source=src, note="y_true [B, H, W, 1]")
    weights = [0.2, 1.0, 2.5]
    yield case("class_weight_smooth_0.5_mean", inputs, {**params, "class_weight": weights, "smooth": 0.5,
                                                        "reduction": "mean"},
               ref("mean", class_weight=weights, smooth=0.5), source=src)
    yield case("smooth_0_none", inputs, {**params, "smooth": 0.0, "reduction": "none"}, ref(smooth=0.0),
               source=src, note="smooth=0: an absent class scores 1 (its denominator is α·ΣP > 0)")
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    yield case("probabilities_none", {"y_pred": probs.astype(np.float32), "y_true": ids},
               {**params, "from_logits": False, "reduction": "none"}, ref(from_logits=False), source=src,
               note="apply_softmax=False")
    masked = ids.copy()
    masked[0, :2] = IGNORE
    masked[1] = IGNORE  # every pixel of image 1 ignored: its loss is 0
    yield case("ignore_index_none", {"y_pred": logits, "y_true": masked},
               {**params, "ignore_index": IGNORE, "reduction": "none"}, ref(ignore_index=IGNORE),
               source=src + ", each image on its kept pixels", note="ignore_index=255; image 1 fully ignored")
    yield case("ignore_index_mean", {"y_pred": logits, "y_true": masked},
               {**params, "ignore_index": IGNORE, "reduction": "mean"}, ref("mean", ignore_index=IGNORE),
               source=src + ", each image on its kept pixels", note="a fully ignored image counts as 0")
    binary_logits = rng.normal(scale=2.0, size=(3, 4, 4, 1)).astype(np.float32)
    mask = (rng.random((3, 4, 4)) > 0.6).astype(np.float32)
    yield case("binary_sigmoid_none", {"y_pred": binary_logits, "y_true": mask}, {**params, "reduction": "none"},
               ref(), source=src, note="C = 1: sigmoid, y_true [B, H, W] binary")
    yield case("binary_class_axis_mean", {"y_pred": binary_logits, "y_true": mask[..., None]},
               {**params, "reduction": "mean"}, ref("mean"), source=src, note="C = 1, y_true [B, H, W, 1]")
    flat_logits = rng.normal(size=(4, 6, 5)).astype(np.float32)
    flat_ids = rng.integers(0, 5, size=(4, 6))
    yield case("rank3_none", {"y_pred": flat_logits, "y_true": flat_ids}, {**params, "reduction": "none"}, ref(),
               source=src, note="[B, P, C]")
    yield case("large_logits_none", {"y_pred": logits * 100, "y_true": ids}, {**params, "reduction": "none"},
               ref(), source=src, note="logits ~150: saturated softmax")
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_ids_none", inputs, {**params, "reduction": "none"}, ref(), source=src, dtype=dtype)
        yield case(f"{dtype}_binary_mean", {"y_pred": binary_logits, "y_true": mask}, {**params, "reduction": "mean"},
                   ref("mean"), source=src, dtype=dtype)


@builds("dice_loss")
def dice_loss_cases(rng):
    yield from _overlap_cases(rng, "dice_loss", 0.5, 0.5)
    src = "optax.losses.dice_loss(y_pred, one_hot(y_true), alpha=0.3, beta=0.7) per image (float64, jax.grad)"
    logits = rng.normal(scale=1.5, size=(2, 4, 5, 3)).astype(np.float32)
    ids = rng.integers(0, 3, size=(2, 4, 5))
    for reduction in ("none", "mean"):
        yield case(f"tversky_{reduction}", {"y_pred": logits, "y_true": ids},
                   {"alpha": 0.3, "beta": 0.7, "reduction": reduction},
                   optax_dice(reduction, alpha=0.3, beta=0.7), source=src, note="Tversky α=0.3, β=0.7")


@builds("jaccard_loss")
def jaccard_loss_cases(rng):
    yield from _overlap_cases(rng, "jaccard_loss", 1.0, 1.0)


# --- Lovász: the reference implementation, ported ------------------------------------
#
# A float64 port of Maxim Berman's reference implementation, pytorch/lovasz_losses.py of
# https://github.com/bermanmaxim/LovaszSoftmax (MIT License; commit 7d48792), for
# "Berman, Rannen Triki & Blaschko, The Lovász-Softmax loss, CVPR 2018"
# (https://arxiv.org/abs/1705.08790): lovasz_grad, lovasz_hinge(_flat),
# lovasz_softmax(_flat), the flattening with the void pixels removed, and its mean.
# Written against current torch (no Variable). Two places differ, both where the
# reference cannot return a number: an image whose every pixel is void gives
# ``probas.sum() * 0`` (the reference returns an empty tensor there, which its per-image
# mean cannot add, although its comment says "only void pixels, the gradients should
# be 0"), and void pixels are removed with a boolean index (the reference's
# ``valid.nonzero().squeeze()`` drops the pixel axis when one pixel is left).


def lovasz_grad(gt_sorted):
    """Gradient of the Lovász extension w.r.t. sorted errors (Alg. 1 of the paper)."""
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1].clone()
    return jaccard


def reference_mean(values, empty=0):
    """The reference's ``mean`` (a mean over a generator; ``empty`` when there is none)."""
    values = iter(values)
    try:
        count, acc = 1, next(values)
    except StopIteration:
        return empty
    for value in values:
        count, acc = count + 1, acc + value
    return acc if count == 1 else acc / count


def lovasz_hinge_flat(logits, labels):
    import torch
    import torch.nn.functional as F

    if len(labels) == 0:
        return logits.sum() * 0.0
    signs = 2.0 * labels.double() - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    grad = lovasz_grad(labels.double()[perm])
    return torch.dot(F.relu(errors_sorted), grad)


def flatten_binary_scores(scores, labels, ignore=None):
    scores, labels = scores.reshape(-1), labels.reshape(-1)
    if ignore is None:
        return scores, labels
    valid = labels != ignore
    return scores[valid], labels[valid]


def lovasz_hinge(logits, labels, per_image=True, ignore=None):
    if per_image:
        return reference_mean(
            lovasz_hinge_flat(*flatten_binary_scores(log.unsqueeze(0), lab.unsqueeze(0), ignore))
            for log, lab in zip(logits, labels, strict=True)
        )
    return lovasz_hinge_flat(*flatten_binary_scores(logits, labels, ignore))


def lovasz_softmax_flat(probas, labels, classes="present"):
    import torch

    if probas.numel() == 0:
        return probas.sum() * 0.0
    num_classes = probas.size(1)
    losses = []
    for c in range(num_classes):
        fg = (labels == c).double()
        if classes == "present" and fg.sum() == 0:
            continue
        errors = (fg - probas[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
    return reference_mean(losses)


def flatten_probas(probas, labels, ignore=None):
    """[B, C, H, W] probabilities as [B·H·W, C]; void pixels removed."""
    num_classes = probas.size(1)
    probas = probas.permute(0, 2, 3, 1).reshape(-1, num_classes)
    labels = labels.reshape(-1)
    if ignore is None:
        return probas, labels
    valid = labels != ignore
    return probas[valid], labels[valid]


def lovasz_softmax(probas, labels, classes="present", per_image=False, ignore=None):
    if per_image:
        return reference_mean(
            lovasz_softmax_flat(*flatten_probas(prob.unsqueeze(0), lab.unsqueeze(0), ignore), classes=classes)
            for prob, lab in zip(probas, labels, strict=True)
        )
    return lovasz_softmax_flat(*flatten_probas(probas, labels, ignore), classes=classes)


def reference_lovasz_softmax(reduction="none", *, from_logits=True, classes="present", ignore_index=None):
    """The port on channel-last inputs: per image (``"none"``), or the reference's own
    per-image mean (``"mean"``) and its sum."""
    import torch

    def fn(y_pred, y_true):
        probas = torch.softmax(y_pred, -1) if from_logits else y_pred
        probas = probas.permute(0, 3, 1, 2)  # [B, C, H, W], the reference's layout
        if reduction == "mean":
            return lovasz_softmax(probas, y_true, classes=classes, per_image=True, ignore=ignore_index)
        per_image = torch.stack([
            lovasz_softmax(probas[b : b + 1], y_true[b : b + 1], classes=classes, per_image=True, ignore=ignore_index)
            for b in range(probas.shape[0])
        ])
        return per_image.sum() if reduction == "sum" else per_image

    return torch_reference(fn)


def reference_lovasz_hinge(reduction="none", *, ignore_index=None):
    import torch

    def fn(y_pred, y_true):
        if reduction == "mean":
            return lovasz_hinge(y_pred, y_true, per_image=True, ignore=ignore_index)
        per_image = torch.stack([
            lovasz_hinge(y_pred[b : b + 1], y_true[b : b + 1], per_image=True, ignore=ignore_index)
            for b in range(y_pred.shape[0])
        ])
        return per_image.sum() if reduction == "sum" else per_image

    return torch_reference(fn)


def lovasz_from_definition(errors: np.ndarray, foreground: np.ndarray, hinge: bool) -> float:
    """The Lovász extension of the Jaccard loss ΔJ(A) = 1 − |F \\ A| / |F ∪ A| (A: the
    wrong pixels) at ``errors``, from its definition Σ_k m_k (ΔJ(S_k) − ΔJ(S_{k−1}))
    with S_k the k largest errors, the sets built explicitly (O(P²), float64)."""
    order = sorted(range(len(errors)), key=lambda i: -errors[i])
    fg = {i for i in range(len(errors)) if foreground[i]}

    def jaccard_loss(wrong: set) -> float:
        union = fg | wrong
        return 0.0 if not union else 1.0 - len(fg - wrong) / len(union)

    total, previous, chosen = 0.0, 0.0, set()
    for i in order:
        chosen.add(i)
        current = jaccard_loss(chosen)
        total += (max(errors[i], 0.0) if hinge else errors[i]) * (current - previous)
        previous = current
    return total


def _untied(errors: np.ndarray, gap: float = 1e-5) -> bool:
    """No two errors along the last axis closer than ``gap`` (relative to 1)."""
    ordered = np.sort(errors, axis=-1)
    return bool(np.all(np.diff(ordered, axis=-1) > gap))


def _softmax_errors(logits: np.ndarray, ids: np.ndarray, classes: int) -> np.ndarray:
    """[B, C, P] errors |fg − p| in float64, for the tie check."""
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    fg = np.eye(classes)[ids]
    errors = np.abs(fg - p).reshape(logits.shape[0], -1, classes)
    return np.moveaxis(errors, -1, 1)


def _draw_untied(rng, draw, errors_of, dtypes=("float32", "float16", "bfloat16")):
    """Redraw ``draw()`` (deterministic: the same rng) until the errors have no ties in
    any dtype the case uses."""
    for _ in range(200):
        drawn = draw()
        if all(_untied(errors_of(round_to(drawn[0], d), *drawn[1:])) for d in dtypes):
            return drawn
    raise RuntimeError("no tie-free inputs drawn")


@builds("lovasz_softmax_loss")
def lovasz_softmax_loss_cases(rng):
    src = ("port of lovasz_softmax(probas, labels, per_image=True) from github.com/bermanmaxim/LovaszSoftmax "
           "pytorch/lovasz_losses.py (float64, torch autograd)")
    classes = 4

    def draw():
        logits = rng.normal(scale=1.5, size=(3, 3, 4, classes)).astype(np.float32)
        ids = rng.integers(0, classes, size=(3, 3, 4))
        ids[2][ids[2] == 3] = 1  # class 3 absent from image 2
        return logits, ids

    def errors_of(logits, ids):
        return _softmax_errors(logits, ids, classes)

    logits, ids = _draw_untied(rng, draw, errors_of)
    inputs = {"y_pred": logits, "y_true": ids}
    # the port against the extension computed from its definition
    errors = errors_of(logits, ids)
    fg = np.moveaxis(np.eye(classes)[ids].reshape(3, -1, classes), -1, 1)
    for classes_mode in ("present", "all"):
        definition = [
            np.mean([lovasz_from_definition(errors[b, c], fg[b, c], hinge=False)
                     for c in range(classes) if classes_mode == "all" or fg[b, c].any()])
            for b in range(3)
        ]
        check_agree(f"lovasz_softmax port vs definition ({classes_mode})",
                    reference_lovasz_softmax(classes=classes_mode)(inputs, [])[0], definition)
    for reduction in ("none", "mean", "sum"):
        yield case(f"present_{reduction}", inputs, {"reduction": reduction}, reference_lovasz_softmax(reduction),
                   source=src, note="class 3 absent from image 2")
    yield case("all_classes_none", inputs, {"classes": "all", "reduction": "none"},
               reference_lovasz_softmax(classes="all"), source=src.replace("per_image=True", "classes='all', per_image=True"),
               note="an absent class contributes its largest probability")
    yield case("ids_with_class_axis_mean", {"y_pred": logits, "y_true": ids[..., None]}, {"reduction": "mean"},
               reference_lovasz_softmax("mean"), source=src, note="y_true [B, H, W, 1]")
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    yield case("probabilities_none", {"y_pred": probs.astype(np.float32), "y_true": ids},
               {"from_logits": False, "reduction": "none"}, reference_lovasz_softmax(from_logits=False),
               source=src, note="from_logits=False: probabilities as the reference takes them")
    masked = ids.copy()
    masked[0, 0] = IGNORE
    masked[1, :, 1:3] = IGNORE
    yield case("ignore_index_none", {"y_pred": logits, "y_true": masked}, {"ignore_index": IGNORE, "reduction": "none"},
               reference_lovasz_softmax(ignore_index=IGNORE), source=src.replace("per_image=True", "per_image=True, ignore=255"),
               note="void pixels removed by the reference, masked here")
    void_image = masked.copy()
    void_image[2] = IGNORE
    yield case("all_void_image_mean", {"y_pred": logits, "y_true": void_image},
               {"ignore_index": IGNORE, "reduction": "mean"}, reference_lovasz_softmax("mean", ignore_index=IGNORE),
               source=src.replace("per_image=True", "per_image=True, ignore=255"),
               note="image 2 fully void: 0 (the reference's stated intent), counted in the mean")
    large = {"y_pred": logits * 8, "y_true": ids}
    yield case("large_logits_none", large, {"reduction": "none"}, reference_lovasz_softmax(), source=src,
               note="logits ~12")
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_none", inputs, {"reduction": "none"}, reference_lovasz_softmax(), source=src, dtype=dtype)
        yield case(f"{dtype}_ignore_index_mean", {"y_pred": logits, "y_true": masked},
                   {"ignore_index": IGNORE, "reduction": "mean"}, reference_lovasz_softmax("mean", ignore_index=IGNORE),
                   source=src, dtype=dtype)


@builds("lovasz_hinge_loss")
def lovasz_hinge_loss_cases(rng):
    src = ("port of lovasz_hinge(logits, labels, per_image=True) from github.com/bermanmaxim/LovaszSoftmax "
           "pytorch/lovasz_losses.py (float64, torch autograd)")

    def hinge_errors(logits, labels):
        return (1.0 - logits.astype(np.float64) * (2.0 * labels - 1.0)).reshape(logits.shape[0], -1)

    def draw():
        logits = rng.normal(scale=1.5, size=(3, 4, 5)).astype(np.float32)
        labels = (rng.random((3, 4, 5)) > 0.6).astype(np.float32)
        return logits, labels

    logits, labels = _draw_untied(rng, draw, hinge_errors)
    inputs = {"y_pred": logits, "y_true": labels}
    errors = hinge_errors(logits, labels)
    definition = [lovasz_from_definition(errors[b], labels[b].reshape(-1), hinge=True) for b in range(3)]
    check_agree("lovasz_hinge port vs definition", reference_lovasz_hinge()(inputs, [])[0], definition)
    for reduction in ("none", "mean", "sum"):
        yield case(f"typical_{reduction}", inputs, {"reduction": reduction}, reference_lovasz_hinge(reduction),
                   source=src)
    int_labels = labels.astype(np.int64)
    masked = int_labels.copy()
    masked[0, 1] = IGNORE
    masked[1, :, :3] = IGNORE
    yield case("integer_labels_none", {"y_pred": logits, "y_true": int_labels}, {"reduction": "none"},
               reference_lovasz_hinge(), source=src, note="integer targets")
    yield case("ignore_index_none", {"y_pred": logits, "y_true": masked}, {"ignore_index": IGNORE, "reduction": "none"},
               reference_lovasz_hinge(ignore_index=IGNORE), source=src.replace("per_image=True", "per_image=True, ignore=255"))
    void_image = masked.copy()
    void_image[2] = IGNORE
    yield case("all_void_image_mean", {"y_pred": logits, "y_true": void_image},
               {"ignore_index": IGNORE, "reduction": "mean"}, reference_lovasz_hinge("mean", ignore_index=IGNORE),
               source=src.replace("per_image=True", "per_image=True, ignore=255"),
               note="image 2 fully void: 0 with a zero gradient, counted in the mean (as the reference)")
    empty = labels.copy()
    empty[1] = 0.0  # no foreground in image 1
    yield case("no_foreground_none", {"y_pred": logits, "y_true": empty}, {"reduction": "none"},
               reference_lovasz_hinge(), source=src, note="image 1 without foreground")
    flat = rng.normal(size=(4, 7)).astype(np.float32)
    flat_labels = (rng.random((4, 7)) > 0.5).astype(np.float32)
    yield case("rank2_none", {"y_pred": flat, "y_true": flat_labels}, {"reduction": "none"}, reference_lovasz_hinge(),
               source=src, note="[B, P]")
    yield case("large_logits_none", {"y_pred": logits * 1e3, "y_true": labels}, {"reduction": "none"},
               reference_lovasz_hinge(), source=src, note="logits ~1e3")
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_none", inputs, {"reduction": "none"}, reference_lovasz_hinge(), source=src, dtype=dtype)
        yield case(f"{dtype}_ignore_index_mean", {"y_pred": logits, "y_true": masked},
                   {"ignore_index": IGNORE, "reduction": "mean"}, reference_lovasz_hinge("mean", ignore_index=IGNORE),
                   source=src, dtype=dtype)
