"""Multi-task loss weighting: homoscedastic uncertainty weighting, Dynamic Task
Prioritization and Dynamic Weight Average, as functions and as stateful objects with
framework-native state.

- Kendall, Gal & Cipolla, *Multi-Task Learning Using Uncertainty to Weigh Losses for
  Scene Geometry and Semantics*, CVPR 2018, https://arxiv.org/abs/1705.07115.
- Guo, Haque, Huang, Yeung & Fei-Fei, *Dynamic Task Prioritization for Multitask
  Learning*, ECCV 2018.
- Liu, Johns & Davison, *End-to-End Multi-Task Learning with Attention* (MTAN), CVPR
  2019, https://arxiv.org/abs/1803.10704.

The stateful forms (``UncertaintyWeighting``, ``DynamicTaskPriority``,
``DynamicWeightAverage``) are registered
step functions; every adapter turns them into its own stateful class (a Keras
``Layer``, a torch ``nn.Module``, a ``tf.Module``, and in JAX an ``init``/``apply``
pair over a state dict).
"""

from __future__ import annotations

from typing import Any

from multiloss.core.checks import (
    check_scalar,
    check_static_scalar,
    check_vector,
    is_python_scalar,
    static_shape,
)
from multiloss.core.common import as_float, compute_dtype, param_tensor
from multiloss.core.registry import StateVariable, register, register_stateful

TASK_TYPES = ("regression", "classification")
CONVENTIONS = ("kendall", "simplified")
#: KPIs are clipped into [KPI_EPS, 1 - KPI_EPS] (float32 resolves 1 - 1e-7).
KPI_EPS = 1e-7
#: Dynamic Weight Average floors both losses of its ratio here (the smallest normal
#: float32): a previous loss of 0 gives a finite ratio, 0/0 gives 1.
DWA_FLOOR = 1.1754944e-38
#: ... and caps the ratio here (a loss over a floored 0 would overflow float32).
DWA_RATIO_CAP = 1e30


def stack_losses(ops: Any, losses: Any, dtype: str | None = None) -> Any:
    """Task losses (a sequence of scalars or a ``[T]`` tensor) as one ``[T]`` tensor."""
    if isinstance(losses, (list, tuple)):
        if not losses:
            raise ValueError("losses must hold one loss per task, got an empty sequence")
        for i, loss in enumerate(losses):
            shape = static_shape(loss) if hasattr(loss, "shape") else ()
            if len(shape) != 0:
                raise ValueError(f"losses[{i}] must be a scalar, got shape {shape}")
        losses = ops.stack([ops.convert_to_tensor(loss) for loss in losses])
    else:
        losses = ops.convert_to_tensor(losses)
        shape = static_shape(losses)
        if len(shape) != 1:
            raise ValueError(f"losses must be a sequence of scalars or a [T] tensor, got shape {shape}")
    return losses if dtype is None else as_float(ops, losses, dtype)


def _check_convention(convention: Any) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got convention={convention!r}")


def _check_gamma(gamma: Any, num_tasks: int | None) -> None:
    """``gamma`` a number >= 0 or one per task."""
    if is_python_scalar(gamma) or not (isinstance(gamma, (list, tuple)) or len(static_shape(gamma)) == 1):
        check_scalar("gamma", gamma, low=0.0)
    else:
        check_vector("gamma", gamma, num_tasks, low=0.0, what="number of tasks")


def _task_coefficients(task_types: Any, num_tasks: int | None) -> list[float] | None:
    """½ for regression tasks and 1 for classification tasks (None: all regression)."""
    if task_types is None:
        return None
    if isinstance(task_types, str) or not isinstance(task_types, (list, tuple)):
        raise TypeError(
            f"task_types must be a sequence of {TASK_TYPES} (one per task), got {task_types!r}"
        )
    unknown = [t for t in task_types if t not in TASK_TYPES]
    if unknown:
        raise ValueError(f"task_types entries must be one of {TASK_TYPES}, got {unknown}")
    if num_tasks is not None and len(task_types) != num_tasks:
        raise ValueError(
            f"task_types must have one entry per task: {num_tasks} tasks, "
            f"got {len(task_types)} entries"
        )
    return [0.5 if t == "regression" else 1.0 for t in task_types]


@register(kind="scalar", class_name=None, integer_args=())
def uncertainty_weighting(ops, losses, log_vars, *, task_types=None, convention="kendall"):
    r"""Homoscedastic uncertainty weighting of task losses (Kendall et al. 2018).

    With :math:`s_t = \log \sigma_t^2` (``log_vars``) and task losses :math:`L_t`:

    .. math::

        \mathcal{L} = \sum_t c_t\, e^{-s_t} L_t + \tfrac12 s_t,
        \qquad c_t = \tfrac12 \text{ (regression)},\ 1 \text{ (classification)}

    (``convention="kendall"``, the paper's eq. 7 and 10), or
    :math:`\sum_t e^{-s_t} L_t + s_t` for every task (``convention="simplified"``, the
    form common in open-source multi-task code). For fixed :math:`L_t` the optimum is
    :math:`s_t = \log L_t` for regression tasks and for the simplified form, and
    :math:`s_t = \log 2L_t` for classification tasks.

    Args:
        losses: the task losses, a sequence of ``T`` scalars or a ``[T]`` tensor.
        log_vars: ``s = log σ²``, shape ``[T]`` (the trainable parameters).
        task_types: ``None`` (every task a regression task) or one of
            ``"regression"`` / ``"classification"`` per task.
        convention: ``"kendall"`` or ``"simplified"``.

    Returns:
        The scalar total, in the dtype of ``log_vars``.

    References:
        Kendall, Gal & Cipolla, *Multi-Task Learning Using Uncertainty to Weigh Losses
        for Scene Geometry and Semantics*, CVPR 2018, https://arxiv.org/abs/1705.07115.

        LibMTL's and TorchJD's uncertainty weighting compute the ``"kendall"`` value with
        every task a regression task (``task_types=None``).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> losses = np.array([2.0, 0.5], np.float32)
        >>> log_vars = np.array([0.0, -0.5], np.float32)
        >>> total = uncertainty_weighting(get_ops("jax"), losses, log_vars)
        >>> np.asarray(total, np.float64).round(4).tolist()
        1.1622
    """
    _check_convention(convention)
    log_vars = ops.convert_to_tensor(log_vars)
    shape = static_shape(log_vars)
    if len(shape) != 1:
        raise ValueError(f"log_vars must be a [T] vector, got shape {shape}")
    dtype, out_dtype = compute_dtype(ops, log_vars)
    coefficients = _task_coefficients(task_types, shape[0])
    losses = stack_losses(ops, losses, dtype)
    num_losses = static_shape(losses)[0]
    if None not in (num_losses, shape[0]) and num_losses != shape[0]:
        raise ValueError(
            f"losses and log_vars must have one entry per task, got losses of shape "
            f"{static_shape(losses)} and log_vars of shape {shape}"
        )
    s = as_float(ops, log_vars, dtype)
    precision_term = ops.exp(-s) * losses
    if convention == "simplified":
        total = ops.sum(precision_term + s)
    else:
        if coefficients is not None:
            precision_term = param_tensor(ops, coefficients, dtype) * precision_term
        else:
            precision_term = 0.5 * precision_term
        total = ops.sum(precision_term + 0.5 * s)
    return total if dtype == out_dtype else ops.cast(total, out_dtype)


@register(kind="transform", class_name=None, integer_args=())
def task_priority_weights(ops, kpis, *, gamma=1.0):
    r"""Dynamic Task Prioritization weights (Guo et al. 2018), focal-loss style.

    .. math::

        w_t = -(1 - \kappa_t)^{\gamma_t} \log \kappa_t

    with :math:`\kappa_t \in (0, 1)` a key performance indicator of task :math:`t`
    (e.g. its accuracy): tasks that perform badly get large weights. KPIs are clipped
    into :math:`[10^{-7}, 1 - 10^{-7}]`, and :math:`(1 - \kappa)^\gamma` is computed as
    :math:`\exp(\gamma \log(1 - \kappa))`, so values and gradients stay finite.

    Args:
        kpis: ``[T]`` KPIs in (0, 1).
        gamma: focusing exponent >= 0, a scalar or one per task ``[T]``.

    Returns:
        The weights, shape ``[T]``, in the dtype of ``kpis``.

    References:
        Guo, Haque, Huang, Yeung & Fei-Fei, *Dynamic Task Prioritization for Multitask
        Learning*, ECCV 2018,
        https://openaccess.thecvf.com/content_ECCV_2018/html/Michelle_Guo_Focus_on_the_ECCV_2018_paper.html

        No peer library ships it; the tests compare with the float64 formula above.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> kpis = np.array([0.9, 0.5, 0.2], np.float32)
        >>> weights = task_priority_weights(get_ops("jax"), kpis, gamma=2.0)
        >>> np.asarray(weights, np.float64).round(4).tolist()
        [0.0011, 0.1733, 1.03]
    """
    kpis = ops.convert_to_tensor(kpis)
    shape = static_shape(kpis)
    if len(shape) != 1:
        raise ValueError(f"kpis must be a [T] vector, got shape {shape}")
    _check_gamma(gamma, shape[0])
    dtype, out_dtype = compute_dtype(ops, kpis)
    if not is_python_scalar(gamma):
        gamma = param_tensor(ops, gamma, dtype)
    kappa = ops.clip(as_float(ops, kpis, dtype), KPI_EPS, 1.0 - KPI_EPS)
    weights = -ops.exp(gamma * ops.log1p(-kappa)) * ops.log(kappa)
    return weights if dtype == out_dtype else ops.cast(weights, out_dtype)


def _check_uncertainty_config(*, num_tasks, task_types=None, convention="kendall"):
    _check_convention(convention)
    _task_coefficients(task_types, num_tasks)


@register_stateful(
    class_name="UncertaintyWeighting",
    state=(StateVariable("log_vars", length="num_tasks", initial=0.0, trainable=True),),
    check=_check_uncertainty_config,
)
def uncertainty_weighting_step(ops, state, losses, *, num_tasks, task_types=None, convention="kendall"):
    """Uncertainty weighting with its ``log_vars`` (one per task, initialised to 0) held as
    trainable weights: calling it with the task losses returns
    ``uncertainty_weighting(losses, log_vars, task_types=..., convention=...)``.

    Call: ``weighting(losses)`` with ``T`` scalar losses (a sequence or a ``[T]`` tensor);
    returns the scalar total. See :func:`uncertainty_weighting`.

    Args:
        num_tasks: number of tasks T.
        task_types: ``None`` (all regression) or ``"regression"``/``"classification"``
            per task.
        convention: ``"kendall"`` or ``"simplified"``.

    Returns:
        The scalar total, in the dtype of the variables.

    References:
        Kendall, Gal & Cipolla, *Multi-Task Learning Using Uncertainty to Weigh Losses
        for Scene Geometry and Semantics*, CVPR 2018, https://arxiv.org/abs/1705.07115.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> losses = np.array([2.0, 0.5], np.float32)
        >>> state = {"log_vars": np.zeros(2, np.float32)}
        >>> total, updates = uncertainty_weighting_step(get_ops("jax"), state, losses, num_tasks=2)
        >>> np.asarray(total, np.float64).round(4).tolist()
        1.25
    """
    total = uncertainty_weighting(
        ops, losses, state["log_vars"], task_types=task_types, convention=convention
    )
    return total, {}


def _check_priority_config(*, num_tasks, gamma=1.0, momentum=0.5):
    _check_gamma(gamma, num_tasks)
    check_scalar("momentum", momentum, low=0.0, high=1.0)


@register_stateful(
    class_name="DynamicTaskPriority",
    state=(
        StateVariable("kpi_average", length="num_tasks", initial=0.0, trainable=False),
        StateVariable("initialized", length=None, initial=0.0, trainable=False),
    ),
    check=_check_priority_config,
)
def dynamic_task_priority_step(ops, state, losses, kpis, *, num_tasks, gamma=1.0, momentum=0.5):
    r"""Dynamic Task Prioritization with a moving average of the KPIs.

    Each call first updates :math:`\bar\kappa \leftarrow m\,\kappa + (1 - m)\,\bar\kappa`
    (:math:`\bar\kappa` starts at the first :math:`\kappa` it sees; KPIs clipped into
    (0, 1)), then returns :math:`\sum_t w_t L_t` with
    :math:`w = \text{task\_priority\_weights}(\bar\kappa, \gamma)` held constant: no
    gradient flows into the weights or the average.

    Call: ``priority(losses, kpis)`` with ``T`` scalar losses and ``T`` KPIs.

    Args:
        num_tasks: number of tasks T.
        gamma: focusing exponent >= 0, scalar or one per task.
        momentum: m in [0, 1], the weight of the newest KPIs.

    Returns:
        The scalar :math:`\sum_t w_t L_t`, in the dtype of the variables.

    References:
        Guo, Haque, Huang, Yeung & Fei-Fei, *Dynamic Task Prioritization for Multitask
        Learning*, ECCV 2018,
        https://openaccess.thecvf.com/content_ECCV_2018/html/Michelle_Guo_Focus_on_the_ECCV_2018_paper.html

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> losses = np.array([2.0, 0.5], np.float32)
        >>> kpis = np.array([0.9, 0.4], np.float32)
        >>> state = {"kpi_average": np.zeros(2, np.float32), "initialized": np.float32(0.0)}
        >>> total, updates = dynamic_task_priority_step(get_ops("jax"), state, losses, kpis,
        ...                                             num_tasks=2, gamma=2.0)
        >>> np.asarray(total, np.float64).round(4).tolist()
        0.167
    """
    average = state["kpi_average"]
    dtype = ops.dtype(average)
    losses = stack_losses(ops, losses, dtype)
    kappa = ops.convert_to_tensor(kpis)
    if static_shape(kappa) != (num_tasks,) or static_shape(losses) != (num_tasks,):
        raise ValueError(
            f"losses and kpis must have one entry per task ({num_tasks}), got losses of "
            f"shape {static_shape(losses)} and kpis of shape {static_shape(kappa)}"
        )
    kappa = ops.stop_gradient(ops.clip(as_float(ops, kappa, dtype), KPI_EPS, 1.0 - KPI_EPS))
    seen = ops.greater(state["initialized"], 0.0)
    new_average = ops.where(seen, momentum * kappa + (1.0 - momentum) * average, kappa)
    new_average = ops.stop_gradient(new_average)
    weights = ops.stop_gradient(task_priority_weights(ops, new_average, gamma=gamma))
    total = ops.sum(weights * losses)
    return total, {"kpi_average": new_average, "initialized": ops.ones_like(state["initialized"])}


def _check_dwa_config(*, num_tasks, temperature=2.0):
    check_static_scalar("temperature", temperature, low=0.0)
    if float(temperature) == 0.0:
        raise ValueError(f"temperature must be > 0, got temperature={temperature!r}")


@register_stateful(
    class_name="DynamicWeightAverage",
    state=(
        StateVariable("previous_losses", length="num_tasks", initial=0.0, trainable=False),
        StateVariable("earlier_losses", length="num_tasks", initial=0.0, trainable=False),
        StateVariable("calls", length=None, initial=0.0, trainable=False),
    ),
    check=_check_dwa_config,
)
def dynamic_weight_average_step(ops, state, losses, *, num_tasks, temperature=2.0):
    r"""Dynamic Weight Average (Liu et al. 2019, MTAN): tasks whose loss falls slowly
    get more weight.

    At the :math:`k`-th call, with the task losses :math:`L_t(k-1)` and
    :math:`L_t(k-2)` passed at the two previous calls,

    .. math::

        r_t = \frac{L_t(k-1)}{L_t(k-2)}, \qquad
        w_t = K \frac{\exp(r_t / T)}{\sum_j \exp(r_j / T)}, \qquad
        \mathcal{L} = \sum_t w_t L_t(k)

    over the :math:`K` tasks; every :math:`w_t = 1` at the first two calls. The weights
    are held constant (no gradient flows into them): the gradient with respect to
    :math:`L_t(k)` is :math:`w_t`. The losses are stored as values (no gradient) in
    ``previous_losses`` (:math:`L(k-1)`), ``earlier_losses`` (:math:`L(k-2)`) and the
    call counter ``calls`` (a float; only ``calls >= 2`` matters): non-trainable state, saved with the model (Keras weights,
    torch buffers, ``tf.Variable``\ s; in JAX the state dict ``apply`` returns).

    Guard: the losses are meant to be >= 0 (as in the paper); both losses of a ratio are
    floored at :data:`DWA_FLOOR` (the smallest normal float32), so a previous loss of 0
    gives a large finite ratio (that task takes the weight) and 0/0 gives 1; the ratio is
    capped at :data:`DWA_RATIO_CAP` and the softmax takes :math:`(r_t - \max_j r_j)/T`
    (the same weights), so any temperature gives finite weights: never inf or NaN from
    finite losses. NaN losses give NaN (also while they are the stored ones).

    The paper averages each task's loss over an epoch and updates the weights once per
    epoch; call it with those averages (and use its output) once per epoch to reproduce
    that, or once per step for the per-step variant.

    Call: ``dwa(losses)`` with ``K`` scalar losses (a sequence or a ``[K]`` tensor);
    returns the scalar :math:`\sum_t w_t L_t(k)`.

    Args:
        num_tasks: number of tasks K.
        temperature: T > 0; larger values give more even weights (the paper uses 2).

    Returns:
        The scalar :math:`\sum_t w_t L_t(k)`, in the dtype of the variables.

    References:
        Liu, Johns & Davison, *End-to-End Multi-Task Learning with Attention*, CVPR 2019,
        https://arxiv.org/abs/1803.10704 (section 3.3, eq. 7).

        No peer library ships it; the tests compare with a float64 NumPy implementation of
        the recurrence above (the MTAN reference code's ``lambda_weight``).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> losses = np.array([2.0, 0.5], np.float32)
        >>> state = {"previous_losses": np.zeros(2, np.float32),
        ...          "earlier_losses": np.zeros(2, np.float32), "calls": np.float32(0.0)}
        >>> total, updates = dynamic_weight_average_step(get_ops("jax"), state, losses, num_tasks=2)
        >>> np.asarray(total, np.float64).round(4).tolist()
        2.5
    """
    previous, earlier = state["previous_losses"], state["earlier_losses"]
    dtype = ops.dtype(previous)
    losses = stack_losses(ops, losses, dtype)
    if static_shape(losses) != (num_tasks,):
        raise ValueError(
            f"losses must have one entry per task ({num_tasks}), got losses of shape "
            f"{static_shape(losses)}"
        )
    ratio = ops.maximum(previous, DWA_FLOOR) / ops.maximum(earlier, DWA_FLOOR)
    ratio = ops.minimum(ratio, DWA_RATIO_CAP)
    # softmax(r / T) = softmax((r − max r) / T): logits <= 0, so no inf − inf for any T
    logits = (ratio - ops.max(ratio, axis=-1, keepdims=True)) / float(temperature)
    weights = float(num_tasks) * ops.softmax(logits, axis=-1)
    ready = ops.greater_equal(state["calls"], 2.0)
    weights = ops.stop_gradient(ops.where(ready, weights, ops.ones_like(weights)))
    total = ops.sum(weights * losses)
    updates = {  # earlier first, from a copy: adapters assign in place, in this order
        "earlier_losses": previous + 0.0,
        "previous_losses": ops.stop_gradient(losses),
        "calls": state["calls"] + 1.0,
    }
    return total, updates
