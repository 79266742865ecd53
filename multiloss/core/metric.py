"""Metric and contrastive learning: the triplet margin loss, the contrastive (pair)
loss, NT-Xent, the supervised contrastive loss and the CLIP loss.

The losses on batches of embeddings (NT-Xent, supervised contrastive, CLIP) normalise
the embeddings inside, with the norm floored as their peer floors it (and computed on
the rows scaled by their largest entry, so large norms do not overflow), and work in
log space on the similarity matrix / temperature: finite at temperature 0.01, for
large-norm and for zero embeddings.

``where`` and ``sample_weight`` of the batch losses act per anchor (per pair for CLIP):
a masked-out sample is still every other anchor's positive or negative (its embedding
is not hidden), as in :func:`~multiloss.core.circle.batch_circle_loss`.
"""

from __future__ import annotations

from typing import Any

from multiloss.core.checks import (
    check_flag,
    check_rank,
    check_reduction,
    check_same_shape,
    check_scalar,
    check_static_scalar,
    static_shape,
)
from multiloss.core.common import as_float, compute_dtype, masked_logsumexp, safe_divide
from multiloss.core.paired import check_positive, scalar_param
from multiloss.core.reduction import entries, reduce
from multiloss.core.registry import register

#: Machine epsilon per dtype (NT-Xent floors the squared norm at it, as optax).
_EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}

#: The norm floor of ``torch.nn.functional.normalize`` (its ``eps``).
_TORCH_NORM_EPS = 1e-12
#: float16 gradients cannot hold the 1/1e-12 of a zero embedding: float16 inputs floor
#: the norm at √ε(float16) = 2⁻⁵, as optax does for float16.
_FLOAT16_NORM_FLOOR = 2.0**-5


def _scaled_norm(ops: Any, x: Any, p: float = 2.0) -> Any:
    """The ``p``-norm of ``x`` over its last axis (``keepdims``), computed on ``x``
    divided by its largest absolute entry (held constant: the norm is homogeneous, so
    value and gradient are unchanged) so that no power overflows. Exactly 0, with a zero
    gradient, for a zero vector; NaN in ``x`` gives NaN."""
    size = ops.abs(x)
    top = ops.stop_gradient(ops.max(size, axis=-1, keepdims=True))
    nonzero = ops.not_equal(top, 0.0)  # NaN too: it must reach the result
    scale = ops.where(nonzero, top, ops.ones_like(top))
    if p == 2.0:
        total = ops.sum(ops.square(x / scale), axis=-1, keepdims=True)
    elif p == 1.0:
        total = ops.sum(size / scale, axis=-1, keepdims=True)
    else:
        scaled = size / scale
        present = ops.greater(scaled, 0.0)  # 0 ** p has no finite slope for p < 1
        powers = ops.power(ops.where(present, scaled, ops.ones_like(scaled)), p)
        total = ops.sum(ops.where(present, powers, ops.zeros_like(powers)), axis=-1, keepdims=True)
    total = ops.where(nonzero, total, ops.ones_like(total))  # >= 1 where nonzero
    if p == 2.0:
        root = ops.sqrt(total)
    elif p == 1.0:
        root = total
    else:
        root = ops.power(total, 1.0 / p)
    return ops.where(nonzero, scale * root, ops.zeros_like(root))


def _normalize(ops: Any, x: Any, floor: float) -> Any:
    """``x / max(‖x‖₂, floor)`` along the last axis (``torch.nn.functional.normalize``
    with ``eps=floor``; optax' cosine similarity with ``epsilon=floor²``)."""
    return x / ops.maximum(_scaled_norm(ops, x), floor)


def _torch_floor(input_dtype: str) -> float:
    return _FLOAT16_NORM_FLOOR if input_dtype == "float16" else _TORCH_NORM_EPS


def _embeddings_and_labels(
    ops: Any, embeddings: Any, labels: Any, what: str = "embeddings"
) -> tuple[Any, tuple, tuple]:
    """Check embeddings ``[B, D]`` and one label per row (``[B]`` or ``[B, 1]``);
    returns the labels as ``[B]`` and both static shapes."""
    emb_shape, label_shape = static_shape(embeddings), static_shape(labels)
    if len(emb_shape) != 2:
        raise ValueError(f"{what} must have shape [B, D], got {what} of shape {emb_shape}")
    if len(label_shape) == 2 and label_shape[1] == 1:
        labels = ops.squeeze(labels, -1)
        label_shape = label_shape[:1]
    if len(label_shape) != 1 or (
        None not in (label_shape[0], emb_shape[0]) and label_shape[0] != emb_shape[0]
    ):
        raise ValueError(
            f"labels must hold one label per row of {what}, shape [{emb_shape[0]}], got "
            f"labels of shape {label_shape} for {what} of shape {emb_shape}"
        )
    return labels, emb_shape, label_shape


def _pair_masks(ops: Any, labels: Any) -> tuple[Any, Any, Any]:
    """``(positive, negative, others)`` masks ``[B, B]``: the same label but another row,
    another label, and every row but the anchor itself."""
    labels = ops.convert_to_tensor(labels)
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    index = ops.cumsum(ops.ones_like(labels, dtype="int32")) - 1  # (a dynamic length too)
    others = ops.not_equal(ops.expand_dims(index, 1), ops.expand_dims(index, 0))
    return ops.logical_and(same, others), ops.logical_not(same), others


# --- triplets and pairs -------------------------------------------------------------------


@register(
    kind="per_row", integer_args=(), keras_packed=("anchor", "positive", "negative"),
)
def triplet_margin_loss(
    ops, anchor, positive, negative, *, margin=1.0, p=2.0, eps=1e-6, swap=False,
    where=None, sample_weight=None, reduction="mean",
):
    r"""Triplet margin loss, per triplet.

    .. math::

        \ell = \max\big(d(a, p) - d(a, n) + m,\ 0\big),
        \qquad d(x, y) = \lVert x - y + \varepsilon \rVert_p

    With ``swap=True`` the negative distance is :math:`\min(d(a, n), d(p, n))` (the
    distance swap of Balntas et al.). As torch, ε is added to the difference, so the
    distance of equal vectors is :math:`\varepsilon D^{1/p}` and its gradient finite.
    The norm is taken of the difference scaled by its largest entry: no power
    overflows, and a difference of exactly 0 has distance 0 with a zero gradient.

    Args:
        anchor: anchor embeddings, shape ``[..., D]`` (``[B, D]``).
        positive: embeddings of the anchors' class, same shape as ``anchor``.
        negative: embeddings of another class, same shape as ``anchor``.
        margin: the margin :math:`m` > 0 (a Python number or a scalar tensor).
        p: the norm degree, a Python number > 0.
        eps: ε >= 0 added to the differences.
        swap: use the distance swap.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per triplet, shape ``[...]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``anchor`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``anchor``.

    References:
        Balntas et al., *Learning local feature descriptors with triplets and
        shallow convolutional neural networks*, BMVC 2016,
        https://bmva-archive.org.uk/bmvc/2016/papers/paper119/abstract119.pdf; Schroff et al.,
        *FaceNet*, CVPR 2015, https://arxiv.org/abs/1503.03832.

        Same numbers (values, and gradients for all three inputs) as
        ``torch.nn.functional.triplet_margin_loss(anchor, positive, negative, margin, p,
        eps, swap, reduction="none")``; ``"mean"`` equals torch's ``"mean"``. The Keras
        class ``TripletMarginLoss`` reads ``concatenate([anchor, positive, negative],
        axis=-1)`` as its ``y_pred``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> anchor = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
        >>> positive = np.array([[0.9, 0.1], [0.2, 0.8]], np.float32)
        >>> negative = np.array([[0.0, 1.0], [0.1, 0.6]], np.float32)
        >>> loss = triplet_margin_loss(get_ops("jax"), anchor, positive, negative, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.0, 0.8705]
    """
    check_reduction(reduction)
    check_positive("margin", margin)  # > 0, as torch
    check_static_scalar("p", p)
    if float(p) <= 0.0:
        raise ValueError(f"p must be > 0 (a norm degree), got p={float(p)}")
    check_positive("eps", eps, allow_zero=True)
    check_flag("swap", swap)
    anchor_shape = static_shape(anchor)
    check_rank("anchor", anchor_shape, 1)
    check_same_shape("positive", static_shape(positive), "anchor", anchor_shape)
    check_same_shape("negative", static_shape(negative), "anchor", anchor_shape)
    dtype, out_dtype = compute_dtype(ops, anchor)
    chosen = entries(
        ops, where, sample_weight, anchor_shape[:-1], dtype, "anchor without its last axis"
    )
    a, pos, neg = (as_float(ops, chosen.hide(x), dtype) for x in (anchor, positive, negative))
    margin, eps, p = scalar_param(ops, margin, dtype), scalar_param(ops, eps, dtype), float(p)
    d_pos = ops.squeeze(_scaled_norm(ops, a - pos + eps, p), -1)
    d_neg = ops.squeeze(_scaled_norm(ops, a - neg + eps, p), -1)
    if swap:
        d_neg = ops.minimum(d_neg, ops.squeeze(_scaled_norm(ops, pos - neg + eps, p), -1))
    loss = ops.relu(margin + d_pos - d_neg)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


@register(kind="elementwise", integer_args=())
def contrastive_loss(
    ops, y_pred, y_true, *, margin=1.0, where=None, sample_weight=None, reduction="mean"
):
    r"""Contrastive loss of pair distances (Hadsell et al. 2006), per pair.

    .. math::

        \ell = y\, d^2 + (1 - y) \max(m - d, 0)^2

    Similar pairs (:math:`y = 1`) are pulled together, dissimilar pairs (:math:`y = 0`)
    pushed at least :math:`m` apart.

    Args:
        y_pred: distances between the two embeddings of each pair (e.g. Euclidean),
            any shape (``[B]``).
        y_true: pair labels, 1 for a similar pair and 0 for a dissimilar one, same
            shape as ``y_pred``.
        margin: the margin :math:`m` (a Python number or a scalar tensor).
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per pair, the shape of ``y_pred``), ``"mean"`` or
            ``"sum"``. ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` for ``reduction="none"``, else a scalar; in the dtype of
        ``y_pred``.

    References:
        Hadsell, Chopra & LeCun, *Dimensionality Reduction by Learning an Invariant
        Mapping*, CVPR 2006, https://doi.org/10.1109/CVPR.2006.100.

        Same numbers as TensorFlow Addons' ``tfa.losses.contrastive_loss(y_true, y_pred,
        margin)`` (archived; tested against its formula above in float64).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([0.3, 1.2, 0.5], np.float32)
        >>> y_true = np.array([1.0, 0.0, 0.0], np.float32)
        >>> loss = contrastive_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.09, 0.0, 0.25]
    """
    check_reduction(reduction)
    check_scalar("margin", margin)
    pred_shape = static_shape(y_pred)
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = entries(ops, where, sample_weight, pred_shape, dtype, "y_pred")
    distance = as_float(ops, chosen.hide(y_pred), dtype)
    label = as_float(ops, chosen.hide(y_true), dtype)
    margin = scalar_param(ops, margin, dtype)
    loss = label * ops.square(distance) + (1.0 - label) * ops.square(ops.relu(margin - distance))
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


# --- batches of embeddings ----------------------------------------------------------------


@register(
    kind="scalar", class_name="NTXentLoss", integer_args=("labels",),
    keras_order=("labels", "embeddings"),
)
def ntxent_loss(ops, embeddings, labels, *, temperature=0.07):
    r"""Normalized temperature-scaled cross entropy (NT-Xent), the mean over the
    positive pairs of a batch.

    With the cosine similarities :math:`s_{ij}`, every ordered pair :math:`(i, j)`,
    :math:`j \ne i`, of the same label is a positive pair; its loss is the cross
    entropy of the positive against the anchor's negatives (the rows of another
    label):

    .. math::

        \ell = \frac{1}{|P|} \sum_{(i, j) \in P}
        -\log \frac{e^{s_{ij}/\tau}}{e^{s_{ij}/\tau} + \sum_{k: y_k \ne y_i} e^{s_{ik}/\tau}}
        = \frac{1}{|P|} \sum_{(i, j) \in P}
        \operatorname{softplus}\big(\operatorname{LSE}_{k: y_k \ne y_i}(s_{ik}/\tau) - s_{ij}/\tau\big)

    computed in log space (finite at any temperature > 0). As optax, the embedding
    norms are floored at :math:`\sqrt{\epsilon}` of the input dtype (the squared norm
    at the dtype's machine epsilon). A batch without positive pairs gives 0 with a zero
    gradient (optax: NaN).

    Args:
        embeddings: embeddings, shape ``[B, D]`` (normalised here).
        labels: one label per embedding, shape ``[B]`` (or ``[B, 1]``): the rows of a
            label are views of one sample (``[0, 0, 1, 1]`` for two pairs).
        temperature: τ > 0 (a Python number or a scalar tensor).

    Returns:
        A scalar, in the dtype of ``embeddings``.

    References:
        Chen et al., *A Simple Framework for Contrastive Learning of Visual
        Representations* (SimCLR), ICML 2020, https://arxiv.org/abs/2002.05709.

        Same numbers (value and gradient) as ``optax.losses.ntxent(embeddings, labels,
        temperature)``. The Keras class ``NTXentLoss`` is called with ``(labels,
        embeddings)``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]], np.float32)
        >>> labels = np.array([0, 0, 1, 1])
        >>> loss = ntxent_loss(get_ops("jax"), embeddings, labels, temperature=0.5)
        >>> np.asarray(loss, np.float64).round(4).tolist()
        0.2965
    """
    check_positive("temperature", temperature)
    labels, _, _ = _embeddings_and_labels(ops, embeddings, labels)
    dtype, out_dtype = compute_dtype(ops, embeddings)
    floor = _EPS.get(ops.dtype(embeddings), _EPS["float32"]) ** 0.5
    unit = _normalize(ops, as_float(ops, embeddings, dtype), floor)
    logits = ops.matmul(unit, ops.transpose(unit)) / scalar_param(ops, temperature, dtype)
    positive, negative, _ = _pair_masks(ops, labels)
    negatives = ops.expand_dims(masked_logsumexp(ops, logits, negative), -1)
    pair = ops.softplus(negatives - logits)
    total = ops.sum(ops.where(positive, pair, ops.zeros_like(pair)))
    count = ops.sum(ops.cast(positive, dtype))
    loss = safe_divide(ops, total, count)
    return loss if ops.dtype(loss) == out_dtype else ops.cast(loss, out_dtype)


@register(kind="per_row", integer_args=("labels",), keras_order=("labels", "embeddings"))
def supervised_contrastive_loss(
    ops, embeddings, labels, *, temperature=0.1, where=None, sample_weight=None, reduction="mean"
):
    r"""Supervised contrastive loss (Khosla et al. 2020, :math:`\mathcal{L}^{sup}_{out}`),
    per anchor.

    Every row is an anchor; the other rows of its label are its positives
    :math:`P(i)`, and every other row :math:`A(i)` enters the denominator. On the
    L2-normalised embeddings :math:`z` (normalised here; gradients flow through the
    normalisation):

    .. math::

        \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
        \log \frac{e^{z_i \cdot z_p / \tau}}{\sum_{a \in A(i)} e^{z_i \cdot z_a / \tau}}
        = \operatorname{LSE}_{a \ne i}(z_i \cdot z_a / \tau)
        - \frac{1}{|P(i)|} \sum_{p \in P(i)} z_i \cdot z_p / \tau

    computed in log space (finite at any temperature > 0). An anchor without a positive
    gives 0 and is not counted by ``"mean"``. Norms are floored at 1e-12
    (``torch.nn.functional.normalize``; 2⁻⁵ for float16 inputs, whose gradients
    cannot hold 1e12).

    Args:
        embeddings: embeddings, shape ``[B, D]`` (normalised here).
        labels: integer labels, shape ``[B]`` (or ``[B, 1]``).
        temperature: τ > 0 (a Python number or a scalar tensor).
        where: boolean mask broadcastable to the unreduced loss ``[B]``: ``False``
            anchors contribute 0, get a zero gradient and are not counted by the mean
            (their sample is still the other anchors' positive or negative).
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per anchor, shape ``[B]``), ``"mean"`` (over the anchors
            with a positive; 0 when there are none) or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape ``[B]`` for ``reduction="none"``, else a scalar; in the dtype of
        ``embeddings``.

    References:
        Khosla et al., *Supervised Contrastive Learning*, NeurIPS 2020,
        https://arxiv.org/abs/2004.11362.

        Same numbers (values and gradients) as
        ``pytorch_metric_learning.losses.SupConLoss(temperature)(embeddings, labels)``
        (per anchor with ``reducer=DoNothingReducer()``). Two edge cases follow the paper
        instead: a batch with no negative at all (one label) gives the formula's values
        (pytorch-metric-learning returns 0), and ``"mean"`` counts every anchor with a
        positive (its ``AvgNonZeroReducer`` skips losses of exactly 0). The Keras class is
        called with ``(labels, embeddings)``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]], np.float32)
        >>> labels = np.array([0, 0, 1, 1])
        >>> loss = supervised_contrastive_loss(get_ops("jax"), embeddings, labels, temperature=0.5,
        ...                                    reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.2684, 0.3245, 0.2684, 0.3245]
    """
    check_reduction(reduction)
    check_positive("temperature", temperature)
    labels, emb_shape, label_shape = _embeddings_and_labels(ops, embeddings, labels)
    dtype, out_dtype = compute_dtype(ops, embeddings)
    chosen = entries(ops, where, sample_weight, label_shape, dtype, "labels (one value per anchor)")
    unit = _normalize(ops, as_float(ops, embeddings, dtype), _torch_floor(ops.dtype(embeddings)))
    logits = ops.matmul(unit, ops.transpose(unit)) / scalar_param(ops, temperature, dtype)
    positive, _, others = _pair_masks(ops, labels)
    count = ops.sum(ops.cast(positive, dtype), axis=-1)
    valid = ops.greater(count, 0.0)
    mean_positive = ops.sum(ops.where(positive, logits, ops.zeros_like(logits)), axis=-1) / (
        ops.where(valid, count, ops.ones_like(count))
    )
    loss = masked_logsumexp(ops, logits, others) - mean_positive
    return reduce(ops, loss, reduction, out_dtype, mask=valid, entries=chosen)


@register(
    kind="per_row", class_name="CLIPLoss", integer_args=(),
    keras_packed=("image_embeddings", "text_embeddings"),
)
def clip_loss(
    ops, image_embeddings, text_embeddings, *, temperature=1.0, normalize=True,
    where=None, sample_weight=None, reduction="mean",
):
    r"""CLIP's symmetric contrastive loss (Radford et al. 2021), per pair.

    With the (normalised) embeddings :math:`u_i` (image) and :math:`v_j` (text) of
    :math:`B` matching pairs and the logits :math:`L_{ij} = u_i \cdot v_j / \tau`, pair
    :math:`i` gets the mean of its image-to-text and text-to-image cross entropies
    against the diagonal:

    .. math::

        \ell_i = \tfrac12 \Big(\operatorname{LSE}_j L_{ij} - L_{ii}\Big)
               + \tfrac12 \Big(\operatorname{LSE}_j L_{ji} - L_{ii}\Big)

    so that ``"mean"`` is CLIP's ``(CE(L, arange(B)) + CE(Lᵀ, arange(B))) / 2``. Computed
    in log space (finite at any temperature > 0). Norms are floored at 1e-12
    (``torch.nn.functional.normalize``; 2⁻⁵ for float16 inputs, whose gradients cannot
    hold 1e12).

    Args:
        image_embeddings: image embeddings, shape ``[B, D]``.
        text_embeddings: the matching text embeddings, shape ``[B, D]`` (row ``i`` of
            both is pair ``i``).
        temperature: τ > 0 (a Python number or a scalar tensor, e.g. CLIP's learned
            ``1 / exp(logit_scale)``).
        normalize: L2-normalise both embeddings first (default). With ``False`` the
            logits are the plain dot products / τ.
        where: boolean mask broadcastable to the unreduced loss ``[B]``: ``False``
            pairs contribute 0, get a zero gradient and are not counted by the mean
            (their embeddings still enter the other pairs' softmax).
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per pair, shape ``[B]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape ``[B]`` for ``reduction="none"``, else a scalar; in the dtype of
        ``image_embeddings``.

    References:
        Radford et al., *Learning Transferable Visual Models From Natural Language
        Supervision*, ICML 2021, https://arxiv.org/abs/2103.00020.

        Same numbers (values and gradients) as the float64 torch formula
        ``(F.cross_entropy(L, t, reduction="none") + F.cross_entropy(L.T, t,
        reduction="none")) / 2`` with ``L = F.normalize(image) @ F.normalize(text).T /
        temperature`` and ``t = arange(B)`` (OpenCLIP's ``ClipLoss`` for ``"mean"``). The
        Keras class ``CLIPLoss`` reads ``concatenate([image_embeddings,
        text_embeddings], axis=-1)`` as its ``y_pred``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> image_embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)
        >>> text_embeddings = np.array([[0.9, 0.1], [0.2, 1.0], [0.5, 0.5]], np.float32)
        >>> loss = clip_loss(get_ops("jax"), image_embeddings, text_embeddings, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.7766, 0.8233, 0.9474]
    """
    check_reduction(reduction)
    check_positive("temperature", temperature)
    check_flag("normalize", normalize)
    image_shape = static_shape(image_embeddings)
    if len(image_shape) != 2:
        raise ValueError(
            f"image_embeddings must have shape [B, D], got image_embeddings of shape "
            f"{image_shape}"
        )
    check_same_shape(
        "text_embeddings", static_shape(text_embeddings), "image_embeddings", image_shape
    )
    dtype, out_dtype = compute_dtype(ops, image_embeddings)
    chosen = entries(
        ops, where, sample_weight, image_shape[:1], dtype, "one value per pair ([B])"
    )
    image = as_float(ops, image_embeddings, dtype)
    text = as_float(ops, text_embeddings, dtype)
    if normalize:
        floor = _torch_floor(ops.dtype(image_embeddings))
        image, text = _normalize(ops, image, floor), _normalize(ops, text, floor)
    logits = ops.matmul(image, ops.transpose(text)) / scalar_param(ops, temperature, dtype)
    index = ops.cumsum(ops.ones_like(logits[:, 0], dtype="int32")) - 1
    diagonal = ops.equal(ops.expand_dims(index, 1), ops.expand_dims(index, 0))
    matching = ops.sum(ops.where(diagonal, logits, ops.zeros_like(logits)), axis=-1)
    rows = ops.logsumexp(logits, axis=-1) - matching
    columns = ops.logsumexp(logits, axis=0) - matching
    loss = 0.5 * (rows + columns)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)
