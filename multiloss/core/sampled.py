r"""Sampled losses for very large vocabularies: sampled softmax and NCE, with the
log-uniform (Zipfian) candidate sampler, matching TensorFlow's ``tf.nn`` versions.

One set of ``num_sampled`` candidate classes is drawn per batch; the logits of the
true and sampled classes have :math:`\log Q` (the log expected count of the class in
the sample) subtracted, sampled classes equal to a true label of the row ("accidental
hits") can be masked out, and the samples carry no gradient. Given the same
``sampled_values=(candidates, true_expected_count, sampled_expected_count)`` the
per-example results (and gradients) equal ``tf.nn.sampled_softmax_loss`` and
``tf.nn.nce_loss``; without it the candidates come from
:func:`log_uniform_candidate_sampler` with ``unique=True``, as in TensorFlow.

Randomness uses the framework's own generator with ``seed`` (an int, or ``None``
for the global generator of TensorFlow or torch; JAX has none). An int seed always gives the same samples: under
``jax.jit`` (or ``tf.function``) a fixed int seed gives fixed candidates at every
step, so pass ``sampled_values`` drawn outside the jitted function, or a fresh seed per
step (JAX cannot draw from a global generator inside ``jit``).

Class ids (``labels``, the candidates of ``sampled_values``, the sampler's
``true_classes``) may have any integer dtype and must lie in ``[0, num_classes)``:
eager calls raise a ``ValueError`` naming the argument otherwise, before any arithmetic,
as :func:`multiloss.set_label_check` says (as ``y_true`` of the cross-entropies);
traced calls (``jax.jit``, ``tf.function``, ``torch.compile``) are not checked, since a
compiled graph cannot raise. TensorFlow gathers out-of-range ids with an error (zeros
on GPU) and rejects uint8/int8 labels.

Unlike TensorFlow's rejection sampler (``unique=True`` cannot be XLA-compiled,
tensorflow#32240) the sampler here compiles under ``jax.jit`` and
``tf.function(jit_compile=True)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from multiloss.core.checks import check_labels_in_range, check_static_scalar, static_shape
from multiloss.core.common import MASKED_LOGIT, as_float, compute_dtype
from multiloss.core.registry import register


def _static_int(ops: Any, name: str, value: Any, *, low: int = 1) -> int:
    """A Python int from an int or a concrete integer scalar tensor, checked ``>= low``."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an int, got {name}={value!r}")
    if isinstance(value, (int, np.integer)):
        result = int(value)
    else:
        if isinstance(value, float) or not hasattr(value, "dtype"):
            raise ValueError(f"{name} must be an int, got {name}={value!r}")
        array = ops.eager_value(value)
        if array is None:
            raise ValueError(
                f"{name} must be a Python int or a concrete (not traced) integer scalar; "
                f"got a traced tensor"
            )
        array = np.asarray(array)
        if array.shape != () or array.dtype.kind not in "iu":
            raise ValueError(
                f"{name} must be an integer scalar, got dtype {array.dtype} shape {array.shape}"
            )
        result = int(array)
    if result < low:
        raise ValueError(f"{name} must be >= {low}, got {name}={result}")
    return result


def _static_bool(ops: Any, name: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if hasattr(value, "dtype"):
        array = ops.eager_value(value)
        if array is not None and np.asarray(array).shape == () and np.asarray(array).dtype == bool:
            return bool(array)
    raise ValueError(f"{name} must be a Python bool, got {name}={value!r}")


def _check_seed(seed: Any) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed must be an int or None, got seed={seed!r}")


def _check_int_tensor(ops: Any, name: str, x: Any) -> Any:
    x = ops.convert_to_tensor(x)
    dtype = ops.dtype(x)
    if not (dtype.startswith("int") or dtype.startswith("uint")):
        raise ValueError(f"{name} must hold integer class ids, got dtype {dtype}")
    return x


def _id_dtype(ops: Any, *ids: Any) -> str:
    """One integer dtype that holds the class ids of every tensor in ``ids``.

    Class ids are gathered and compared in it: a narrow label dtype (uint8, int8)
    cannot hold every candidate id (261 as uint8 is 5) and is no gather index in
    TensorFlow. The widest of the framework's index dtypes of ``ids`` (int64, or int32
    on JAX without x64).
    """
    dtypes = [ops.index_dtype(x) for x in ids]
    return "int64" if "int64" in dtypes else dtypes[0]


def _as_ids(ops: Any, x: Any, dtype: str) -> Any:
    return x if ops.dtype(x) == dtype else ops.cast(x, dtype)


def _log_uniform_probability(ops: Any, classes: Any, range_max: int) -> Any:
    """P(k) = log1p(1 / (k + 1)) / log1p(range_max), in float32.

    The same number as ``(log(k + 2) - log(k + 1)) / log(range_max + 1)``, to a few
    float32 ulps for every class, where that difference of two nearly equal float32
    logs loses about ``(k + 1) * log(k + 1)`` ulps (a relative error of 4.5e-4 near
    ``k = 1000``; meaningless, 0 for some classes, near ``k = 10**7``). ``k + 1`` is
    exact in float32 up to 2**24 and ``1 / (k + 1)`` is correctly rounded, so ``log1p``
    of it is accurate to its own rounding; the constant ``1 / log1p(range_max)`` is
    taken in float64 (in Python). TensorFlow computes P(k) in float64 and rounds it once
    to float32: the two agree to a few 1e-7 (relative) for every class.
    """
    k = ops.cast(classes, "float32")
    return ops.log1p(1.0 / (k + 1.0)) * (1.0 / math.log1p(range_max))


@register(
    kind="transform",
    class_name=None,
    integer_args=("true_classes",),
    static=("num_true", "num_sampled", "unique", "range_max"),
)
def log_uniform_candidate_sampler(
    ops, true_classes, num_true, num_sampled, unique, range_max, *, seed=None
):
    r"""Sample classes from the log-uniform (Zipfian) distribution over ``[0, range_max)``.

    .. math::

        P(k) = \frac{\log(k + 2) - \log(k + 1)}{\log(\mathrm{range\_max} + 1)}
             = \frac{\operatorname{log1p}(1 / (k + 1))}{\operatorname{log1p}(\mathrm{range\_max})}

    (class ids ordered by decreasing frequency), computed in float32 in the second form:
    relative error at most a few 1e-7 for every class up to ``range_max = 10**7``, as
    TensorFlow's (the difference of logs would lose up to 4.5e-4 at ``range_max = 1000``).
    The expected count of a class in the sample is :math:`S \cdot P(k)` for
    ``unique=False`` (``S = num_sampled`` draws with replacement) and
    :math:`1 - (1 - P(k))^{T}` for ``unique=True``, where :math:`T` is the number of
    draws with replacement needed to collect ``S`` distinct classes (TensorFlow's
    formula, ``-expm1(T * log1p(-P(k)))`` in float32; :math:`S \cdot P(k)` when
    :math:`T = S`, which can exceed 1, as in TensorFlow).

    How it relates to ``tf.random.log_uniform_candidate_sampler``: ``unique=False``
    draws ``S`` classes with replacement by inverting the CDF
    (:math:`k = \lfloor (\mathrm{range\_max} + 1)^U \rfloor - 1`, as TensorFlow does) and
    its expected counts are exactly TensorFlow's. TensorFlow's ``unique=True`` is a
    rejection sampler (draw with replacement until ``S`` distinct classes appear) that
    XLA cannot compile (tensorflow#32240). Here the distinct classes are drawn without
    replacement by the Gumbel-top-k trick on :math:`\log P` over all ``range_max``
    classes, which gives exactly the distribution of TensorFlow's sequence of first
    appearances; the number of tries :math:`T` TensorFlow would have needed is then
    drawn from its exact conditional law, :math:`T = S + \sum_{i=1}^{S-1} G_i`, with
    independent geometric :math:`G_i` (repeats before the next new class) of repeat
    probability :math:`F_i = \sum_{j \le i} P(c_j)`. So candidates and expected counts
    have the same joint distribution as TensorFlow's (not the same numbers for a given
    seed), with fixed shapes that jit under ``jax.jit`` and
    ``tf.function(jit_compile=True)``. ``unique=True`` costs O(range_max) work and
    memory per call (fine up to a few million classes); ``unique=False`` costs
    O(num_sampled).

    Args:
        true_classes: integer class ids ``[batch, num_true]`` in ``[0, range_max)``
            (only used for their expected counts; checked as the losses' ``labels``).
        num_true: the number of true classes per row (an int).
        num_sampled: ``S``, the number of classes to draw (an int; at most
            ``range_max`` when ``unique``).
        unique: whether the sampled classes are distinct (a bool).
        range_max: the number of classes (an int).
        seed: an int for a reproducible draw, or ``None`` (TensorFlow's and torch's
            global generators; in JAX a seed drawn at call time, fixed once traced:
            under ``jax.jit`` pass a fresh int per step or ``sampled_values``).

    Returns:
        ``(sampled_candidates, true_expected_count, sampled_expected_count)``:
        int64 (int32 on JAX without x64) class ids ``[num_sampled]``, float32
        ``[batch, num_true]`` and float32 ``[num_sampled]``.

    References:
        Jean et al., *On Using Very Large Target Vocabulary for Neural Machine
        Translation*, https://arxiv.org/abs/1412.2007 (sampled softmax with this proposal
        distribution).

        Same numbers (in distribution) as ``tf.random.log_uniform_candidate_sampler(
        true_classes, num_true, num_sampled, unique, range_max, seed=seed)``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> true_classes = np.array([[0], [3]])
        >>> sampled = log_uniform_candidate_sampler(get_ops("jax"), true_classes, 1, 4, False, 10)
        >>> np.asarray(sampled[1], np.float64).round(4).tolist()
        [[1.1563], [0.3722]]
    """
    return _log_uniform_sample(
        ops, true_classes, num_true, num_sampled, unique, range_max, seed, check_range=True
    )


def _log_uniform_sample(
    ops, true_classes, num_true, num_sampled, unique, range_max, seed, *, check_range
):
    """:func:`log_uniform_candidate_sampler`; ``check_range=False`` when the caller has
    already checked ``true_classes`` to lie in ``[0, range_max)``."""
    num_true = _static_int(ops, "num_true", num_true)
    num_sampled = _static_int(ops, "num_sampled", num_sampled)
    range_max = _static_int(ops, "range_max", range_max)
    unique = _static_bool(ops, "unique", unique)
    _check_seed(seed)
    true_classes = _check_int_tensor(ops, "true_classes", true_classes)
    shape = static_shape(true_classes)
    if len(shape) != 2 or (shape[1] is not None and shape[1] != num_true):
        raise ValueError(
            f"true_classes must have shape [batch, num_true={num_true}], got shape {shape}"
        )
    if unique and num_sampled > range_max:
        raise ValueError(
            f"num_sampled must be <= range_max when unique=True, got num_sampled="
            f"{num_sampled}, range_max={range_max}"
        )
    if check_range:
        check_labels_in_range(ops, "true_classes", true_classes, range_max)
    seed = None if seed is None else int(seed)
    id_dtype = ops.index_dtype(true_classes)
    if unique:
        uniform = ops.seeded_uniform(range_max + max(num_sampled - 1, 1), seed)
        tiny = 1e-30
        u_gumbel = ops.clip(uniform[:range_max], tiny, 1.0)
        gumbel = -ops.log(-ops.log(u_gumbel) + tiny)
        log_p = ops.log(_log_uniform_probability(ops, ops.arange(range_max), range_max))
        _, indices = ops.top_k(log_p + gumbel, num_sampled)
        candidates = ops.cast(indices, id_dtype)
        p_sampled = _log_uniform_probability(ops, candidates, range_max)
        if num_sampled > 1:
            # repeats before the (i+1)-th new class: Geometric with repeat prob F_i.
            repeat = ops.minimum(ops.cumsum(p_sampled)[: num_sampled - 1], 1.0 - 1e-7)
            u_geom = ops.clip(uniform[range_max:], tiny, 1.0)
            repeats = ops.floor(ops.log(u_geom) / ops.log(repeat))
            num_tries = float(num_sampled) + ops.sum(repeats)
        else:
            num_tries = ops.convert_to_tensor(float(num_sampled), dtype="float32")

        def expected(p):
            exact = -ops.expm1(num_tries * ops.log1p(-p))
            return ops.where(ops.equal(num_tries, float(num_sampled)), p * num_sampled, exact)

    else:
        uniform = ops.seeded_uniform(num_sampled, seed)
        # Inverse CDF: P(value < k) = log(k + 1) / log(range_max + 1).
        value = ops.floor(ops.exp(uniform * math.log(range_max + 1.0))) - 1.0
        value = ops.clip(value, 0.0, float(range_max - 1))
        candidates = ops.cast(value, id_dtype)

        def expected(p):
            return p * num_sampled

    true_expected = expected(_log_uniform_probability(ops, true_classes, range_max))
    sampled_expected = expected(_log_uniform_probability(ops, candidates, range_max))
    return (
        ops.stop_gradient(candidates),
        ops.stop_gradient(true_expected),
        ops.stop_gradient(sampled_expected),
    )


def _sampled_logits(
    ops, name, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
    sampled_values, remove_accidental_hits, seed, *, with_kept=False,
):
    """TF's ``_compute_sampled_logits``: ``(logits [B, T + S], labels [B, T + S],
    out_dtype, kept)``; with ``with_kept`` and ``remove_accidental_hits``, ``kept``
    ``[B, T + S]`` is 1 where the candidate is kept and 0 where it was removed as an
    accidental hit, else ``None``."""
    num_sampled = _static_int(ops, "num_sampled", num_sampled)
    num_classes = _static_int(ops, "num_classes", num_classes)
    num_true = _static_int(ops, "num_true", num_true)
    if not isinstance(remove_accidental_hits, (bool, np.bool_)):
        raise ValueError(
            f"remove_accidental_hits must be a bool, got {remove_accidental_hits!r}"
        )
    _check_seed(seed)
    if isinstance(weights, (list, tuple)):
        raise TypeError(
            f"{name}: weights must be one [num_classes, dim] tensor, got a {type(weights).__name__} "
            f"of {len(weights)} shards (TensorFlow's partitioned variables). Join them in "
            "class order first: tf.nn's default partition_strategy='mod' puts class i in "
            "shard i % n (row i // n), 'div' in contiguous blocks (a plain concatenation)"
        )
    weights = ops.convert_to_tensor(weights)
    inputs = ops.convert_to_tensor(inputs)
    biases = ops.convert_to_tensor(biases)
    labels = _check_int_tensor(ops, "labels", labels)
    w_shape, b_shape = static_shape(weights), static_shape(biases)
    l_shape, x_shape = static_shape(labels), static_shape(inputs)
    if len(w_shape) != 2:
        raise ValueError(f"{name}: weights must have shape [num_classes, dim], got shape {w_shape}")
    if len(b_shape) != 1:
        raise ValueError(f"{name}: biases must have shape [num_classes], got shape {b_shape}")
    if len(x_shape) != 2:
        raise ValueError(f"{name}: inputs must have shape [batch, dim], got shape {x_shape}")
    if None not in (w_shape[0], b_shape[0]) and w_shape[0] != b_shape[0]:
        raise ValueError(
            f"{name}: weights {w_shape} and biases {b_shape} must have the same number of classes"
        )
    if None not in (w_shape[1], x_shape[1]) and w_shape[1] != x_shape[1]:
        raise ValueError(
            f"{name}: weights {w_shape} and inputs {x_shape} must have the same dim"
        )
    if w_shape[0] is not None and w_shape[0] < num_classes:
        raise ValueError(
            f"{name}: weights has {w_shape[0]} rows, fewer than num_classes={num_classes}"
        )
    if len(l_shape) == 1 and num_true == 1:
        labels = ops.expand_dims(labels, -1)
        l_shape = l_shape + (1,)
    if len(l_shape) != 2 or (l_shape[1] is not None and l_shape[1] != num_true):
        raise ValueError(
            f"{name}: labels must have shape [batch, num_true={num_true}], got shape {l_shape}"
        )
    if None not in (l_shape[0], x_shape[0]) and l_shape[0] != x_shape[0]:
        raise ValueError(
            f"{name}: labels {l_shape} and inputs {x_shape} must have the same batch size"
        )

    # Class ids outside [0, num_classes) would gather out of range (an IndexError in
    # torch, an error in TF, NaN in JAX) or, negative, wrap to the last classes.
    check_labels_in_range(ops, "labels", labels, num_classes)

    drawn = sampled_values is None
    if not drawn:
        if not isinstance(sampled_values, (tuple, list)) or len(sampled_values) != 3:
            raise ValueError(
                f"{name}: sampled_values must be a tuple (sampled_candidates, "
                f"true_expected_count, sampled_expected_count), "
                f"got {type(sampled_values).__name__}"
            )
        sampled, true_expected, sampled_expected = sampled_values
        sampled = _check_int_tensor(ops, "sampled_values[0] (sampled_candidates)", sampled)
        s_shape = static_shape(sampled)
        if s_shape != (num_sampled,) and not (len(s_shape) == 1 and s_shape[0] is None):
            raise ValueError(
                f"{name}: sampled_candidates must have shape [num_sampled={num_sampled}], "
                f"got shape {s_shape}"
            )
        check_labels_in_range(
            ops, "sampled_values[0] (sampled_candidates)", sampled, num_classes
        )
        id_dtype = _id_dtype(ops, labels, sampled)
    else:
        id_dtype = _id_dtype(ops, labels)
    # Ids are gathered and compared in one wide integer dtype, never the labels' own.
    labels = _as_ids(ops, labels, id_dtype)
    if drawn:
        sampled, true_expected, sampled_expected = _log_uniform_sample(
            ops, labels, num_true, num_sampled, True, num_classes, seed, check_range=False
        )
    sampled = _as_ids(ops, sampled, id_dtype)
    true_expected = ops.convert_to_tensor(true_expected)
    sampled_expected = ops.convert_to_tensor(sampled_expected)
    te_shape, se_shape = static_shape(true_expected), static_shape(sampled_expected)
    if len(te_shape) != 2 or (te_shape[1] is not None and te_shape[1] != num_true):
        raise ValueError(
            f"{name}: true_expected_count must have shape [batch, num_true={num_true}], "
            f"got shape {te_shape}"
        )
    if len(se_shape) != 1 or (se_shape[0] is not None and se_shape[0] != num_sampled):
        raise ValueError(
            f"{name}: sampled_expected_count must have shape [num_sampled={num_sampled}], "
            f"got shape {se_shape}"
        )

    dtype, out_dtype = compute_dtype(ops, inputs)
    weights = as_float(ops, weights, dtype)
    biases = as_float(ops, biases, dtype)
    inputs = as_float(ops, inputs, dtype)
    sampled = ops.stop_gradient(sampled)
    true_expected = ops.stop_gradient(as_float(ops, true_expected, dtype))
    sampled_expected = ops.stop_gradient(as_float(ops, sampled_expected, dtype))

    # True logits: <inputs_b, w_{l_bt}> + b_{l_bt}.
    true_w = ops.take(weights, labels, axis=0)  # [B, T, D]
    true_b = ops.take(biases, labels, axis=0)  # [B, T]
    true_logits = ops.sum(ops.expand_dims(inputs, 1) * true_w, axis=-1) + true_b
    # Sampled logits: one candidate set for the whole batch.
    sampled_w = ops.take(weights, sampled, axis=0)  # [S, D]
    sampled_b = ops.take(biases, sampled, axis=0)  # [S]
    sampled_logits = ops.matmul(inputs, ops.transpose(sampled_w)) + sampled_b
    true_logits = true_logits - ops.log(true_expected)
    sampled_logits = sampled_logits - ops.log(sampled_expected)
    kept = None
    if remove_accidental_hits:
        hits = ops.any(
            ops.equal(
                ops.expand_dims(labels, -1),
                ops.reshape(sampled, (1, 1, -1)),
            ),
            axis=1,
        )  # [B, S]
        # TensorFlow adds -FLOAT_MAX to accidental hits; a finite logit far below any
        # other gives the same (zero) probability and keeps every gradient finite
        sampled_logits = ops.where(
            hits, ops.full_like(sampled_logits, MASKED_LOGIT), sampled_logits
        )
    if remove_accidental_hits and with_kept:
        kept = ops.concatenate(
            [ops.ones_like(true_logits),
             ops.where(hits, ops.zeros_like(sampled_logits), ops.ones_like(sampled_logits))],
            axis=1,
        )
    logits = ops.concatenate([true_logits, sampled_logits], axis=1)
    targets = ops.concatenate(
        [ops.ones_like(true_logits) / float(num_true), ops.zeros_like(sampled_logits)], axis=1
    )
    return logits, targets, out_dtype, kept


@register(
    kind="per_row",
    class_name=None,
    integer_args=("labels",),
    static=("num_sampled", "num_classes"),
)
def sampled_softmax_loss(
    ops, weights, biases, labels, inputs, num_sampled, num_classes, *,
    num_true=1, sampled_values=None, remove_accidental_hits=True, seed=None,
    label_smoothing=0.0,
):
    r"""Sampled softmax: the softmax cross-entropy over the true and sampled classes only.

    .. math::

        z_c = x^\top w_c + b_c - \log Q(c), \qquad
        \ell = -\sum_{t=1}^{T} \frac{1}{T}
            \log \frac{e^{z_{y_t}}}{\sum_{t'} e^{z_{y_{t'}}} + \sum_{s=1}^{S} e^{z_{c_s}}}

    for one example :math:`x` with true classes :math:`y_1..y_T` and the batch's sampled
    classes :math:`c_1..c_S`, :math:`Q(c)` the expected count of :math:`c` in the sample
    (``sampled_values``); sampled classes that are true classes of the row are masked
    out when ``remove_accidental_hits``. An unbiased-in-the-limit estimate of the full
    softmax cross-entropy over ``num_classes`` classes, for training only.

    With ``label_smoothing`` :math:`\varepsilon > 0` the targets over the row's
    :math:`T + S` candidates (true classes first) are smoothed towards the uniform
    distribution over the candidates that were not removed as accidental hits:

    .. math::

        q_j = (1 - \varepsilon)\,\frac{[j \le T]}{T} + \frac{\varepsilon}{n}\,[j \text{ kept}],
        \qquad \ell = -\sum_{j=1}^{T+S} q_j \log \operatorname{softmax}(z)_j,

    :math:`n = T + S - H` with :math:`H` the number of accidental hits removed from the
    row (:math:`H = 0` without ``remove_accidental_hits``); the log-Q correction and
    the masking come first, as above. The log-softmax is taken directly (no log of a
    probability); a removed hit has target 0 and its masked (large negative, finite)
    logit contributes exactly 0, so the loss and its gradients stay finite.
    :math:`\varepsilon = 0` is TensorFlow's loss (the very same computation). With
    :math:`\varepsilon > 0` the loss is smallest at finite logit gaps (where the softmax
    equals :math:`q`) instead of pushing the true logits up without end, which helps when
    each positive meets many negatives (1:199, say).

    One difference from TensorFlow: a class listed twice among the candidates (possible
    with ``unique=False`` samples) is masked at every position here; TensorFlow's
    ``compute_accidental_hits`` masks only one of them.

    Args:
        weights: class embeddings ``[num_classes, dim]``, one tensor (a list of shards,
            as TensorFlow's partitioned variables, is refused: join them in class order).
        biases: class biases ``[num_classes]``.
        labels: true class ids ``[batch, num_true]`` (``[batch]`` when
            ``num_true=1``) in ``[0, num_classes)``, of any integer dtype (uint8 to
            int64; ids are gathered and compared with the candidates in int64, int32
            on JAX without x64, never in the labels' dtype).
        inputs: the activations ``[batch, dim]``.
        num_sampled: ``S``, the number of sampled classes per batch (an int).
        num_classes: the number of classes (an int).
        num_true: ``T``, true classes per example; each gets target weight 1/T.
        sampled_values: ``(sampled_candidates [S], true_expected_count [batch, T],
            sampled_expected_count [S])``, the candidates integer class ids in
            ``[0, num_classes)`` of any integer dtype; ``None`` draws them with
            :func:`log_uniform_candidate_sampler` (``unique=True``). Carries no gradient.
        remove_accidental_hits: mask sampled classes equal to a true class of the row.
        seed: int or ``None``, for the sampler (ignored with ``sampled_values``).
        label_smoothing: :math:`\varepsilon`, a Python float in ``[0, 1]`` (a
            ``ValueError`` naming it otherwise; a tensor is a ``TypeError``, as in
            :func:`cross_entropy`): the weight of the uniform target over the row's kept
            candidates.

    Returns:
        The per-example loss ``[batch]`` in the dtype of ``inputs`` (half precision
        computed in float32).

    References:
        Jean et al., *On Using Very Large Target Vocabulary for Neural Machine
        Translation*, 2015, https://arxiv.org/abs/1412.2007.

        With ``label_smoothing=0``, same numbers as ``tf.nn.sampled_softmax_loss(weights,
        biases, labels, inputs, num_sampled, num_classes, num_true=num_true,
        sampled_values=sampled_values, remove_accidental_hits=remove_accidental_hits,
        seed=seed)``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> weights = np.array([[0.1, 0.2], [0.3, -0.1], [-0.2, 0.4], [0.5, 0.0]], np.float32)
        >>> biases = np.array([0.0, 0.1, -0.1, 0.2], np.float32)
        >>> labels = np.array([[1], [3]])
        >>> inputs = np.array([[1.0, 0.5], [-0.5, 1.0]], np.float32)
        >>> sampled = (np.array([0, 2]), np.array([[0.5], [0.3]], np.float32),
        ...            np.array([0.6, 0.4], np.float32))
        >>> loss = sampled_softmax_loss(get_ops("jax"), weights, biases, labels, inputs, 2, 4,
        ...                             sampled_values=sampled)
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.922, 1.0249]
    """
    check_static_scalar("label_smoothing", label_smoothing, low=0.0, high=1.0)
    label_smoothing = float(label_smoothing)
    logits, targets, out_dtype, kept = _sampled_logits(
        ops, "sampled_softmax_loss", weights, biases, labels, inputs, num_sampled,
        num_classes, num_true, sampled_values, remove_accidental_hits, seed,
        with_kept=label_smoothing > 0.0,
    )
    if label_smoothing > 0.0:
        if kept is None:  # every candidate kept: n = T + S
            candidates = _static_int(ops, "num_true", num_true) + _static_int(
                ops, "num_sampled", num_sampled
            )
            uniform = ops.ones_like(targets) / float(candidates)
        else:  # n = T + S - H >= T >= 1, per row
            uniform = kept / ops.sum(kept, axis=-1, keepdims=True)
        targets = (1.0 - label_smoothing) * targets + label_smoothing * uniform
    # Removed hits: target 0 times a finite log-softmax (-1e30 - lse), exactly 0.
    loss = -ops.sum(targets * ops.log_softmax(logits, axis=-1), axis=-1)
    return loss if ops.dtype(loss) == out_dtype else ops.cast(loss, out_dtype)


@register(
    kind="per_row",
    class_name=None,
    integer_args=("labels",),
    static=("num_sampled", "num_classes"),
)
def nce_loss(
    ops, weights, biases, labels, inputs, num_sampled, num_classes, *,
    num_true=1, sampled_values=None, remove_accidental_hits=False, seed=None,
):
    r"""Noise-contrastive estimation: logistic regression of true against sampled classes.

    .. math::

        z_c = x^\top w_c + b_c - \log Q(c), \qquad
        \ell = \sum_{t=1}^{T} \mathrm{BCE}\!\left(\tfrac{1}{T}, z_{y_t}\right)
             + \sum_{s=1}^{S} \mathrm{BCE}(0, z_{c_s}),

    with :math:`\mathrm{BCE}(y, z) = -y \log\sigma(z) - (1 - y)\log(1 - \sigma(z))`,
    true classes :math:`y_t`, the batch's sampled classes :math:`c_s` and :math:`Q(c)`
    their expected counts (``sampled_values``); accidental hits are masked out when
    ``remove_accidental_hits`` (off by default, as in TensorFlow; a candidate listed
    twice is masked at every position, TensorFlow masks one of them).

    Args:
        weights: class embeddings ``[num_classes, dim]``, one tensor (a list of shards,
            as TensorFlow's partitioned variables, is refused: join them in class order).
        biases: class biases ``[num_classes]``.
        labels: true class ids ``[batch, num_true]`` (``[batch]`` when
            ``num_true=1``) in ``[0, num_classes)``, of any integer dtype (uint8 to
            int64; ids are gathered and compared with the candidates in int64, int32
            on JAX without x64, never in the labels' dtype).
        inputs: the activations ``[batch, dim]``.
        num_sampled: ``S``, the number of sampled classes per batch (an int).
        num_classes: the number of classes (an int).
        num_true: ``T``, true classes per example; each gets target 1/T.
        sampled_values: ``(sampled_candidates [S], true_expected_count [batch, T],
            sampled_expected_count [S])``, the candidates integer class ids in
            ``[0, num_classes)`` of any integer dtype; ``None`` draws them with
            :func:`log_uniform_candidate_sampler` (``unique=True``). Carries no gradient.
        remove_accidental_hits: mask sampled classes equal to a true class of the row.
        seed: int or ``None``, for the sampler (ignored with ``sampled_values``).

    Returns:
        The per-example loss ``[batch]`` (the sum over the ``T + S`` logistic terms)
        in the dtype of ``inputs`` (half precision computed in float32).

    References:
        Gutmann & Hyvärinen, *Noise-contrastive estimation*, 2010; Mnih & Teh,
        *A fast and simple algorithm for training neural probabilistic language models*,
        2012, https://arxiv.org/abs/1206.6426.

        Same numbers as ``tf.nn.nce_loss(weights, biases, labels, inputs, num_sampled,
        num_classes, num_true=num_true, sampled_values=sampled_values,
        remove_accidental_hits=remove_accidental_hits, seed=seed)``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> weights = np.array([[0.1, 0.2], [0.3, -0.1], [-0.2, 0.4], [0.5, 0.0]], np.float32)
        >>> biases = np.array([0.0, 0.1, -0.1, 0.2], np.float32)
        >>> labels = np.array([[1], [3]])
        >>> inputs = np.array([[1.0, 0.5], [-0.5, 1.0]], np.float32)
        >>> sampled = (np.array([0, 2]), np.array([[0.5], [0.3]], np.float32),
        ...            np.array([0.6, 0.4], np.float32))
        >>> loss = nce_loss(get_ops("jax"), weights, biases, labels, inputs, 2, 4,
        ...                 sampled_values=sampled)
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [2.5946, 2.9051]
    """
    logits, targets, out_dtype, _ = _sampled_logits(
        ops, "nce_loss", weights, biases, labels, inputs, num_sampled,
        num_classes, num_true, sampled_values, remove_accidental_hits, seed,
    )
    terms = ops.binary_crossentropy(targets, logits, from_logits=True)
    loss = ops.sum(terms, axis=-1)
    return loss if ops.dtype(loss) == out_dtype else ops.cast(loss, out_dtype)
