"""Native behaviour in each framework: autograd, devices and modules in PyTorch,
``torch.compile``; ``jit``/``grad``/``vmap`` in JAX; eager, ``tf.function`` and XLA in
TensorFlow.

The torch, jax and tensorflow adapter tests behave the same under every
``KERAS_BACKEND``, so they are marked ``cross_framework`` (run once); the Keras adapter is
checked natively on the backend of each session (``test_keras_adapter_*``).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from loss_cases import all_case_params, cases_for

import multiloss.torch as mt
from multiloss import core
from multiloss.verify import frameworks

cross_framework = pytest.mark.cross_framework
BACKEND = keras.config.backend()

LOGITS = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0], [-1.0, 0.0, 4.0], [0.3, 0.2, 0.1]], np.float32)
LABELS = np.array([1, 2, 0, 2])
CLASS_WEIGHT = [0.5, 2.0, 1.0]


def _ce_params():
    return dict(class_weight=CLASS_WEIGHT, label_smoothing=0.1)


def _torch_reference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    weight = torch.tensor(CLASS_WEIGHT, dtype=x.dtype, device=x.device)
    return F.cross_entropy(x, y, weight=weight, label_smoothing=0.1)


# --- PyTorch -------------------------------------------------------------------------


@cross_framework
def test_torch_result_keeps_autograd():
    x = torch.tensor(LOGITS, requires_grad=True)
    y = torch.tensor(LABELS)
    out = mt.cross_entropy(x, y, **_ce_params())
    assert isinstance(out, torch.Tensor) and out.requires_grad and out.grad_fn is not None
    out.backward()
    xr = torch.tensor(LOGITS, requires_grad=True)
    _torch_reference(xr, y).backward()
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-5, atol=1e-6)


@cross_framework
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_torch_dtype_in_dtype_out(dtype):
    x = torch.tensor(LOGITS, dtype=dtype, requires_grad=True)
    for out in (
        mt.cross_entropy(x, torch.tensor(LABELS), **_ce_params()),
        mt.binary_cross_entropy(x, (x > 0.5).to(dtype), alpha=0.3, reduction="none"),
    ):
        assert out.dtype == dtype
        (grad,) = torch.autograd.grad(out.float().sum(), x)
        assert grad.dtype == dtype and torch.isfinite(grad).all()


def _check_device(device: str) -> None:
    x = torch.tensor(LOGITS, device=device, requires_grad=True)
    y = torch.tensor(LABELS, device=device)
    out = mt.cross_entropy(x, y, **_ce_params())
    assert out.device == x.device
    out.backward()
    assert x.grad.device == x.device
    xr = torch.tensor(LOGITS, device=device, requires_grad=True)
    want = _torch_reference(xr, y)
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-6)
    targets = (x.detach() > 0.5).float()
    module = mt.BinaryCrossEntropy(alpha=0.3, reduction="none")
    assert module(x, targets).device == x.device


@cross_framework
def test_torch_result_on_cpu_input_device():
    _check_device("cpu")


@cross_framework
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_result_on_cuda_input_device():
    _check_device("cuda")


@cross_framework
def test_torch_parameters_follow_an_input_off_keras_default_device():
    # "meta" stands in for a device other than Keras' default on a CPU-only machine:
    # per-class parameters (lists) must be created on the input's device, not Keras'.
    x = torch.empty(4, 3, device="meta", requires_grad=True)
    y = torch.empty(4, 3, device="meta")
    assert mt.cross_entropy(x, y, **_ce_params()).device.type == "meta"
    assert mt.binary_cross_entropy(x, y, alpha=0.3).device.type == "meta"


@cross_framework
def test_torch_modules():
    module = mt.CrossEntropy(class_weight=CLASS_WEIGHT, label_smoothing=0.1)
    assert isinstance(module, torch.nn.Module)
    assert list(module.parameters()) == []
    text = repr(module)
    assert text.startswith("CrossEntropy(") and "label_smoothing=0.1" in text and "class_weight=[0.5, 2.0, 1.0]" in text
    x = torch.tensor(LOGITS, requires_grad=True)
    y = torch.tensor(LABELS)
    out = module(x, y)
    torch.testing.assert_close(out, _torch_reference(x, y), rtol=1e-5, atol=1e-6)
    assert out.grad_fn is not None
    for name, spec in core.registry().items():
        if spec.class_name:
            assert issubclass(getattr(mt, spec.class_name), torch.nn.Module), name


@cross_framework
def test_torch_compile_fullgraph_inductor():
    compiled = torch.compile(lambda x, y: mt.cross_entropy(x, y, **_ce_params()), fullgraph=True)
    x = torch.tensor(LOGITS, requires_grad=True)
    y = torch.tensor(LABELS)
    out = compiled(x, y)
    (grad,) = torch.autograd.grad(out, x)
    xr = torch.tensor(LOGITS, requires_grad=True)
    want = _torch_reference(xr, y)
    (want_grad,) = torch.autograd.grad(want, xr)
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, want_grad, rtol=1e-5, atol=1e-6)


@cross_framework
@pytest.mark.parametrize("loss", ["cross_entropy", "mean_squared_error", "sigmoid_focal_loss"])
def test_torch_compile_fullgraph_unreduced(loss):
    """``reduction="none"`` traces whole too (the Keras adapter's collection of counted
    entries is not consulted outside it)."""
    (case,) = [c for c in cases_for(loss) if c.label != "ids"][:1]
    fn = getattr(mt, loss)
    compiled = torch.compile(lambda *t: fn(*t, **case.params, reduction="none"),
                             fullgraph=True, backend="aot_eager")
    try:
        tensors = [frameworks.to_tensor("torch", a) for a in case.arrays]
        torch.testing.assert_close(compiled(*tensors), fn(*tensors, **case.params, reduction="none"))
    finally:
        torch._dynamo.reset()


@cross_framework
@pytest.mark.parametrize("case", all_case_params())
def test_torch_compile_fullgraph_traces_every_loss(case):
    # aot_eager: Dynamo and AOTAutograd trace the whole graph (fullgraph=True raises
    # at any graph break) without Inductor's code generation, which is slow on CPU.
    fn = getattr(mt, case.loss)
    compiled = torch.compile(lambda *t: fn(*t, **case.params), fullgraph=True, backend="aot_eager")
    try:
        for run in (compiled, lambda *t: fn(*t, **case.params)):
            tensors = [frameworks.to_tensor("torch", a) for a in case.arrays]
            for i in case.grad_args:
                tensors[i].requires_grad_(True)
            out = run(*tensors)
            grads = torch.autograd.grad(out.float().sum(), [tensors[i] for i in case.grad_args])
            if run is compiled:
                got = (out, grads)
        torch.testing.assert_close(got[0], out, rtol=1e-5, atol=1e-6)
        for g, want in zip(got[1], grads, strict=False):
            torch.testing.assert_close(g, want, rtol=1e-5, atol=1e-6)
    finally:
        torch._dynamo.reset()


# --- JAX -----------------------------------------------------------------------------


def _torch_value_and_grad(case, arrays=None):
    """Eager torch adapter: the reference for the compiled JAX and TensorFlow runs."""
    fn = getattr(mt, case.loss)
    return frameworks.value_and_grad(
        "torch", lambda *t: fn(*t, **case.params), arrays or case.arrays, case.grad_args
    )


@cross_framework
@pytest.mark.parametrize("case", all_case_params())
def test_jax_jit_grad_and_vmap(case):
    import jax
    import jax.numpy as jnp

    import multiloss.jax as mj

    fn = getattr(mj, case.loss)
    tensors = [jnp.asarray(a) for a in case.arrays]

    def total(*diff):
        full = list(tensors)
        for i, d in zip(case.grad_args, diff, strict=False):
            full[i] = d
        out = fn(*full, **case.params)
        return out.astype("float32").sum(), out

    diff = [tensors[i] for i in case.grad_args]
    grads, value = jax.jit(jax.grad(total, argnums=tuple(range(len(diff))), has_aux=True))(*diff)
    want, want_grads = _torch_value_and_grad(case)
    np.testing.assert_allclose(np.asarray(value), want, rtol=1e-5, atol=1e-6)
    for g, w in zip(grads, want_grads, strict=False):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-6)

    # vmap over a leading batch of two different inputs == one call per input.
    second = [a[::-1].copy() if a.ndim else a for a in case.arrays]
    batched = [jnp.stack([jnp.asarray(a), jnp.asarray(b)]) for a, b in zip(case.arrays, second, strict=False)]
    out = jax.jit(jax.vmap(lambda *t: fn(*t, **case.params)))(*batched)
    for k, arrays in enumerate((case.arrays, second)):
        want, _ = _torch_value_and_grad(case, arrays)
        np.testing.assert_allclose(np.asarray(out[k]), want, rtol=1e-5, atol=1e-6)


@cross_framework
def test_jax_jit_with_static_params_and_traced_class_weight():
    import jax
    import jax.numpy as jnp

    import multiloss.jax as mj

    static = ("label_smoothing", "ignore_index", "reduction", "axis")
    jitted = jax.jit(mj.cross_entropy, static_argnames=static)
    x, y, w = jnp.asarray(LOGITS), jnp.asarray(LABELS), jnp.asarray(CLASS_WEIGHT)
    params = dict(label_smoothing=0.1, ignore_index=2, reduction="sum", axis=-1)
    got = jitted(x, y, class_weight=w, **params)
    want = F.cross_entropy(
        torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(LABELS),
        weight=torch.tensor(CLASS_WEIGHT, dtype=torch.float64), ignore_index=2,
        label_smoothing=0.1, reduction="sum",
    )
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-5)
    # class_weight traced (differentiated) inside jit
    grad_w = jax.jit(jax.grad(lambda w: mj.cross_entropy(x, y, class_weight=w, reduction="sum")))(w)
    assert grad_w.shape == (3,) and np.all(np.isfinite(np.asarray(grad_w)))


# --- TensorFlow ----------------------------------------------------------------------


def _tf_value_and_grads(fn, case):
    import tensorflow as tf

    def value_and_grads(*tensors):
        with tf.GradientTape() as tape:
            for i in case.grad_args:
                tape.watch(tensors[i])
            out = fn(*tensors, **case.params)
            total = tf.reduce_sum(tf.cast(out, tf.float32))
        return out, tape.gradient(total, [tensors[i] for i in case.grad_args])

    return value_and_grads


@cross_framework
@pytest.mark.parametrize("case", all_case_params())
def test_tensorflow_xla_with_gradient_tape(case):
    import tensorflow as tf

    import multiloss.tensorflow as mtf

    step = tf.function(_tf_value_and_grads(getattr(mtf, case.loss), case), jit_compile=True)
    out, grads = step(*(tf.constant(a) for a in case.arrays))
    want, want_grads = _torch_value_and_grad(case)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-6)
    for g, w in zip(grads, want_grads, strict=False):
        assert g is not None
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-6)


@cross_framework
@pytest.mark.parametrize("mode", ["eager", "tf.function", "xla"])
def test_tensorflow_modes(mode):
    import tensorflow as tf

    import multiloss.tensorflow as mtf

    def step(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = mtf.cross_entropy(x, y, **_ce_params())
        return value, tape.gradient(value, x)

    if mode != "eager":
        step = tf.function(step, jit_compile=mode == "xla")
    value, grad = step(tf.constant(LOGITS), tf.constant(LABELS))
    xr = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    want = _torch_reference(xr, torch.tensor(LABELS))
    (want_grad,) = torch.autograd.grad(want, xr)
    np.testing.assert_allclose(value.numpy(), want.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(grad.numpy(), want_grad.numpy(), rtol=1e-5, atol=1e-7)


@cross_framework
def test_tensorflow_function_with_unknown_batch_size():
    import tensorflow as tf

    import multiloss.tensorflow as mtf

    @tf.function(
        input_signature=[tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([None], tf.int64)],
        jit_compile=True,
    )
    def loss(x, y):
        return mtf.cross_entropy(x, y, **_ce_params())

    got = loss(tf.constant(LOGITS), tf.constant(LABELS))
    want = _torch_reference(torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(LABELS))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)


# --- Keras adapter on this session's backend ------------------------------------------


def test_keras_adapter_native_on_current_backend():
    """``multiloss.keras`` functions are the backend's own: traced by its compiler."""
    import multiloss.keras as mk

    def loss(x, y):
        return mk.cross_entropy(y, x, reduction="mean", **_ce_params())

    xr = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    want = _torch_reference(xr, torch.tensor(LABELS))
    (want_grad,) = torch.autograd.grad(want, xr)
    if BACKEND == "torch":
        compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
        x = torch.tensor(LOGITS, requires_grad=True)
        value = compiled(x, torch.tensor(LABELS))
        (grad,) = torch.autograd.grad(value, x)
        value, grad = value.detach().numpy(), grad.numpy()
        torch._dynamo.reset()
    elif BACKEND == "jax":
        import jax

        value, grad = jax.jit(jax.value_and_grad(loss))(LOGITS, LABELS)
    else:
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step(x, y):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = loss(x, y)
            return value, tape.gradient(value, x)

        value, grad = step(tf.constant(LOGITS), tf.constant(LABELS))
    np.testing.assert_allclose(np.asarray(value), want.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), want_grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.cross_framework
def test_torch_compile_of_a_loss_prints_no_dynamo_cache_warning(tmp_path):
    """Dynamo warns once per process about each ``functools.lru_cache`` function it
    traces through (our shape checks, Keras' dtype promotion): a fresh process, so that
    no earlier compile has used up the warning."""
    import subprocess
    import sys

    script = (
        "import warnings, torch\n"
        "import multiloss.torch as ml\n"
        "warnings.simplefilter('always')\n"
        "x = torch.randn(6, 5, requires_grad=True); t = torch.randint(0, 5, (6,))\n"
        "f = torch.compile(ml.softmax_focal_loss, fullgraph=True, backend='aot_eager')\n"
        "torch.autograd.grad(f(x, t), x)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "lru_cache" not in result.stderr, result.stderr[-2000:]
