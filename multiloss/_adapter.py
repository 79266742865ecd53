"""Generic machinery shared by the framework adapters.

An adapter module is a :class:`Namespace`: it resolves attribute access lazily from
the core registry, so every registered loss is available as a function (and, where
the loss has one, as a class) in every framework, including losses registered after
the adapter was imported. Nothing here knows any particular loss.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any

from multiloss import _help, core
from multiloss.core.registry import LossSpec, StatefulSpec, on_change

Call = Callable[[LossSpec, tuple, dict], Any]
ClassFactory = Callable[[LossSpec, Callable[..., Any]], type]
StatefulFactory = Callable[[StatefulSpec], type]


def public_signature(
    spec: LossSpec, order: tuple[str, ...], defaults: dict[str, Any]
) -> inspect.Signature:
    sig = spec.signature(order)
    params = [
        p.replace(default=defaults[p.name]) if p.name in defaults else p
        for p in sig.parameters.values()
    ]
    return sig.replace(parameters=params)


def adapter_name(module: str) -> str:
    """``"torch"`` for ``"multiloss.torch"``: the key of :data:`multiloss._help.FRAMEWORKS`."""
    return module.rsplit(".", 1)[-1]


def make_function(
    spec: LossSpec,
    call: Call,
    module: str,
    order: tuple[str, ...],
    defaults: dict[str, Any] | None = None,
) -> Callable:
    """A framework entry point for ``spec`` whose tensors come positionally in ``order``.

    ``defaults`` overrides parameter defaults for this adapter (Keras' functional
    losses default to ``reduction="none"``).
    """
    defaults = {k: v for k, v in (defaults or {}).items() if k in spec.params}
    signature = public_signature(spec, order, defaults)
    if defaults:
        inner_call = call

        def call(spec: LossSpec, args: tuple, kwargs: dict) -> Any:
            return inner_call(spec, args, {**defaults, **kwargs})

    if order == spec.arguments:

        def function(*args: Any, **kwargs: Any) -> Any:
            return call(spec, args, kwargs)

    else:
        positions = tuple(order.index(name) for name in spec.arguments)
        n = len(order)

        def function(*args: Any, **kwargs: Any) -> Any:
            if len(args) == n:
                args = tuple(args[i] for i in positions)
            elif args or any(name in kwargs for name in order):
                bound = signature.bind(*args, **kwargs).arguments
                args = tuple(bound.pop(name) for name in spec.arguments)
                kwargs = bound
            return call(spec, args, kwargs)

    function.__name__ = function.__qualname__ = spec.name
    function.__module__ = module
    function.__doc__ = _help.function_doc(
        spec, adapter_name(module), f"{module}.{spec.name}{signature}", order, defaults
    )
    function.__signature__ = signature  # type: ignore[attr-defined]
    function.__wrapped__ = spec.fn  # type: ignore[attr-defined]
    return function


def class_init_signature(spec: LossSpec, extra: list[inspect.Parameter]) -> inspect.Signature:
    """``__init__(self, *, <loss params>, <extra>)`` with the loss' defaults."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in spec.config_params.items()
        if name not in {p.name for p in extra}
    ]
    return inspect.Signature(params + extra)


def stateful_init_signature(spec: StatefulSpec) -> inspect.Signature:
    """``__init__(self, <constructor parameters>)``: with ``self`` first, so that
    ``inspect.signature(cls)`` (which drops the first parameter) shows ``num_tasks``."""
    sig = spec.signature()
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sig.replace(parameters=[self_param, *sig.parameters.values()])


def run_step(spec: StatefulSpec, ops: Any, state: dict, inputs: tuple, config: dict) -> tuple:
    """Call a stateful step: ``(output, updates)``, the input count checked."""
    if len(inputs) != len(spec.inputs):
        raise TypeError(
            f"{spec.class_name} is called with ({', '.join(spec.inputs)}), "
            f"got {len(inputs)} positional argument(s)"
        )
    return spec.step(ops, state, *inputs, **config)


def bind_params(spec: LossSpec, class_name: str, kwargs: dict, allowed: tuple[str, ...] = ()) -> dict:
    """The loss parameters of a class instance, defaults filled in, unknown names refused
    (the per-call ``where``/``sample_weight`` go to the call, not the constructor)."""
    config = spec.config_params
    unknown = sorted(set(kwargs) - set(config) - set(allowed))
    if unknown:
        per_call = sorted(set(unknown) & set(spec.call_params))
        hint = f" ({', '.join(per_call)}: pass to each call)" if per_call else ""
        raise TypeError(
            f"{class_name}() got unexpected keyword argument(s) {unknown}{hint}; "
            f"parameters: {sorted(set(config) | set(allowed))}"
        )
    params = dict(config)
    params.update({k: v for k, v in kwargs.items() if k in config})
    return params


class Namespace:
    """Lazily built functions and classes of one adapter module.

    ``extras`` are the module's public objects written by hand (``multiloss.jax``'s
    ``data_parallel``, ``multiloss.keras``' ``LinearCrossEntropyHead``): listed in
    ``__all__`` and ``dir()`` beside the generated names (the stubs and the API reference
    follow ``__all__``).
    """

    def __init__(
        self,
        module: str,
        call: Call,
        *,
        keras_order: bool = False,
        class_factory: ClassFactory | None = None,
        extras: dict[str, Any] | None = None,
        defaults: dict[str, Any] | None = None,
        stateful_factory: StatefulFactory | None = None,
        class_when: Callable[[LossSpec], bool] | None = None,
    ):
        self.module = module
        self.class_when = class_when
        self.call = call
        self.keras_order = keras_order
        self.class_factory = class_factory
        self.extras = extras or {}
        self.defaults = defaults or {}
        self.stateful_factory = stateful_factory
        self._cache: dict[tuple[str, Callable], Any] = {}
        # names published as module attributes, withdrawn (under the lock) on each change
        # of the registry; ``_version`` counts the changes, so that a function built
        # before a change is not published after it
        self._published: set[str] = set()
        self._version = 0
        self._lock = threading.Lock()
        on_change(self._withdraw)

    def _has_class(self, spec: LossSpec) -> bool:
        return bool(spec.class_name) and self.class_factory is not None and (
            self.class_when is None or self.class_when(spec)
        )

    def _order(self, spec: LossSpec) -> tuple[str, ...]:
        return spec.keras_order if self.keras_order else spec.arguments

    def function(self, name: str) -> Callable:
        spec = core.get_spec(name)
        key = (name, spec.fn)
        if key not in self._cache:
            self._cache[key] = make_function(
                spec, self.call, self.module, self._order(spec), self.defaults
            )
        return self._cache[key]

    def loss_class(self, class_name: str) -> type:
        for spec in core.registry().values():
            if class_name in spec.class_aliases and self._has_class(spec):
                return self.loss_class(spec.class_name)  # a renamed class: the same object
            if spec.class_name == class_name and self._has_class(spec):
                key = (class_name, spec.fn)
                if key not in self._cache:
                    cls = self.class_factory(spec, self.function(spec.name))
                    cls.__module__ = self.module
                    cls.__doc__ = _help.loss_class_doc(spec, adapter_name(self.module), cls)
                    self._cache[key] = cls
                return self._cache[key]
        stateful = core.stateful_registry().get(class_name)
        if stateful is not None and self.stateful_factory is not None:
            key = (class_name, stateful.step)
            if key not in self._cache:
                cls = self.stateful_factory(stateful)
                cls.__module__ = self.module
                cls.__qualname__ = class_name
                cls.__doc__ = _help.stateful_doc(stateful, adapter_name(self.module), cls)
                self._cache[key] = cls
            return self._cache[key]
        raise AttributeError(f"module {self.module!r} has no attribute {class_name!r}")

    def build_all(self) -> None:
        """Create every function and class now (Keras needs its classes registered)."""
        for spec in core.registry().values():
            self.function(spec.name)
            if self._has_class(spec):
                self.loss_class(spec.class_name)
        if self.stateful_factory is not None:
            for class_name in core.stateful_registry():
                self.loss_class(class_name)

    def names(self) -> list[str]:
        specs = core.registry().values()
        names = [spec.name for spec in specs]
        names += [spec.class_name for spec in specs if self._has_class(spec)]
        names += [alias for spec in specs if self._has_class(spec) for alias in spec.class_aliases]
        if self.stateful_factory is not None:
            names += list(core.stateful_registry())
        return sorted(names) + sorted(self.extras)

    # Module-level hooks (PEP 562).
    def getattr(self, name: str) -> Any:
        """The module's ``__getattr__``: builds a function or class on first access and
        publishes it as a plain module attribute, so that later accesses (a training
        loop's ``ml.cross_entropy(...)`` each step) are a dictionary lookup rather than a
        call of this hook. A change to the registry takes the published names back."""
        if name == "__all__":
            return self.names()
        if name in self.extras:
            return self.extras[name]
        version = self._version
        if name in core.registry():
            return self._publish(name, self.function(name), version)
        if name[:1].isupper():
            return self._publish(name, self.loss_class(name), version)
        raise AttributeError(f"module {self.module!r} has no attribute {name!r}")

    def _publish(self, name: str, value: Any, version: int) -> Any:
        module = sys.modules.get(self.module)
        with self._lock:
            if module is not None and version == self._version:
                vars(module)[name] = value
                self._published.add(name)
        return value

    def _withdraw(self) -> None:
        module = sys.modules.get(self.module)
        with self._lock:
            self._version += 1
            for name in self._published:
                if module is not None:
                    vars(module).pop(name, None)
            self._published.clear()

    def dir(self, module_globals: dict) -> list[str]:
        return sorted(set(module_globals) | set(self.names()))
