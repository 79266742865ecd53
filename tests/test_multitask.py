"""Multi-task weighting: uncertainty_weighting and task_priority_weights against float64
NumPy formulas (no peer library ships them), the stateful UncertaintyWeighting and
DynamicTaskPriority in all four adapters, training to the known optimum, Keras saving."""

from __future__ import annotations

import numpy as np
import pytest

from multiloss.core import stateful_registry
from multiloss.verify import frameworks

LOSSES = np.array([0.3, 2.0, 5.0], np.float32)
MIXED = ["regression", "classification", "regression"]


# --- float64 references ----------------------------------------------------------------

def uw_reference(losses, log_vars, task_types=None, convention="kendall"):
    """Value and gradients (d/dlosses, d/dlog_vars) of Kendall et al.'s weighting."""
    L = np.asarray(losses, np.float64)
    s = np.asarray(log_vars, np.float64)
    if convention == "simplified":
        c, h = np.ones_like(s), np.ones_like(s)
    else:
        types = task_types or ["regression"] * len(s)
        c = np.array([0.5 if t == "regression" else 1.0 for t in types])
        h = np.full_like(s, 0.5)
    value = np.sum(c * np.exp(-s) * L + h * s)
    return value, c * np.exp(-s), -c * np.exp(-s) * L + h


def optimum(losses, task_types=None, convention="kendall"):
    """argmin over s of the weighting for fixed losses: log L, or log 2L for the
    paper's classification form."""
    L = np.asarray(losses, np.float64)
    if convention == "kendall" and task_types is not None:
        return np.log(L * np.array([2.0 if t == "classification" else 1.0 for t in task_types]))
    return np.log(L)


def tpw_reference(kpis, gamma):
    """Guo et al.'s w = -(1 - k)^g log k and dw/dk, KPIs clipped into [1e-7, 1 - 1e-7]
    (the bounds as float32 represents them)."""
    k = np.clip(np.asarray(kpis, np.float64), np.float32(1e-7), np.float32(1 - 1e-7))
    g = np.asarray(gamma, np.float64)
    w = -((1 - k) ** g) * np.log(k)
    dw = g * (1 - k) ** (g - 1) * np.log(k) - (1 - k) ** g / k
    return w, dw


# --- the functions, every adapter ------------------------------------------------------

UW_CASES = [
    dict(),
    dict(task_types=MIXED),
    dict(task_types=["classification"] * 3),
    dict(convention="simplified"),
    dict(task_types=MIXED, convention="simplified"),
]


@pytest.mark.parametrize("params", UW_CASES, ids=lambda p: "-".join(map(str, p.values())) or "default")
def test_uncertainty_weighting_matches_formula(adapter, rng, params):
    log_vars = rng.normal(size=3).astype(np.float32)
    want, want_dl, want_ds = uw_reference(LOSSES, log_vars, **params)
    value, (dl, ds) = adapter.value_and_grad(
        "uncertainty_weighting", LOSSES, log_vars, wrt=(0, 1), **params
    )
    assert value.shape == ()
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(dl, want_dl, rtol=1e-5)
    np.testing.assert_allclose(ds, want_ds, rtol=1e-5, atol=1e-6)


def test_uncertainty_weighting_sequence_of_scalars(adapter, rng):
    log_vars = rng.normal(size=3).astype(np.float32)
    scalars = [adapter.tensor(np.float32(v)) for v in LOSSES]
    value = adapter.fn("uncertainty_weighting")(scalars, adapter.tensor(log_vars), task_types=MIXED)
    want, _, _ = uw_reference(LOSSES, log_vars, task_types=MIXED)
    np.testing.assert_allclose(frameworks.to_numpy(value), want, rtol=1e-5)


@pytest.mark.parametrize("params", UW_CASES[:4], ids=lambda p: "-".join(map(str, p.values())) or "default")
def test_uncertainty_weighting_gradient_vanishes_at_known_optimum(adapter, params):
    s_star = optimum(LOSSES, **params).astype(np.float32)
    _, (ds,) = adapter.value_and_grad("uncertainty_weighting", LOSSES, s_star, wrt=(1,), **params)
    np.testing.assert_allclose(ds, 0.0, atol=1e-6)


def test_uncertainty_weighting_extremes_finite_and_nan_propagates(adapter):
    log_vars = np.float32([-30.0, 0.0, 30.0])
    value, (dl, ds) = adapter.value_and_grad(
        "uncertainty_weighting", LOSSES * 100, log_vars, wrt=(0, 1), task_types=MIXED
    )
    want, want_dl, want_ds = uw_reference(LOSSES * 100, log_vars, task_types=MIXED)
    assert np.isfinite(value) and np.isfinite(dl).all() and np.isfinite(ds).all()
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(ds, want_ds, rtol=1e-5)
    nan = adapter.call("uncertainty_weighting", np.float32([1.0, np.nan, 2.0]), np.zeros(3, np.float32))
    assert np.isnan(nan)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 0.5, 0.0, [0.5, 1.0, 2.0, 3.0]], ids=str)
def test_task_priority_weights_matches_formula(adapter, rng, gamma):
    kpis = rng.uniform(0.05, 0.95, size=4).astype(np.float32)
    want, want_grad = tpw_reference(kpis, gamma)
    value, (grad,) = adapter.value_and_grad("task_priority_weights", kpis, gamma=gamma)
    assert value.shape == (4,)
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


def test_task_priority_weights_gamma_as_tensor(adapter):
    kpis = np.float32([0.2, 0.7])
    gamma = adapter.tensor(np.float32([1.0, 3.0]))
    value = adapter.fn("task_priority_weights")(adapter.tensor(kpis), gamma=gamma)
    np.testing.assert_allclose(frameworks.to_numpy(value), tpw_reference(kpis, [1.0, 3.0])[0], rtol=1e-5)


def test_task_priority_weights_edges_finite(adapter):
    kpis = np.float32([0.0, 1e-12, 0.5, 1.0 - 1e-8, 1.0])
    value, (grad,) = adapter.value_and_grad("task_priority_weights", kpis, gamma=0.5)
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    np.testing.assert_allclose(value, tpw_reference(kpis, 0.5)[0], rtol=1e-4)
    assert value[0] > value[2] > value[4] >= 0  # bad tasks weigh more
    nan = adapter.call("task_priority_weights", np.float32([0.5, np.nan]))
    assert np.isnan(nan[1]) and np.isfinite(nan[0])


@pytest.mark.parametrize(
    "loss, args, params, match",
    [
        ("uncertainty_weighting", (LOSSES, np.zeros(2, np.float32)), {}, "log_vars"),
        ("uncertainty_weighting", (LOSSES, np.zeros((3, 1), np.float32)), {}, "log_vars"),
        ("uncertainty_weighting", (np.zeros((3, 2), np.float32), np.zeros(3, np.float32)), {}, "losses"),
        ("uncertainty_weighting", (LOSSES, np.zeros(3, np.float32)), {"task_types": ["regression"]}, "task_types"),
        ("uncertainty_weighting", (LOSSES, np.zeros(3, np.float32)), {"task_types": ["regression", "ranking", "regression"]}, "task_types"),
        ("uncertainty_weighting", (LOSSES, np.zeros(3, np.float32)), {"convention": "libmtl"}, "convention"),
        ("task_priority_weights", (np.float32([0.5, 0.5]),), {"gamma": -1.0}, "gamma"),
        ("task_priority_weights", (np.float32([0.5, 0.5]),), {"gamma": [1.0, 2.0, 3.0]}, "gamma"),
        ("task_priority_weights", (np.float32([[0.5, 0.5]]),), {}, "kpis"),
    ],
)
def test_invalid_arguments_raise(adapter, loss, args, params, match):
    with pytest.raises(ValueError, match=match):
        adapter.call(loss, *args, **params)


def test_task_types_must_be_a_sequence(adapter):
    with pytest.raises(TypeError, match="task_types"):
        adapter.call("uncertainty_weighting", LOSSES, np.zeros(3, np.float32), task_types="regression")


# --- the stateful classes, every adapter -----------------------------------------------

class Stateful:
    """A stateful multiloss object of one adapter, driven from NumPy."""

    def __init__(self, adapter, class_name, *args, **kwargs):
        self.adapter = adapter
        self.spec = stateful_registry()[class_name]
        self.obj = getattr(adapter.module, class_name)(*args, **kwargs)
        self.state = self.obj.init() if adapter.name == "jax" else None

    def variable(self, name):
        if self.adapter.name == "jax":
            return self.state[name]
        return getattr(self.obj, name)

    def get(self, name) -> np.ndarray:
        var = self.variable(name)
        if self.adapter.name == "keras":
            import keras

            return keras.ops.convert_to_numpy(var.value).astype(np.float64)
        return frameworks.to_numpy(var).astype(np.float64)

    def set(self, name, value):
        value = np.asarray(value, np.float32)
        if self.adapter.name == "jax":
            self.state = {**self.state, name: self.adapter.tensor(value)}
        elif self.adapter.name == "torch":
            import torch

            with torch.no_grad():
                self.variable(name).copy_(torch.from_numpy(value))
        else:
            self.variable(name).assign(value)

    def trainable_names(self) -> list[str]:
        name = self.adapter.name
        if name == "jax":  # the user decides what is trained: the spec says what should be
            return [v.name for v in self.spec.state if v.trainable]
        if name == "torch":
            return [n for n, _ in self.obj.named_parameters()]
        if name == "keras":
            return [w.name for w in self.obj.trainable_weights]
        return [v.name.split("/")[-1].split(":")[0] for v in self.obj.trainable_variables]

    def value_and_grad(self, *arrays):
        """Call the object on NumPy inputs: value, {trainable name: grad}, [input grads]."""
        names = self.trainable_names()
        inputs = [self.adapter.tensor(np.asarray(a, np.float32)) for a in arrays]
        fw = self.adapter.framework
        if self.adapter.name == "jax" or (self.adapter.name == "keras" and fw == "jax"):
            import jax

            value, grads = self._jax_value_and_grad(jax, names, inputs)
        elif fw == "torch":
            import torch

            params = [self._torch_param(n) for n in names]
            for t in inputs:
                t.requires_grad_(True)
            value = self.obj(*inputs)
            grads = torch.autograd.grad(value, params + inputs, allow_unused=True)
        else:
            import tensorflow as tf

            variables = [self.variable(n) for n in names]
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                value = self.obj(*inputs)
            grads = tape.gradient(value, variables + inputs)
        grads = [
            np.zeros(np.shape(a)) if g is None else frameworks.to_numpy(g).astype(np.float64)
            for a, g in zip([self.get(n) for n in names] + list(arrays), grads, strict=True)
        ]
        value = frameworks.to_numpy(value).astype(np.float64)
        return value, dict(zip(names, grads[: len(names)], strict=True)), grads[len(names):]

    def _torch_param(self, name):
        var = self.variable(name)
        return var.value if self.adapter.name == "keras" else var

    def _jax_value_and_grad(self, jax, names, inputs):
        if self.adapter.name == "jax":
            def f(train, *ins):
                return self.obj.apply({**self.state, **train}, *ins)

            train = {n: self.state[n] for n in names}
            (value, new_state), grads = jax.value_and_grad(
                f, argnums=tuple(range(1 + len(inputs))), has_aux=True
            )(train, *inputs)
            self.state = new_state
            return value, [grads[0][n] for n in names] + list(grads[1:])
        layer = self.obj  # a Keras layer on the jax backend: stateless_call
        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def f(train, *ins):
            return layer.stateless_call(train, non_trainable, *ins)

        (value, new_non_trainable), grads = jax.value_and_grad(
            f, argnums=tuple(range(1 + len(inputs))), has_aux=True
        )(trainable, *inputs)
        for var, new in zip(layer.non_trainable_variables, new_non_trainable, strict=True):
            var.assign(new)
        return value, list(grads[0]) + list(grads[1:])


def test_uncertainty_weighting_class_native_state(adapter):
    w = Stateful(adapter, "UncertaintyWeighting", 3, task_types=MIXED)
    assert w.trainable_names() == ["log_vars"]
    np.testing.assert_array_equal(w.get("log_vars"), np.zeros(3))
    if adapter.name == "keras":
        import keras

        assert isinstance(w.obj, keras.layers.Layer)
    elif adapter.name == "torch":
        import torch

        assert isinstance(w.obj, torch.nn.Module)
        assert isinstance(w.obj.log_vars, torch.nn.Parameter)
    elif adapter.name == "tensorflow":
        import tensorflow as tf

        assert isinstance(w.obj, tf.Module) and isinstance(w.obj.log_vars, tf.Variable)


@pytest.mark.parametrize("params", UW_CASES[:4], ids=lambda p: "-".join(map(str, p.values())) or "default")
def test_uncertainty_weighting_class_values_and_gradients(adapter, rng, params):
    w = Stateful(adapter, "UncertaintyWeighting", 3, **params)
    log_vars = rng.normal(size=3).astype(np.float32)
    w.set("log_vars", log_vars)
    value, grads, (dl,) = w.value_and_grad(LOSSES)
    want, want_dl, want_ds = uw_reference(LOSSES, log_vars, **params)
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(grads["log_vars"], want_ds, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dl, want_dl, rtol=1e-5)


def test_uncertainty_weighting_class_checks_its_arguments(adapter):
    cls = adapter.module.UncertaintyWeighting
    with pytest.raises(ValueError, match="num_tasks"):
        cls(0)
    with pytest.raises(ValueError, match="task_types"):
        cls(3, task_types=["regression", "classification"])
    with pytest.raises(TypeError):
        cls(3, typo=1)
    w = Stateful(adapter, "UncertaintyWeighting", 3)
    with pytest.raises(ValueError, match="losses"):
        w.value_and_grad(np.ones(2, np.float32))


def test_dynamic_task_priority_moving_average_and_constant_weights(adapter, rng):
    momentum, gamma = 0.3, [1.0, 2.0, 0.5]
    p = Stateful(adapter, "DynamicTaskPriority", 3, gamma=gamma, momentum=momentum)
    assert p.trainable_names() == []
    average = None
    for kpis in (np.float32([0.9, 0.2, 0.5]), np.float32([0.6, 0.4, 1.5]), np.float32([0.1, 0.8, -0.2])):
        losses = rng.uniform(0.5, 2.0, size=3).astype(np.float32)
        value, _, (dl, dk) = p.value_and_grad(losses, kpis)
        clipped = np.clip(kpis.astype(np.float64), np.float32(1e-7), np.float32(1 - 1e-7))
        average = clipped if average is None else momentum * clipped + (1 - momentum) * average
        weights, _ = tpw_reference(average, gamma)
        np.testing.assert_allclose(p.get("kpi_average"), average, rtol=1e-5)
        np.testing.assert_allclose(value, np.sum(weights * losses), rtol=1e-5)
        np.testing.assert_allclose(dl, weights, rtol=1e-5)  # the weights, held constant
        np.testing.assert_array_equal(dk, 0.0)  # nothing flows into the KPIs


def test_dynamic_task_priority_checks_its_arguments(adapter):
    cls = adapter.module.DynamicTaskPriority
    with pytest.raises(ValueError, match="num_tasks"):
        cls(-1)
    with pytest.raises(ValueError, match="momentum"):
        cls(2, momentum=1.5)
    with pytest.raises(ValueError, match="gamma"):
        cls(2, gamma=[1.0, 2.0, 3.0])
    p = Stateful(adapter, "DynamicTaskPriority", 2)
    with pytest.raises(ValueError, match="kpis"):
        p.value_and_grad(np.ones(2), np.full(3, 0.5))


# --- training the weighting alone reaches the known optimum ----------------------------

TRAIN_CASES = [(None, "kendall"), (MIXED, "kendall"), (None, "simplified")]
STEPS, LR = 300, 0.1


@pytest.mark.parametrize("task_types, convention", TRAIN_CASES)
def test_torch_adam_reaches_optimum(task_types, convention):
    import torch

    import multiloss.torch as mlt

    w = mlt.UncertaintyWeighting(3, task_types=task_types, convention=convention)
    opt = torch.optim.Adam(w.parameters(), lr=LR)
    losses = torch.from_numpy(LOSSES)
    for _ in range(STEPS):
        opt.zero_grad()
        w(losses).backward()
        opt.step()
    np.testing.assert_allclose(w.log_vars.detach().numpy(), optimum(LOSSES, task_types, convention), atol=1e-4)


@pytest.mark.parametrize("task_types, convention", TRAIN_CASES)
def test_jax_optax_adam_reaches_optimum(task_types, convention):
    import jax
    import optax

    import multiloss.jax as mlj

    w = mlj.UncertaintyWeighting(3, task_types=task_types, convention=convention)
    params = {"weighting": w.init()}  # log_vars live in the user's parameter pytree
    opt = optax.adam(LR)
    opt_state = opt.init(params)

    @jax.jit
    def step(params, opt_state):
        grads = jax.grad(lambda p: w.apply(p["weighting"], LOSSES)[0])(params)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state

    for _ in range(STEPS):
        params, opt_state = step(params, opt_state)
    np.testing.assert_allclose(
        np.asarray(params["weighting"]["log_vars"]), optimum(LOSSES, task_types, convention), atol=1e-4
    )


def test_tensorflow_gradient_descent_reaches_optimum():
    import tensorflow as tf

    import multiloss.tensorflow as mltf

    w = mltf.UncertaintyWeighting(3, task_types=MIXED)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            total = w(tf.constant(LOSSES))
        (grad,) = tape.gradient(total, w.trainable_variables)
        w.log_vars.assign_sub(0.5 * grad)

    for _ in range(200):
        step()
    np.testing.assert_allclose(w.log_vars.numpy(), optimum(LOSSES, MIXED), atol=1e-4)


def _keras_weighting_model():
    import keras

    import multiloss.keras as mlk

    @keras.saving.register_keras_serializable(package="multiloss_tests")
    class WeightingOnly(keras.Model):
        """Trains nothing but the weighting, on fixed task losses."""

        def __init__(self, task_losses, task_types=None, convention="kendall", **kwargs):
            super().__init__(**kwargs)
            self.task_losses = list(task_losses)
            self.task_types = task_types
            self.convention = convention
            self.weighting = mlk.UncertaintyWeighting(
                len(self.task_losses), task_types=task_types, convention=convention
            )

        def build(self, input_shape):
            pass  # the weighting's log_vars exist from __init__

        def call(self, x):
            return x

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return self.weighting(keras.ops.convert_to_tensor(self.task_losses, "float32"))

        def get_config(self):
            return {
                **super().get_config(),
                "task_losses": self.task_losses,
                "task_types": self.task_types,
                "convention": self.convention,
            }

    return WeightingOnly


@pytest.mark.slow
@pytest.mark.parametrize("task_types, convention", TRAIN_CASES)
def test_keras_adam_reaches_optimum_and_reloads(tmp_path, task_types, convention):
    import keras

    model = _keras_weighting_model()(LOSSES.tolist(), task_types=task_types, convention=convention)
    model.compile(optimizer=keras.optimizers.Adam(LR))
    model.fit(np.zeros((STEPS, 1), np.float32), batch_size=1, epochs=1, verbose=0, shuffle=False)
    learned = keras.ops.convert_to_numpy(model.weighting.log_vars.value)
    np.testing.assert_allclose(learned, optimum(LOSSES, task_types, convention), atol=1e-4)

    path = tmp_path / "weighting.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.weighting).__name__ == "UncertaintyWeighting"
    assert reloaded.weighting.get_config()["convention"] == convention
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded.weighting.log_vars.value), learned)


# --- DynamicTaskPriority state: non-trainable, saved, traceable ------------------------

DTP_CALLS = [  # (losses, kpis); the third KPIs lie outside (0, 1)
    (np.float32([1.0, 2.0, 0.5]), np.float32([0.9, 0.2, 0.5])),
    (np.float32([0.5, 1.5, 1.0]), np.float32([0.6, 0.4, 0.7])),
    (np.float32([2.0, 0.1, 3.0]), np.float32([1.3, 0.8, -0.2])),
]


def dtp_reference(momentum=0.5, gamma=1.0):
    """Outputs and KPI averages of DTP_CALLS, the EMA in float64 NumPy."""
    average, outputs, averages = None, [], []
    for losses, kpis in DTP_CALLS:
        k = np.clip(kpis.astype(np.float64), np.float32(1e-7), np.float32(1 - 1e-7))
        average = k if average is None else momentum * k + (1 - momentum) * average
        outputs.append(np.sum(tpw_reference(average, gamma)[0] * losses))
        averages.append(average)
    return outputs, averages


@pytest.mark.cross_framework
def test_dynamic_task_priority_torch_buffers_in_state_dict():
    import torch

    import multiloss.torch as mlt

    p = mlt.DynamicTaskPriority(3, momentum=0.5)
    assert list(p.parameters()) == []
    assert set(dict(p.named_buffers())) == {"kpi_average", "initialized"}
    for losses, kpis in DTP_CALLS:
        p(torch.from_numpy(losses), torch.from_numpy(kpis))
    state = p.state_dict()
    assert set(state) == {"kpi_average", "initialized"}
    restored = mlt.DynamicTaskPriority(3, momentum=0.5)
    restored.load_state_dict(state)
    np.testing.assert_allclose(restored.kpi_average.numpy(), dtp_reference()[1][-1], rtol=1e-6)
    assert float(restored.initialized) == 1.0


def test_dynamic_task_priority_keras_weights_non_trainable():
    import multiloss.keras as mlk

    p = mlk.DynamicTaskPriority(3)
    assert p.trainable_weights == []
    assert sorted(w.name for w in p.non_trainable_weights) == ["initialized", "kpi_average"]


@pytest.mark.cross_framework
def test_dynamic_task_priority_tf_module_in_tf_function():
    import tensorflow as tf

    import multiloss.tensorflow as mltf

    p = mltf.DynamicTaskPriority(3, gamma=2.0, momentum=0.3)
    assert p.trainable_variables == () and len(p.variables) == 2
    assert not any(v.trainable for v in p.variables)
    step = tf.function(lambda losses, kpis: p(losses, kpis))
    outputs, averages = dtp_reference(momentum=0.3, gamma=2.0)
    for (losses, kpis), want, average in zip(DTP_CALLS, outputs, averages, strict=True):
        np.testing.assert_allclose(step(tf.constant(losses), tf.constant(kpis)).numpy(), want, rtol=1e-5)
        np.testing.assert_allclose(p.kpi_average.numpy(), average, rtol=1e-5)


@pytest.mark.cross_framework
def test_dynamic_task_priority_jax_apply_is_pure_and_jits():
    import jax

    import multiloss.jax as mlj

    p = mlj.DynamicTaskPriority(3, momentum=0.5)
    initial = p.init()
    jitted = jax.jit(p.apply)
    outputs, averages = dtp_reference()
    state = initial
    for (losses, kpis), want, average in zip(DTP_CALLS, outputs, averages, strict=True):
        before = {k: np.asarray(v) for k, v in state.items()}
        eager_out, eager_state = p.apply(state, losses, kpis)
        out, new_state = jitted(state, losses, kpis)
        for k, v in state.items():  # the input state is left as it was
            np.testing.assert_array_equal(np.asarray(v), before[k])
        again, _ = p.apply(state, losses, kpis)  # same inputs, same result
        np.testing.assert_array_equal(np.asarray(again), np.asarray(eager_out))
        np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(eager_out), want, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(new_state["kpi_average"]), average, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(eager_state["kpi_average"]), average, rtol=1e-5)
        state = new_state
    np.testing.assert_array_equal(np.asarray(initial["kpi_average"]), 0.0)


# --- DynamicWeightAverage (Liu et al. 2019, MTAN) ---------------------------------------

DWA_FLOOR = np.float32(1.1754944e-38)  # both losses of a ratio are floored here (DWA_FLOOR)


def dwa_reference(calls, temperature=2.0):
    """The MTAN recurrence in float64 NumPy: at call k, w = K·softmax(r/T) with
    r_t = L_t(k−1)/L_t(k−2) (losses floored at DWA_FLOOR), all weights 1 for k < 2
    (the reference code's ``lambda_weight``, per call instead of per epoch). Returns the
    outputs and the weights of every call."""
    history, outputs, weights = [], [], []
    for losses in calls:
        losses = np.asarray(losses, np.float64)
        if len(history) >= 2:
            r = np.maximum(history[-1], DWA_FLOOR) / np.maximum(history[-2], DWA_FLOOR)
            e = np.exp((r - r.max()) / temperature)
            w = len(losses) * e / e.sum()
        else:
            w = np.ones(len(losses))
        outputs.append(np.sum(w * losses))
        weights.append(w)
        history.append(losses)
    return outputs, weights


DWA_CALLS = [  # (K = 3) losses falling at different rates, then one rising
    np.float32([1.0, 2.0, 0.5]),
    np.float32([0.8, 1.9, 0.45]),
    np.float32([0.5, 1.8, 0.44]),
    np.float32([0.4, 1.0, 0.6]),
    np.float32([0.35, 0.9, 0.5]),
]


@pytest.mark.parametrize("temperature", [2.0, 0.5, 10.0])
def test_dynamic_weight_average_follows_the_mtan_recurrence(adapter, temperature):
    dwa = Stateful(adapter, "DynamicWeightAverage", 3, temperature=temperature)
    assert dwa.trainable_names() == []
    outputs, weights = dwa_reference(DWA_CALLS, temperature)
    for k, losses in enumerate(DWA_CALLS):
        value, _, (dl,) = dwa.value_and_grad(losses)
        np.testing.assert_allclose(value, outputs[k], rtol=1e-6, err_msg=f"call {k}")
        np.testing.assert_allclose(dl, weights[k], rtol=1e-6, err_msg=f"call {k}")  # w, held constant
        np.testing.assert_allclose(dwa.get("previous_losses"), losses, rtol=0)
        if k:
            np.testing.assert_allclose(dwa.get("earlier_losses"), DWA_CALLS[k - 1], rtol=0)
        assert dwa.get("calls") == k + 1
    assert not np.allclose(weights[-1], 1.0)  # the weights did move


def test_dynamic_weight_average_guards_zero_losses_and_keeps_nan(adapter):
    calls = [np.float32([0.0, 1.0, 0.0]), np.float32([1.0, 1.0, 0.0]), np.float32([2.0, 3.0, 1e30]),
             np.float32([1.0, 1.0, 1.0]), np.float32([1.0, 1.0, 1.0])]
    for temperature in (2.0, 1e-30):  # a tiny T: r/T overflows unless shifted first
        dwa = Stateful(adapter, "DynamicWeightAverage", 3, temperature=temperature)
        outputs, weights = dwa_reference(calls, temperature)
        for k, losses in enumerate(calls):
            value, _, (dl,) = dwa.value_and_grad(losses)
            assert np.isfinite(value) and np.all(np.isfinite(dl)), (temperature, k, value, dl)
            np.testing.assert_allclose(dl, weights[k], rtol=1e-6, atol=1e-30)
            np.testing.assert_allclose(value, outputs[k], rtol=1e-6)
    dwa = Stateful(adapter, "DynamicWeightAverage", 2)
    for losses in ([1.0, np.nan], [1.0, 1.0], [1.0, 1.0]):
        value, _, _ = dwa.value_and_grad(np.float32(losses))
    assert np.isnan(value)  # a stored NaN loss reaches the weights


def test_dynamic_weight_average_takes_a_sequence_of_scalars(adapter):
    dwa = adapter.module.DynamicWeightAverage(3)
    outputs, _ = dwa_reference(DWA_CALLS)
    state = dwa.init() if adapter.name == "jax" else None
    for losses, want in zip(DWA_CALLS, outputs, strict=True):
        scalars = [adapter.tensor(np.float32(v)) for v in losses]
        if adapter.name == "jax":
            value, state = dwa.apply(state, scalars)
        else:
            value = dwa(scalars)
        np.testing.assert_allclose(frameworks.to_numpy(value), want, rtol=1e-6)


def test_dynamic_weight_average_checks_its_arguments(adapter):
    cls = adapter.module.DynamicWeightAverage
    with pytest.raises(ValueError, match="num_tasks"):
        cls(0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        cls(2, temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        cls(2, temperature=-1.0)
    with pytest.raises(TypeError, match="temperature"):
        cls(2, temperature="2")
    with pytest.raises(TypeError):
        cls(2, momentum=0.5)
    dwa = Stateful(adapter, "DynamicWeightAverage", 2)
    with pytest.raises(ValueError, match=r"losses .*\(2\).*\(3,\)"):
        dwa.value_and_grad(np.ones(3, np.float32))


@pytest.mark.cross_framework
def test_dynamic_weight_average_torch_buffers_state_dict_and_compile():
    import torch

    import multiloss.torch as mlt

    outputs, _ = dwa_reference(DWA_CALLS)
    dwa = mlt.DynamicWeightAverage(3)
    assert list(dwa.parameters()) == []
    assert set(dict(dwa.named_buffers())) == {"previous_losses", "earlier_losses", "calls"}
    for losses in DWA_CALLS[:3]:
        dwa(torch.from_numpy(losses))
    restored = mlt.DynamicWeightAverage(3)
    restored.load_state_dict(dwa.state_dict())
    assert float(restored.calls) == 3.0
    compiled = torch.compile(restored, fullgraph=True, backend="aot_eager")
    for losses, want in zip(DWA_CALLS[3:], outputs[3:], strict=True):
        x = torch.from_numpy(losses).requires_grad_(True)
        out = compiled(x)
        (grad,) = torch.autograd.grad(out, x)
        np.testing.assert_allclose(out.detach().item(), want, rtol=1e-6)
        np.testing.assert_allclose(out.item(), float((grad * x).detach().sum()), rtol=1e-6)  # Σ w·L, w constant
    np.testing.assert_array_equal(restored.previous_losses.numpy(), DWA_CALLS[-1])
    np.testing.assert_array_equal(restored.earlier_losses.numpy(), DWA_CALLS[-2])


@pytest.mark.cross_framework
def test_dynamic_weight_average_tf_function_and_jax_jit():
    import jax
    import tensorflow as tf

    import multiloss.jax as mlj
    import multiloss.tensorflow as mltf

    outputs, _ = dwa_reference(DWA_CALLS)
    dwa = mltf.DynamicWeightAverage(3)
    assert dwa.trainable_variables == () and len(dwa.variables) == 3
    step = tf.function(lambda losses: dwa(losses), jit_compile=True)
    for losses, want in zip(DWA_CALLS, outputs, strict=True):
        np.testing.assert_allclose(step(tf.constant(losses)).numpy(), want, rtol=1e-6)
    np.testing.assert_array_equal(dwa.earlier_losses.numpy(), DWA_CALLS[-2])

    jdwa = mlj.DynamicWeightAverage(3)
    state = initial = jdwa.init()
    jitted = jax.jit(jdwa.apply)
    for losses, want in zip(DWA_CALLS, outputs, strict=True):
        grad, _ = jax.grad(lambda ls, s: jdwa.apply(s, ls), has_aux=True)(losses, state)
        out, state = jitted(state, losses)
        np.testing.assert_allclose(np.asarray(out), want, rtol=1e-6)
        np.testing.assert_allclose(float(np.sum(np.asarray(grad) * losses)), want, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(initial["calls"]), 0.0)  # apply is pure
    assert float(state["calls"]) == len(DWA_CALLS)


def _keras_dwa_model():
    import keras

    import multiloss.keras as mlk

    @keras.saving.register_keras_serializable(package="multiloss_tests")
    class WithDWA(keras.Model):
        def __init__(self, num_tasks=3, temperature=2.0, **kwargs):
            super().__init__(**kwargs)
            self.num_tasks, self.temperature = num_tasks, temperature
            self.weighting = mlk.DynamicWeightAverage(num_tasks, temperature=temperature)

        def build(self, input_shape):
            pass  # the weighting's state exists from __init__

        def call(self, losses):
            return self.weighting(losses)

        def get_config(self):
            return {**super().get_config(), "num_tasks": self.num_tasks, "temperature": self.temperature}

    return WithDWA


def test_dynamic_weight_average_keras_state_saved_and_reloaded(tmp_path):
    import keras

    model = _keras_dwa_model()(3, temperature=0.5)
    assert model.weighting.trainable_weights == []
    assert sorted(w.name for w in model.weighting.non_trainable_weights) == [
        "calls", "earlier_losses", "previous_losses",
    ]
    outputs, _ = dwa_reference(DWA_CALLS, 0.5)
    for losses in DWA_CALLS[:3]:
        model(keras.ops.convert_to_tensor(losses))
    path = tmp_path / "dwa.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.weighting).__name__ == "DynamicWeightAverage"
    assert reloaded.weighting.get_config()["temperature"] == 0.5
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded.weighting.previous_losses.value), DWA_CALLS[2])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded.weighting.earlier_losses.value), DWA_CALLS[1])
    for losses, want in zip(DWA_CALLS[3:], outputs[3:], strict=True):  # it continues where it stopped
        out = reloaded(keras.ops.convert_to_tensor(losses))
        np.testing.assert_allclose(float(keras.ops.convert_to_numpy(out)), want, rtol=1e-6)
