"""Keras adapter: every multiloss loss for Keras 3, on whatever backend Keras runs.

Functions take ``(y_true, y_pred, **params)`` in Keras' argument order and default to
``reduction="none"`` like Keras' functional losses. Each loss with a class form is a
serializable ``keras.losses.Loss`` (``SigmoidFocalLoss``, ``CrossEntropy``, ...) for
``model.compile(loss=...)``; its ``reduction`` is Keras' own (``"sum_over_batch_size"``
by default, ``sample_weight`` supported) and integer labels stay integers.
:class:`LinearCrossEntropyHead` is the output layer of a large-vocabulary model whose
training loss is :func:`linear_cross_entropy`.
"""

from __future__ import annotations

import inspect
from typing import Any

from multiloss._adapter import (
    Namespace,
    bind_params,
    class_init_signature,
    run_step,
    stateful_init_signature,
)
from multiloss.core.ops import import_keras, keras_backend_ops
from multiloss.core.registry import LossSpec, StatefulSpec

keras = import_keras()
from multiloss.core.ops.keras_loss import (  # noqa: E402
    get_keras_mask,
    jsonable,
    reduce_weighted_values,
    set_keras_mask,
)
from multiloss.core.reduction import counted_entries  # noqa: E402

_OPS = keras_backend_ops()
_PACKAGE = "multiloss"


def _call(spec: LossSpec, args: tuple, kwargs: dict) -> Any:
    """Unreduced losses carry the mask of the entries ``"mean"`` counts (Keras' mask,
    as ``keras.losses.circle`` and sparse cross entropy's ``ignore_class`` set it), so
    Keras' reductions average over the same entries."""
    if kwargs.get("reduction") != "none":
        return _OPS.run(spec.fn, args, kwargs)
    with counted_entries() as counted:
        losses = _OPS.run(spec.fn, args, kwargs)
    if counted and counted[-1] is not None:
        set_keras_mask(losses, counted[-1])
    return losses


def _per_entry(sample_weight: Any, losses: Any, dtype: Any) -> Any:
    """Per-sample weights (``[B]``, ``[B, 1]``) broadcast over an element-wise loss.

    Keras' own losses average the class axis away before weighting; the element-wise
    losses keep it, so ``sample_weight`` of a lower rank is spread over the trailing
    axes (``"mean_with_sample_weight"`` is then the weighted mean of the entries).
    """
    if sample_weight is None or len(losses.shape) < 2:
        return sample_weight
    sample_weight = keras.ops.convert_to_tensor(sample_weight, dtype=dtype)
    rank = len(sample_weight.shape)
    if rank == 0 or rank > len(losses.shape):
        return sample_weight
    for _ in range(len(losses.shape) - rank):
        sample_weight = keras.ops.expand_dims(sample_weight, -1)
    return keras.ops.broadcast_to(sample_weight, keras.ops.shape(losses))


def _unpack(spec: LossSpec, y_pred: Any) -> dict[str, Any]:
    """The tensors ``spec.keras_packed`` from ``y_pred``'s last axis (equal parts)."""
    parts = len(spec.keras_packed)
    size = y_pred.shape[-1] if len(y_pred.shape) else None
    if len(y_pred.shape) == 0 or (size is not None and size % parts):
        raise ValueError(
            f"{spec.class_name} reads {' and '.join(spec.keras_packed)} from y_pred's "
            f"last axis ({parts} equal parts), so that axis must have a size divisible "
            f"by {parts}; got y_pred of shape {tuple(y_pred.shape)}"
        )
    return dict(zip(spec.keras_packed, keras.ops.split(y_pred, parts, axis=-1), strict=True))


class MultilossLoss(keras.losses.Loss):
    """Base of the generated ``keras.losses.Loss`` classes (one per registered loss)."""

    spec: LossSpec
    function: Any

    def __init__(self, *, reduction="sum_over_batch_size", name=None, dtype=None, **params):
        super().__init__(name=name or self.spec.name, reduction=reduction, dtype=dtype)
        self.params = bind_params(self.spec, type(self).__name__, params)
        self.params.pop("reduction", None)

    def __call__(self, y_true, y_pred, sample_weight=None):
        in_mask = get_keras_mask(y_pred)
        with keras.name_scope(self.name):
            y_pred = keras.ops.convert_to_tensor(y_pred, dtype=self.dtype)
            y_true = keras.ops.convert_to_tensor(y_true)
            keep_integer = self.spec.keras_order[0] in self.spec.integer_args
            if not (keep_integer and "int" in keras.backend.standardize_dtype(y_true.dtype)):
                y_true = keras.ops.cast(y_true, self.dtype)
            losses = self.call(y_true, y_pred)
            mask = get_keras_mask(losses)  # the entries the loss counts
            if in_mask is not None:
                mask = in_mask if mask is None else keras.ops.logical_and(in_mask, mask)
            return reduce_weighted_values(
                losses,
                sample_weight=_per_entry(sample_weight, losses, self.dtype),
                mask=mask,
                reduction=self.reduction,
                dtype=self.dtype,
            )

    def call(self, y_true, y_pred):
        params = dict(self.params)
        if self.spec.has_reduction:
            params["reduction"] = "none"
        spec = self.spec
        if not (spec.keras_packed or spec.keras_optional):
            return self.function(y_true, y_pred, **params)
        if spec.keras_packed:
            tensors = {"y_true": y_true, **_unpack(spec, y_pred)}
        else:  # the two tensors Keras passes, in the Keras order
            given = [name for name in spec.keras_order if name not in spec.keras_optional]
            tensors = dict(zip(given, (y_true, y_pred), strict=True))
        tensors.update(dict.fromkeys(spec.keras_optional))  # computed by the loss
        return self.function(*(tensors[name] for name in spec.keras_order), **params)

    def get_config(self):
        config = super().get_config()
        config.update({k: jsonable(v) for k, v in self.params.items()})
        return config


def _make_loss_class(spec: LossSpec, function: Any) -> type:
    keras_params = [
        inspect.Parameter("reduction", inspect.Parameter.KEYWORD_ONLY, default="sum_over_batch_size"),
        inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None),
        inspect.Parameter("dtype", inspect.Parameter.KEYWORD_ONLY, default=None),
    ]

    def __init__(self, **kwargs: Any) -> None:  # its own, to carry this loss' signature
        MultilossLoss.__init__(self, **kwargs)

    __init__.__signature__ = class_init_signature(spec, keras_params)  # type: ignore[attr-defined]
    cls = type(
        spec.class_name,
        (MultilossLoss,),
        {
            "spec": spec,
            "function": staticmethod(function),
            "__init__": __init__,
            # __doc__ (with how packed tensors travel in y_pred): written by multiloss._help
        },
    )
    cls = keras.saving.register_keras_serializable(package=_PACKAGE, name=spec.class_name)(cls)
    for alias in spec.class_aliases:  # models saved under an earlier name still load
        keras.saving.get_custom_objects()[f"{_PACKAGE}>{alias}"] = cls
    return cls


class MultilossLayer(keras.layers.Layer):
    """Base of the generated stateful layers (``UncertaintyWeighting``, ...): the spec's
    variables are Keras weights (trainable or not), saved with the model."""

    spec: StatefulSpec

    def __init__(self, *args, name=None, dtype=None, trainable=True, **kwargs):
        config = self.spec.bind_config(args, kwargs)
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.config = config
        for var in self.spec.state:
            weight = self.add_weight(
                shape=self.spec.shape(var, config),
                initializer=keras.initializers.Constant(var.initial),
                trainable=var.trainable,
                name=var.name,
            )
            setattr(self, var.name, weight)
        # Every weight exists now: an unbuilt layer would make Keras warn about
        # "unbuilt state" when the model holding it is built.
        self.built = True

    def call(self, *inputs):
        state = {var.name: getattr(self, var.name).value for var in self.spec.state}
        output, updates = run_step(self.spec, _OPS, state, inputs, self.config)
        for name, value in updates.items():
            getattr(self, name).assign(value)
        return output

    def get_config(self):
        config = super().get_config()
        config.update({k: jsonable(v) for k, v in self.config.items()})
        return config


def _make_stateful_layer(spec: StatefulSpec) -> type:
    def __init__(self, *args: Any, **kwargs: Any) -> None:  # carries this class' signature
        MultilossLayer.__init__(self, *args, **kwargs)

    __init__.__signature__ = stateful_init_signature(spec)  # type: ignore[attr-defined]
    cls = type(spec.class_name, (MultilossLayer,), {"spec": spec, "__init__": __init__})
    return keras.saving.register_keras_serializable(package=_PACKAGE, name=spec.class_name)(cls)


# the output layer whose training loss is linear_cross_entropy (Keras' form of it): a
# public name of this module beside the generated ones (in __all__ and dir())
from multiloss._keras_head import LinearCrossEntropyHead  # noqa: E402

_namespace = Namespace(
    __name__,
    _call,
    extras={"LinearCrossEntropyHead": LinearCrossEntropyHead},
    keras_order=True,
    class_factory=_make_loss_class,
    defaults={"reduction": "none"},
    stateful_factory=_make_stateful_layer,
    # keras.losses.Loss is called with (y_true, y_pred): losses of other arities
    # (linear_cross_entropy's hidden, weight, labels) are Keras functions only, unless
    # their other tensors are packed into y_pred (gaussian_nll_loss's means and variances)
    class_when=lambda spec: spec.keras_class_name is not None,
)
__getattr__ = _namespace.getattr
_namespace.build_all()


def __dir__() -> list[str]:
    return _namespace.dir(globals())
