"""Log-space helpers shared by the focal and poly-1 losses: ``1 − p`` and ``−log p``
without cancellation.

:math:`1 - p_t` is never computed as ``1 - p`` near 1: the sigmoid form takes
:math:`y\\,\\sigma(-x) + (1 - y)\\,\\sigma(x)` (two accurate sigmoid tails), the softmax
form the sum of the other probabilities (:meth:`Ops.softmax_target_terms
<multiloss.core.ops.base.Ops.softmax_target_terms>`; for probability targets
:math:`\\log(1 - p_c)` as ``log1p(-p)`` where ``p <= 1/2`` and, above, as the log of the
summed other probabilities). So :math:`1 - p_t` does not round to 0 at saturated
logits, and ``gamma < 1`` (0.5, 0.25, ...) keeps finite gradients there
(:func:`modulating_factor` floors it at the smallest normal float; the NaN of optax
#1267 and kornia #918).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_LN2 = 0.6931471805599453


def sigmoid_one_minus_pt(ops: Any, y_pred: Any, targets: Any, from_logits: bool = True) -> Any:
    """``1 − p_t = y·σ(−x) + (1 − y)·σ(x)`` for targets in [0, 1], any logit.

    An interpolation between two accurate sigmoid tails (:meth:`Ops.sigmoid_pair
    <multiloss.core.ops.base.Ops.sigmoid_pair>`, one ``exp`` per element where compiled),
    exact at hard labels (:meth:`~multiloss.core.ops.base.Ops.lerp`): no cancellation
    when ``p_t`` is close to 1. It reaches 0 only past |x| ≈ 103 (float32), where every
    loss term underflows anyway; powers of it below 1 go through
    :func:`modulating_factor`, which floors it for finite gradients.
    """
    if from_logits:
        p, q = ops.sigmoid_pair(y_pred)
    else:
        p, q = y_pred, 1.0 - y_pred
    return ops.lerp(p, q, targets)


def power(ops: Any, base: Any, exponent: Any) -> Any:
    """``base ** exponent`` for ``base >= 0`` (finite gradients for exponents >= 1, or
    integral; below 1 see :func:`modulating_factor`): a small integral Python exponent as
    repeated multiplication (no ``exp``/``log`` per element), any other as ``power``."""
    if _small_integer(exponent):
        result = None
        for _ in range(int(exponent)):
            result = base if result is None else result * base
        return ops.ones_like(base) if result is None else result
    return ops.power(base, exponent)


def _log_rest_mass(ops: Any, probs: Any) -> tuple[Any, Any]:
    """``(p > 1/2, log Σ_{p_k <= 1/2} p_k)`` for ``probs`` ``[..., C]``.

    At most one class per row has ``p > 1/2``; for it, ``1 − p = Σ_{k≠c} p_k`` is this
    sum of the small probabilities, exact however close ``p`` is to 1 (no ``1 − p``
    cancellation). A sum that underflows to 0 gives the most negative float.
    """
    is_top = ops.greater(probs, 0.5)
    rest = ops.sum(ops.where(is_top, 0.0, probs), axis=-1, keepdims=True)
    positive = ops.greater(rest, 0.0)
    log_rest = ops.log(ops.where(positive, rest, 1.0))
    return is_top, ops.where(positive, log_rest, np.finfo(ops.dtype(probs)).min)


def _log_one_minus(ops: Any, probs: Any, is_top: Any, log_rest: Any) -> Any:
    """``log(1 − p)``: ``log1p(−p)`` for ``p <= 1/2`` (exact there), else ``log_rest``."""
    small = ops.log1p(-ops.where(is_top, 0.0, probs))
    return ops.where(is_top, log_rest, small)


def log_one_minus_softmax(ops: Any, log_probs: Any) -> Any:
    """``log(1 − p_c)`` for every class ``c`` of ``log_probs`` ``[..., C]``, exact.

    ``log1p(−p_c)`` where ``p_c <= 1/2``; for the (at most one) class above 1/2, the log
    of the summed other probabilities, so ``1 − p_c`` never rounds to 0 while the
    others are representable: finite gradients at saturated logits.
    """
    probs = ops.exp(log_probs)
    is_top, log_rest = _log_rest_mass(ops, probs)
    return _log_one_minus(ops, probs, is_top, log_rest)


def neg_log_prob(ops: Any, log_prob: Any, log_one_minus_p: Any) -> Any:
    """``−log p``, exact also where ``log_softmax`` rounds ``log p`` to 0.

    For ``p > 1/2`` it is ``−log1p(−(1 − p))`` from the exact ``log(1 − p)``; else the
    log-probability itself. The unused branch gets a safe input (no NaN gradient).
    """
    near_one = ops.less(log_one_minus_p, -_LN2)
    safe = ops.where(near_one, log_one_minus_p, -1.0)
    return ops.where(near_one, -ops.log1p(-ops.exp(safe)), -log_prob)


def _small_integer(exponent: Any) -> bool:
    return (
        isinstance(exponent, (int, float))
        and not isinstance(exponent, bool)
        and float(exponent).is_integer()
        and 0 <= exponent <= 8
    )


def modulating_factor(ops: Any, one_minus_p: Any, gamma: Any) -> Any:
    """``(1 − p)^γ`` of an exact ``1 − p``: repeated multiplication for a small
    integral Python γ, else ``exp(γ · log(1 − p))`` with ``1 − p`` floored at the
    smallest normal float: finite gradients for every γ >= 0 (``γ < 1`` too), also
    where ``1 − p`` underflows to 0."""
    if _small_integer(gamma):
        return power(ops, one_minus_p, gamma)
    tiny = float(np.finfo(ops.dtype(one_minus_p)).tiny)
    return ops.exp(gamma * ops.log(ops.maximum(one_minus_p, tiny)))


def modulate(ops: Any, loss: Any, log_one_minus_p: Any, gamma: Any) -> Any:
    """``loss · (1 − p)^γ`` as ``loss · exp(γ · log(1 − p))``, finite for any γ >= 0."""
    return loss * ops.exp(gamma * log_one_minus_p)
