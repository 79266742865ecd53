"""Sequence family: the connectionist temporal classification (CTC) loss, one value per
sequence, from the forward (alpha) recursion in log space written once with the ops
API (a ``scan`` over the time steps)."""

from __future__ import annotations

import numpy as np

from multiloss.core.checks import (
    check_int,
    check_labels_in_range,
    check_reduction,
    is_integer_dtype,
    static_shape,
    value_check_bounds,
)
from multiloss.core.common import as_float, compute_dtype
from multiloss.core.reduction import entries, reduce
from multiloss.core.registry import register


def _log_zero(dtype):
    """log 0 of the states no path reaches, in the compute dtype: half the most negative
    finite number, not ``-inf`` (three ``-inf`` meeting in a log-sum-exp give NaN
    gradients). Every state is clamped at it after each frame, so no sum of emissions
    pushes an unreachable state to ``-inf``; a reachable one lies far above it unless
    the loss itself is beyond half the dtype's range, where it is clamped (finite)."""
    return -0.5 * float(np.finfo(dtype).max)


def _lengths(ops, name, lengths, batch, full, what):
    """``lengths`` ``[B]`` as an int32 tensor, checked against ``[0, full]``; ``None`` stays
    ``None`` (every sequence of the full length)."""
    if lengths is None:
        return None
    lengths = ops.convert_to_tensor(lengths)
    shape = static_shape(lengths)
    if len(shape) != 1 or not (shape[0] is None or batch is None or shape[0] == batch):
        raise ValueError(
            f"{name} must have shape [B] = ({batch},) (one length per sequence), got "
            f"{name} of shape {shape}"
        )
    dtype = ops.dtype(lengths)
    if not is_integer_dtype(dtype):
        raise TypeError(f"{name} must hold integers, got {name} of dtype {dtype}")
    bounds = value_check_bounds(ops, lengths)
    if bounds is not None and (bounds[0] < 0 or (full is not None and bounds[1] > full)):
        bad = bounds[0] if bounds[0] < 0 else bounds[1]
        raise ValueError(
            f"{name} must lie in [0, {full}] ({what}), got a length of {bad} ({name} of "
            f"shape {shape})"
        )
    return lengths if dtype == "int32" else ops.cast(lengths, "int32")


def _check_shapes(pred_shape, label_shape):
    if len(pred_shape) != 3:
        raise ValueError(
            f"y_pred must be batch-major logits [B, T, C] (rank 3), got y_pred of shape "
            f"{pred_shape}"
        )
    if len(label_shape) != 2:
        raise ValueError(
            f"y_true must be padded integer labels [B, S] (rank 2), got y_true of shape "
            f"{label_shape}"
        )
    if None not in (pred_shape[0], label_shape[0]) and pred_shape[0] != label_shape[0]:
        raise ValueError(
            f"y_pred and y_true must have the same batch size, got y_pred of shape "
            f"{pred_shape} and y_true of shape {label_shape}"
        )


def _size(ops, x, shape, axis):
    """A dimension: static where known, else read at run time."""
    return shape[axis] if shape[axis] is not None else ops.shape(x)[axis]


@register(
    kind="per_row", class_name="CTCLoss",
    integer_args=("y_true", "pred_lengths", "label_lengths"),
    keras_optional=("pred_lengths", "label_lengths"),
)
def ctc_loss(
    ops, y_pred, y_true, pred_lengths, label_lengths, *, blank=0,
    where=None, sample_weight=None, reduction="mean",
):
    r"""Connectionist temporal classification loss, one value per sequence.

    The negative log-probability of the label sequence :math:`l` (length :math:`L`)
    summed over every alignment :math:`\pi` of the :math:`T_b` input frames that
    collapses to it (merge repeats, then drop blanks):

    .. math::

        \ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(l)} \prod_{t=1}^{T_b} p_t(\pi_t),
        \qquad p_t = \operatorname{softmax}(x_t)

    computed by the forward recursion over the extended labels :math:`l'` (blanks
    interleaved: :math:`2L + 1` states) in log space,

    .. math::

        \alpha_t(s) = \log p_t(l'_s) + \operatorname{logsumexp}\big(\alpha_{t-1}(s),
        \alpha_{t-1}(s-1),\ [l'_s \ne l'_{s-2}]\ \alpha_{t-1}(s-2)\big),
        \qquad \ell = -\operatorname{logsumexp}\big(\alpha_{T_b}(2L), \alpha_{T_b}(2L-1)\big)

    from :math:`\alpha_0 = \log [s = 0]` (before the first frame). Frames from
    ``pred_lengths`` on and labels from ``label_lengths`` on are padding: they are not
    read (NaN there never reaches the loss, and gets a zero gradient). log 0 is half
    the most negative finite number of the compute dtype and every state is clamped at
    it after each frame: exact for any loss below half the dtype's range (about 1.7e38
    in float32), finite (clamped there) beyond, never NaN for finite logits.

    A label sequence that no alignment fits (longer than its frames, counting the blank
    needed between equal neighbours: :math:`L + \#\{k : l_k = l_{k-1}\} > T_b`) has
    probability 0; its loss is **0 with a zero gradient** (torch's
    ``zero_infinity=True``), never ``inf`` or NaN. An empty label sequence
    (``label_lengths`` 0) is the all-blank path; with no frames either it is 0.

    Args:
        y_pred: logits, batch-major, shape ``[B, T, C]`` (``log_softmax`` is taken
            inside, over the classes). float16 and bfloat16 are computed in float32.
        y_true: padded integer labels ``[B, S]``, each in ``[0, C)`` (the blank is
            accepted as a label, as torch). Entries at or beyond a sequence's label
            length are not read (any padding value).
        pred_lengths: number of frames of each sequence, integers ``[B]`` in
            ``[0, T]``; ``None``: every sequence has ``T`` frames.
        label_lengths: number of labels of each sequence, integers ``[B]`` in
            ``[0, S]``; ``None``: the labels that are not the blank id, counted (``S``
            for a batch without padding; labels padded at the end with the blank id,
            as ``keras.losses.CTC`` with ``blank=0``).
        blank: class id of the blank, in ``[0, C)``.
        where: boolean mask ``[B]`` (or broadcastable to it): ``False`` sequences
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to ``[B]``; they multiply the
            per-sequence losses, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per sequence, shape ``[B]``), ``"mean"`` (the plain mean
            over sequences) or ``"sum"``. ``"global_mean"``: the mean over every
            data-parallel replica.

    Returns:
        Shape ``[B]`` for ``reduction="none"``, else a scalar; in the dtype of
        ``y_pred``.

    References:
        Graves, Fernández, Gomez & Schmidhuber, *Connectionist Temporal
        Classification: Labelling Unsegmented Sequence Data with Recurrent Neural
        Networks*, ICML 2006, https://doi.org/10.1145/1143844.1143891.

        Same numbers (values, and gradients for ``y_pred``) as
        ``torch.nn.functional.ctc_loss(log_softmax(y_pred, -1).transpose(0, 1), y_true,
        pred_lengths, label_lengths, blank, reduction="none", zero_infinity=True)``.
        torch's ``reduction="mean"`` first divides each loss by its label length; here
        ``"mean"`` is the plain mean over sequences (torch's ``"sum"`` / B). Also
        ``optax.losses.ctc_loss(y_pred, logit_paddings, y_true, label_paddings,
        blank_id=blank)`` (paddings = 1 − the length masks) and ``keras.ops.ctc_loss(y_true,
        y_pred, label_lengths, pred_lengths, mask_index=blank)`` for alignable sequences
        (they give about 1e5 instead of 0 for the others).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[[1.0, 2.0, 0.5], [2.0, 0.1, 1.0], [0.3, 1.5, 2.5]]], np.float32)
        >>> y_true = np.array([[1, 2]])
        >>> loss = ctc_loss(get_ops("jax"), y_pred, y_true, np.array([3]), np.array([2]),
        ...                 reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.7943]
    """
    check_reduction(reduction)
    blank = check_int("blank", blank)
    pred_shape, label_shape = static_shape(y_pred), static_shape(y_true)
    _check_shapes(pred_shape, label_shape)
    batch, steps, classes = pred_shape
    if blank < 0 or (classes is not None and blank >= classes):
        raise ValueError(
            f"blank must be a class id in [0, {classes}) (y_pred of shape {pred_shape}), "
            f"got blank={blank}"
        )
    batch = batch if batch is not None else label_shape[0]
    pred_lengths = _lengths(ops, "pred_lengths", pred_lengths, batch, steps, "T of y_pred")
    label_lengths = _lengths(
        ops, "label_lengths", label_lengths, batch, label_shape[1], "S of y_true"
    )
    labels = ops.convert_to_tensor(y_true)
    label_dtype = ops.dtype(labels)
    if label_dtype == "bool" or not (
        is_integer_dtype(label_dtype) or label_dtype.startswith(("float", "bfloat"))
    ):
        raise TypeError(f"y_true must hold integer labels, got y_true of dtype {label_dtype}")
    labels = ops.cast(labels, "int32")  # (integral floats, as Keras may feed them)
    num_labels = label_shape[1] if label_shape[1] is not None else ops.shape(labels)[1]
    position = ops.arange(num_labels, dtype="int32")
    if label_lengths is None:
        label_lengths = ops.sum(ops.cast(ops.not_equal(labels, blank), "int32"), axis=-1)
    is_label = ops.less(ops.expand_dims(position, 0), ops.expand_dims(label_lengths, -1))
    # the labels of each sequence, the padding read as blanks (never gathered out of range)
    labels = ops.where(is_label, labels, ops.full_like(labels, blank))
    check_labels_in_range(ops, "y_true", labels, classes)

    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = entries(ops, where, sample_weight, (batch,), dtype, "the per-sequence loss [B]")
    logits = chosen.hide(ops.convert_to_tensor(y_pred))
    frames = _size(ops, logits, pred_shape, 1)
    if pred_lengths is not None:  # padding frames: never read (NaN there stays out)
        is_frame = ops.less(
            ops.expand_dims(ops.arange(frames, dtype="int32"), 0),
            ops.expand_dims(pred_lengths, -1),
        )
        logits = ops.where(ops.expand_dims(is_frame, -1), logits, ops.zeros_like(logits))
    log_probs = ops.log_softmax(as_float(ops, logits, dtype), axis=-1)  # [B, T, C]

    # extended labels l' [B, 2S + 1]: blank, l_1, blank, l_2, ..., blank
    blanks = ops.full_like(labels, blank)
    extended = ops.reshape(ops.stack([blanks, labels], axis=-1), (-1, 2 * num_labels))
    extended = ops.concatenate([extended, blanks[:, :1]], axis=-1)
    before = ops.concatenate([extended[:, :2], extended[:, :-2]], axis=-1)  # l'_{s-2}
    skip = ops.not_equal(extended, before)  # (False for s < 2: l'_{s-2} is l'_s there)
    states = 2 * num_labels + 1
    index = ops.broadcast_to(
        ops.expand_dims(extended, 1), (ops.shape(extended)[0], frames, states)
    )
    emitted = ops.moveaxis(ops.take_along_axis(log_probs, index, axis=-1), 1, 0)  # [T, B, 2S+1]

    floor = _log_zero(dtype)
    log_zero = ops.full_like(emitted[0], floor)
    start = ops.where(
        ops.equal(ops.arange(states, dtype="int32"), 0), ops.zeros_like(log_zero), log_zero
    )
    pad = log_zero[:, :1]

    def step(alpha, inputs):
        emit, frame = inputs
        stay = alpha
        advance = ops.concatenate([pad, alpha[:, :-1]], axis=-1)
        jump = ops.where(skip, ops.concatenate([pad, pad, alpha[:, :-2]], axis=-1), log_zero)
        alpha_next = ops.logsumexp(ops.stack([stay, advance, jump]), axis=0) + emit
        alpha_next = ops.maximum(alpha_next, floor)  # (-inf emissions: logits beyond range)
        if frame is not None:
            alpha_next = ops.where(ops.expand_dims(frame, -1), alpha_next, alpha)
        return alpha_next, None

    if pred_lengths is None:
        alpha, _ = ops.scan(lambda a, e: step(a, (e, None)), start, emitted)
    else:
        alpha, _ = ops.scan(step, start, (emitted, ops.moveaxis(is_frame, 1, 0)))

    # the last state (final blank) and the one before it (the last label), if any
    last = ops.expand_dims(2 * label_lengths, -1)
    end_blank = ops.squeeze(ops.take_along_axis(alpha, last, axis=-1), -1)
    has_labels = ops.greater(label_lengths, 0)
    end_label = ops.squeeze(
        ops.take_along_axis(alpha, ops.maximum(last - 1, ops.zeros_like(last)), axis=-1), -1
    )
    end_label = ops.where(has_labels, end_label, ops.full_like(end_label, floor))
    peak = ops.stop_gradient(ops.maximum(end_blank, end_label))
    loss = -(peak + ops.log(ops.exp(end_blank - peak) + ops.exp(end_label - peak)))

    # alignable: L plus one blank between each pair of equal neighbours fits the frames
    repeats = ops.logical_and(
        ops.equal(labels[:, 1:], labels[:, :-1]), is_label[:, 1:]
    )
    needed = label_lengths + ops.sum(ops.cast(repeats, "int32"), axis=-1)
    available = frames if pred_lengths is None else pred_lengths
    alignable = ops.less_equal(needed, available)
    loss = ops.where(alignable, loss, ops.zeros_like(loss))
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)
