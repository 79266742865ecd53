"""Poly-1 losses: cross entropy and focal loss plus the first polynomial term.

Leng et al., *PolyLoss: A Polynomial Expansion Perspective of Classification Loss
Functions*, ICLR 2022, https://arxiv.org/abs/2204.12511. The reference values of
the authors' TensorFlow code are reproduced in ``tests/test_seed_values.py``.

Every :math:`1 - p_t` is taken in log space (see :mod:`multiloss.core.focal`), so the
poly term is exact when :math:`p_t` rounds to 1 and its gradient stays finite.
"""

from __future__ import annotations

from multiloss.core.checks import check_reduction, check_scalar, check_static_scalar
from multiloss.core.common import as_float
from multiloss.core.focal_terms import (
    check_softmax_focal_params,
    sigmoid_focal_terms,
    softmax_focal_terms,
)
from multiloss.core.logspace import (
    log_one_minus_softmax,
    neg_log_prob,
    power,
    sigmoid_one_minus_pt,
)
from multiloss.core.reduction import reduce
from multiloss.core.registry import register
from multiloss.core.targets import categorical_targets

FOCAL_FORMS = ("sigmoid", "softmax")


@register(kind="per_example")
def poly1_cross_entropy(
    ops,
    y_pred,
    y_true,
    *,
    epsilon=1.0,
    label_smoothing=0.0,
    axis=-1,
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""Poly-1 cross entropy, Leng et al. 2022.

    .. math::

        \ell = -\sum_c q_c \log p_c + \varepsilon \sum_c q_c (1 - p_c),
        \qquad q = (1 - s)\, y + s / C, \quad p = \operatorname{softmax}(x)

    i.e. CE + ε·(1 − p_t) for one-hot targets, with the smoothed labels in both terms
    as the paper's code and optax do. :math:`1 - p_c = \sum_{k \ne c} p_k` is summed
    directly: exact when :math:`p_c` rounds to 1.

    Args:
        y_pred: logits, shape ``[..., C, ...]`` with the classes on ``axis``.
        y_true: integer class ids, shape of ``y_pred`` without ``axis``; or one-hot /
            class probabilities, shape of ``y_pred``.
        epsilon: ε, the coefficient of the poly-1 term, >= -1 (the paper's range:
            ``-1`` cancels the first polynomial term; it recommends 2 for ImageNet
            classification, -1 for detection).
        label_smoothing: s in [0, 1], a Python number (a tensor is refused); mixes the
            target with the uniform distribution.
        axis: the class axis of ``y_pred``.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without ``axis`` for ``reduction="none"``, else a scalar; in
        the dtype of ``y_pred``.

    References:
        Leng et al., *PolyLoss: A Polynomial Expansion Perspective of Classification Loss
        Functions*, ICLR 2022, https://arxiv.org/abs/2204.12511.

        Same numbers as ``optax.losses.poly_loss_cross_entropy(y_pred, q, epsilon=epsilon)``
        with ``q`` the (smoothed) one-hot targets, and as the authors'
        reference ``poly1_cross_entropy_tf``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([1, 2])
        >>> loss = poly1_cross_entropy(get_ops("jax"), y_pred, y_true, epsilon=1.0, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [2.8241, 0.3342]
    """
    check_reduction(reduction)
    check_scalar("epsilon", epsilon, low=-1.0)
    check_static_scalar("label_smoothing", label_smoothing, low=0.0, high=1.0)
    label_smoothing = float(label_smoothing)
    t = categorical_targets(
        ops, y_pred, y_true, axis=axis, where=where, sample_weight=sample_weight
    )
    t.check_smoothing(label_smoothing)
    if t.labels is not None:
        ce, one_minus_pt = t.true_terms()
    else:
        log_one_minus_p = log_one_minus_softmax(ops, t.log_probs)
        ce = ops.sum(t.target_probs * neg_log_prob(ops, t.log_probs, log_one_minus_p), axis=-1)
        one_minus_pt = ops.sum(t.target_probs * ops.exp(log_one_minus_p), axis=-1)
    if label_smoothing:
        # The uniform part: -mean_c log p_c, and sum_c (1 - p_c) / C = (C - 1) / C.
        smooth_ce = ops.logsumexp(t.scores, axis=-1) - ops.mean(t.scores, axis=-1)
        ce = (1.0 - label_smoothing) * ce + label_smoothing * smooth_ce
        num_classes = t.class_count()
        uniform = label_smoothing * (num_classes - 1) / num_classes
        one_minus_pt = (1.0 - label_smoothing) * one_minus_pt + uniform
    return reduce(ops, ce + epsilon * one_minus_pt, reduction, t.out_dtype, entries=t.entries)


@register(kind="elementwise")
def poly1_focal_loss(
    ops,
    y_pred,
    y_true,
    *,
    epsilon=1.0,
    alpha=0.25,
    gamma=2.0,
    focal="sigmoid",
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""Poly-1 focal loss, Leng et al. 2022, in the sigmoid or the softmax form.

    ``focal="sigmoid"`` (the paper's form, element-wise):

    .. math::

        \ell = \mathrm{FL}_\sigma(x, y) + \varepsilon\, (1 - p_t)^{\gamma + 1},
        \quad p_t = y\,\sigma(x) + (1 - y)(1 - \sigma(x))

    with :math:`\mathrm{FL}_\sigma` the :func:`sigmoid_focal_loss` (``alpha`` as there;
    the poly term is not α-weighted).

    ``focal="softmax"`` (the authors' reference implementation, per example):

    .. math::

        \ell = \mathrm{FL}_{\mathrm{softmax}}(x, y)
            + \frac{\varepsilon}{C} \sum_c (1 - p_{t,c})^{\gamma + 1},
        \quad p_{t,c} = y_c\,\sigma(x_c) + (1 - y_c)(1 - \sigma(x_c))

    with :math:`\mathrm{FL}_{\mathrm{softmax}}` the :func:`softmax_focal_loss` (``alpha``
    as there: a scalar multiplies every class, a vector ``[C]`` gives α of the true
    class) and the poly term on the per-class sigmoids. Every :math:`1 - p` is taken in
    log space: finite values and gradients for any finite logit.

    Args:
        y_pred: logits; any shape for ``"sigmoid"``, ``[..., C]`` (classes last) for
            ``"softmax"``.
        y_true: ``"sigmoid"``: targets in [0, 1], shape of ``y_pred``. ``"softmax"``:
            integer class ids ``[...]`` or one-hot / class probabilities ``[..., C]``.
        epsilon: ε, the coefficient of the poly-1 term, >= -1.
        alpha: α-balancing as in :func:`sigmoid_focal_loss` / :func:`softmax_focal_loss`
            (scalar, per-class vector, or ``None`` for none).
        gamma: focusing exponent, >= 0; the poly term uses γ + 1.
        focal: ``"sigmoid"`` (default) or ``"softmax"``.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``. ``"none"`` returns the
            element-wise loss (shape of ``y_pred``) for ``"sigmoid"`` and the per-example
            loss (``y_pred`` without the class axis) for ``"softmax"``; the registry
            records this loss as element-wise, the default form's shape.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        The unreduced loss described above for ``reduction="none"``, else a scalar; in
        the dtype of ``y_pred``.

    References:
        Leng et al., *PolyLoss: A Polynomial Expansion Perspective of Classification Loss
        Functions*, ICLR 2022, https://arxiv.org/abs/2204.12511.

        ``"sigmoid"``: ``torchvision.ops.sigmoid_focal_loss`` plus the poly term, as in the
        paper's code. ``"softmax"``: the numbers of the authors' reference ``poly1_focal_loss_tf`` /
        ``poly1_focal_loss_torch`` with ``alpha=[α, 1 − α, ..., 1 − α]`` (their focal loss
        clips p_t to [1e-7, 1 − 1e-7], so only away from saturation).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([1, 2])
        >>> loss = poly1_focal_loss(get_ops("jax"), y_pred, y_true, alpha=[0.25, 0.75, 0.75], focal="softmax", reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [1.465, 0.1818]
    """
    check_reduction(reduction)
    check_scalar("epsilon", epsilon, low=-1.0)
    if focal not in FOCAL_FORMS:
        raise ValueError(f"focal must be one of {FOCAL_FORMS}, got focal={focal!r}")
    if focal == "sigmoid":
        loss, one_minus_pt, out_dtype, chosen = sigmoid_focal_terms(
            ops, y_pred, y_true, alpha, gamma, True, where, sample_weight
        )
        poly = power(ops, one_minus_pt, gamma + 1.0)
        return reduce(ops, loss + epsilon * poly, reduction, out_dtype, entries=chosen)
    check_softmax_focal_params(alpha, gamma, y_pred, -1)
    t = categorical_targets(ops, y_pred, y_true, where=where, sample_weight=sample_weight)
    loss = softmax_focal_terms(ops, t, alpha, gamma)
    logits = as_float(ops, t.entries.hide(y_pred), t.dtype)
    one_minus_pt = sigmoid_one_minus_pt(ops, logits, t.one_hot(ops))
    poly = ops.mean(power(ops, one_minus_pt, gamma + 1.0), axis=-1)
    return reduce(ops, loss + epsilon * poly, reduction, t.out_dtype, entries=t.entries)
