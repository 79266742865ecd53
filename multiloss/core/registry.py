"""The registry every adapter is generated from.

A loss is a plain function ``fn(ops, *arguments, **params)`` written against the
``keras.ops`` API, decorated with :func:`register`. The registry records its name,
the positional arguments (prediction first) and which of them are tensors and which
static Python values (``num_sampled``: an int, never a traced tensor), the
keyword-only parameters with their defaults, the shape of its unreduced result
(``kind``) and its docstring.
Adapters read only this: a new loss appears in every framework without an edit to
any adapter file.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

#: What ``reduction="none"`` returns, per loss.
KINDS = {
    "elementwise": "one value per element of the prediction (its shape)",
    "per_example": "one value per example (the prediction's shape without the class axis)",
    "per_row": "one value per row of the first argument",
    "scalar": "a single scalar (already a total)",
    "transform": "a tensor that is not a loss (a transform of the labels, or sampled values)",
}

#: Parameters every loss with a ``reduction`` takes, given per call (they describe the
#: batch): class forms take them in ``forward``/``__call__``, not in the constructor.
CALL_PARAMS = ("where", "sample_weight")

_REGISTRY: dict[str, LossSpec] = {}

#: Called after every change to the registries (an adapter drops the functions and
#: classes it published as plain module attributes, so the next access rebuilds them).
_LISTENERS: list[Callable[[], None]] = []


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener()`` after each :func:`register`, :func:`unregister` and
    :func:`register_stateful`."""
    _LISTENERS.append(listener)


def _changed() -> None:
    for listener in _LISTENERS:
        listener()


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """Everything an adapter needs to expose one core function."""

    name: str
    fn: Callable[..., Any]
    arguments: tuple[str, ...]  # every positional argument, in the core order
    static: tuple[str, ...]  # the positional arguments that are Python values, not tensors
    params: dict[str, Any]
    kind: str
    doc: str
    class_name: str | None
    integer_args: tuple[str, ...]
    keras_order: tuple[str, ...]
    keras_packed: tuple[str, ...] = ()  # the tensors a Keras Loss reads from y_pred
    keras_optional: tuple[str, ...] = ()  # the tensors a Keras Loss passes as None
    class_aliases: tuple[str, ...] = ()  # earlier names of the class forms, kept working

    @property
    def keras_class_name(self) -> str | None:
        """The ``keras.losses.Loss`` form's name: Keras calls a loss with
        ``(y_true, y_pred)``, so only losses of two tensors have one (not counting the
        tensors the class passes as ``None``, :attr:`keras_optional`), or losses whose
        other tensors are packed into ``y_pred`` (:attr:`keras_packed`)."""
        if len(self.tensors) - len(self.keras_optional) == 2 or self.keras_packed:
            return self.class_name
        return None

    @property
    def tensors(self) -> tuple[str, ...]:
        """The positional arguments that are tensors (core order)."""
        return tuple(name for name in self.arguments if name not in self.static)

    @property
    def has_reduction(self) -> bool:
        return "reduction" in self.params

    @property
    def call_params(self) -> tuple[str, ...]:
        """The per-call parameters (:data:`CALL_PARAMS`) this loss takes."""
        return tuple(name for name in CALL_PARAMS if name in self.params)

    @property
    def config_params(self) -> dict[str, Any]:
        """The parameters a class form takes in its constructor, with defaults."""
        return {k: v for k, v in self.params.items() if k not in CALL_PARAMS}

    def signature(self, order: tuple[str, ...] | None = None) -> inspect.Signature:
        """The public signature: positional arguments (in ``order``), then keyword-only params."""
        core = inspect.signature(self.fn)
        tensor_params = [core.parameters[name] for name in (order or self.arguments)]
        keyword_params = [core.parameters[name] for name in self.params]
        return core.replace(parameters=tensor_params + keyword_params)


def register(
    *,
    kind: str,
    class_name: str | None = "",
    integer_args: tuple[str, ...] = ("y_true",),
    static: tuple[str, ...] = (),
    keras_order: tuple[str, ...] | None = None,
    keras_packed: tuple[str, ...] = (),
    keras_optional: tuple[str, ...] = (),
    class_aliases: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a core loss ``fn(ops, *arguments, **params)``.

    Args:
        kind: one of :data:`KINDS` (what ``reduction="none"`` returns).
        class_name: name of the class forms (Keras ``Loss``, torch ``nn.Module``);
            ``""`` derives it from the function name in CamelCase, ``None`` means the
            function has no class form (e.g. a label transform).
        integer_args: tensor arguments that may hold integer class ids and must not be
            cast to the loss dtype.
        static: positional arguments that are Python values (ints, bools), passed
            as they are by the adapters and the conformance runner, never as tensors.
        keras_order: positional order of the tensors in the Keras adapter; by default
            ``(y_true, y_pred)`` when the loss takes both, else the core order.
        keras_packed: for a loss of more than two tensors, the tensors its Keras
            ``Loss`` class reads from ``y_pred``, concatenated in this order along the
            last axis in equal parts (``("y_pred", "var")``: a model's output holds the
            means then the variances); every other tensor but ``y_true`` must be here.
            A loss without ``y_true`` (``anchor, positive, negative``) packs them all
            and its Keras class ignores the targets Keras passes.
        keras_optional: tensors the core function accepts as ``None`` (it then
            computes a default, e.g. ``ctc_loss``'s full sequence lengths); the Keras
            ``Loss`` class, called with ``(y_true, y_pred)`` only, passes ``None`` for
            them, so a loss of two other tensors gets a Keras class.
        class_aliases: earlier names of the class forms (a renamed class stays
            importable, and Keras models saved with the old name still load).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got kind={kind!r}")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        names = list(sig.parameters)
        if not names or names[0] != "ops":
            raise TypeError(f"{fn.__name__}: a core loss takes `ops` as first argument")
        arguments = tuple(
            p.name for p in list(sig.parameters.values())[1:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        )
        unknown = sorted(set(static) - set(arguments))
        if unknown:
            raise ValueError(f"{fn.__name__}: static {unknown} are not positional arguments")
        params = {
            p.name: p.default for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY
        }
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()):
            raise TypeError(f"{fn.__name__}: *args/**kwargs cannot be exposed by adapters")
        missing = [name for name in CALL_PARAMS if name not in params]
        if "reduction" in params and missing:
            raise TypeError(
                f"{fn.__name__}: a loss with a reduction takes {', '.join(CALL_PARAMS)} "
                f"(keyword-only, default None) too; missing {missing}"
            )
        order = keras_order
        if order is None:
            order = arguments
            if arguments[:2] == ("y_pred", "y_true"):
                order = ("y_true", "y_pred") + arguments[2:]
        if sorted(order) != sorted(arguments):
            raise ValueError(f"{fn.__name__}: keras_order {order} must permute {arguments}")
        if keras_packed:
            left = sorted(set(arguments) - set(static) - set(keras_packed) - set(keras_optional))
            if left not in ([], ["y_true"]) or len(set(keras_packed)) != len(keras_packed):
                raise ValueError(
                    f"{fn.__name__}: keras_packed {keras_packed} must name each tensor "
                    f"but y_true once (tensors: {arguments})"
                )
        optional = set(keras_optional)
        if not optional <= set(arguments) - set(static) - {"y_true", "y_pred"} or (
            optional & set(keras_packed)
        ):
            raise ValueError(
                f"{fn.__name__}: keras_optional {keras_optional} must name tensors other "
                f"than y_true and y_pred, not packed (tensors: {arguments})"
            )
        spec = LossSpec(
            name=fn.__name__,
            fn=fn,
            arguments=arguments,
            static=tuple(static),
            params=params,
            kind=kind,
            doc=inspect.getdoc(fn) or "",
            class_name=_camel(fn.__name__) if class_name == "" else class_name,
            integer_args=tuple(a for a in integer_args if a in arguments and a not in static),
            keras_order=tuple(order),
            keras_packed=tuple(keras_packed),
            keras_optional=tuple(keras_optional),
            class_aliases=tuple(class_aliases),
        )
        if spec.name in _REGISTRY and _REGISTRY[spec.name].fn is not fn:
            raise ValueError(f"a loss named {spec.name!r} is registered already")
        _REGISTRY[spec.name] = spec
        fn.spec = spec  # type: ignore[attr-defined]
        _changed()
        return fn

    return decorate


def unregister(name: str) -> None:
    """Remove a loss (used by tests that register a throwaway loss)."""
    _REGISTRY.pop(name, None)
    _changed()


def registry() -> dict[str, LossSpec]:
    """A snapshot of the registered losses, by name."""
    return dict(_REGISTRY)


def get_spec(name: str) -> LossSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown loss {name!r}; registered: {', '.join(sorted(_REGISTRY))}"
        ) from None


# --- stateful objects (multi-task weighting) -----------------------------------------

@dataclasses.dataclass(frozen=True)
class StateVariable:
    """One variable a stateful object holds.

    ``length`` names the constructor argument giving its length (``"num_tasks"``) or is
    ``None`` for a scalar. Trainable variables become framework parameters (Keras
    weights, ``nn.Parameter``, trainable ``tf.Variable``); the others are state
    (non-trainable weights, buffers) updated by the step function.
    """

    name: str
    length: str | None = None
    initial: float = 0.0
    trainable: bool = True


@dataclasses.dataclass(frozen=True)
class StatefulSpec:
    """A core step function ``step(ops, state, *inputs, **config) -> (output, updates)``
    and the variables it needs; each adapter turns it into its framework's native
    stateful class. ``updates`` maps non-trainable variable names to new values."""

    class_name: str
    step: Callable[..., Any]
    inputs: tuple[str, ...]
    config: dict[str, Any]  # constructor parameters and defaults (inspect.Parameter.empty: required)
    state: tuple[StateVariable, ...]
    doc: str
    check: Callable[..., None] | None = None  # check(**config) raises on a bad config

    def signature(self) -> inspect.Signature:
        """The constructor signature: required parameters positional, the rest keyword."""
        core = inspect.signature(self.step)
        params = []
        for name in self.config:
            p = core.parameters[name]
            kind = p.POSITIONAL_OR_KEYWORD if p.default is p.empty else p.KEYWORD_ONLY
            params.append(p.replace(kind=kind))
        params.sort(key=lambda p: p.kind)
        return inspect.Signature(params)

    def bind_config(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        """Constructor arguments as a complete config (defaults filled in)."""
        try:
            bound = self.signature().bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.class_name}(): {exc}") from None
        bound.apply_defaults()
        config = dict(bound.arguments)
        for variable in self.state:
            self.shape(variable, config)
        if self.check is not None:
            self.check(**config)
        return config

    def shape(self, variable: StateVariable, config: dict[str, Any]) -> tuple[int, ...]:
        if variable.length is None:
            return ()
        length = config[variable.length]
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(
                f"{variable.length} must be a positive int, got {variable.length}={length!r}"
            )
        return (length,)


_STATEFUL: dict[str, StatefulSpec] = {}


def register_stateful(
    *,
    class_name: str,
    state: tuple[StateVariable, ...],
    check: Callable[..., None] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``step(ops, state, *inputs, **config)`` as the stateful class ``class_name``.

    ``check(**config)``, if given, validates the constructor arguments (raising
    ``ValueError``/``TypeError``) when an object is built, in every adapter.
    """

    def decorate(step: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(step)
        names = list(sig.parameters)
        if names[:2] != ["ops", "state"]:
            raise TypeError(f"{step.__name__}: a stateful step takes (ops, state, *inputs)")
        inputs = tuple(
            p.name for p in list(sig.parameters.values())[2:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        )
        config = {p.name: p.default for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY}
        spec = StatefulSpec(
            class_name=class_name,
            step=step,
            inputs=inputs,
            config=config,
            state=tuple(state),
            doc=inspect.getdoc(step) or "",
            check=check,
        )
        _STATEFUL[class_name] = spec
        step.stateful_spec = spec  # type: ignore[attr-defined]
        _changed()
        return step

    return decorate


def stateful_registry() -> dict[str, StatefulSpec]:
    """A snapshot of the registered stateful classes, by class name."""
    return dict(_STATEFUL)
