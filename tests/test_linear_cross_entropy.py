"""``linear_cross_entropy``: the chunked cross entropy of ``hidden @ weight.T + bias``.

Values and gradients (``hidden``, ``weight``, ``bias``) against a float64 NumPy
formula on the full logits, against ``cross_entropy`` of the full logits (the library's
own, differentiated by each framework) and against
``torch.nn.functional.linear_cross_entropy``; compiled (``jax.jit``, ``jax.vmap``,
``tf.function(jit_compile=True)``, ``torch.compile``) equal eager; half precision; the
memory promise (no ``[N, V]`` tensor saved for backward, a peak far below the logits');
argument checks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multiloss import core
from multiloss.core.linear import default_chunk_size
from multiloss.verify import frameworks

# torch, jax and tensorflow side by side: once, in the cross_framework session (the
# Keras adapter runs on the same ops classes as those three)
pytestmark = pytest.mark.cross_framework

N, D, V = 7, 5, 37
REDUCTIONS = ("none", "sum", "mean")


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    hidden = rng.normal(size=(N, D)).astype(np.float32)
    weight = rng.normal(scale=0.8, size=(V, D)).astype(np.float32)
    bias = rng.normal(scale=0.5, size=V).astype(np.float32)
    labels = np.array([3, 0, 36, 3, 17, 8, 25])
    class_weight = rng.uniform(0.2, 2.0, size=V).astype(np.float32)
    where = np.array([True, True, False, True, True, False, True])
    sample_weight = np.array([1.0, 0.5, 2.0, 0.0, 1.5, 1.0, 0.25], np.float32)
    return hidden, weight, bias, labels, class_weight, where, sample_weight


HIDDEN, WEIGHT, BIAS, LABELS, CLASS_WEIGHT, WHERE, SAMPLE_WEIGHT = _data()
LABELS_WITH_TORCH_IGNORE = np.where(np.arange(N) % 3 == 1, -100, LABELS)

#: name -> (parameters, labels)
PARAMS = {
    "plain": ({}, LABELS),
    "ignore_index": ({"ignore_index": 3}, LABELS),
    "label_smoothing": ({"label_smoothing": 0.2}, LABELS),
    "class_weight": ({"class_weight": CLASS_WEIGHT}, LABELS),
    "weighted-smoothed-ignored": (
        {"class_weight": CLASS_WEIGHT, "label_smoothing": 0.3, "ignore_index": -100},
        LABELS_WITH_TORCH_IGNORE,
    ),
    "z_loss": ({"z_loss": 0.05}, LABELS),
    "softcap": ({"logit_softcap": 2.5}, LABELS),
    "everything": (
        {"class_weight": CLASS_WEIGHT, "label_smoothing": 0.1, "z_loss": 0.02,
         "logit_softcap": 3.0, "ignore_index": 3},
        LABELS,
    ),
}
#: (bias given, chunk_size, where, sample_weight): uneven chunks (37 = 4·8 + 5), one
#: chunk, the default
LAYOUTS = [
    (False, 8, False, False),
    (True, 8, True, False),
    (True, 64, False, True),
    (False, 37, True, True),
    (True, None, True, True),
]


def reference(hidden, weight, labels, *, bias=None, ignore_index=None, label_smoothing=0.0,
              class_weight=None, z_loss=0.0, logit_softcap=None, where=None,
              sample_weight=None, reduction="mean", chunk_size=None):
    """Value and gradients (of the sum of the value) for hidden, weight, bias in
    float64 NumPy, from the full logits."""
    h, w = hidden.astype(np.float64), weight.astype(np.float64)
    s = h @ w.T + (0.0 if bias is None else bias.astype(np.float64))
    x = s if logit_softcap is None else logit_softcap * np.tanh(s / logit_softcap)
    n, v = x.shape
    keep = np.ones(n, bool) if ignore_index is None else labels != ignore_index
    y = np.where(keep, labels, 0)
    m = x.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    log_p = x - lse[:, None]
    p = np.exp(log_p)
    cw = np.ones(v) if class_weight is None else class_weight.astype(np.float64)
    wt = cw[y]
    eps = label_smoothing
    loss = (1 - eps) * wt * -log_p[np.arange(n), y] + eps * -(cw * log_p).sum(1) / v + z_loss * lse**2
    onehot = np.eye(v)[y]
    dx = (p * ((1 - eps) * wt + eps * cw.sum() / v + 2 * z_loss * lse)[:, None]
          - (1 - eps) * wt[:, None] * onehot - eps * cw[None, :] / v)
    if logit_softcap is not None:
        dx = dx * (1 - np.tanh(s / logit_softcap) ** 2)
    c = keep.astype(np.float64)
    if where is not None:
        c = c * where
    if sample_weight is not None:
        c = c * sample_weight
    if reduction == "none":
        value, coef = c * loss, c
    elif reduction == "sum":
        value, coef = (c * loss).sum(), c
    else:
        denominator = (c * wt).sum() if class_weight is not None else c.sum()
        value = 0.0 if denominator == 0 else (c * loss).sum() / denominator
        coef = np.zeros(n) if denominator == 0 else c / denominator
    g = coef[:, None] * dx
    return value, [g @ w, g.T @ h, g.sum(0)]


def _framework_call(adapter, params, labels, *, bias, chunk_size, where, sample_weight, reduction):
    """``(fn, arrays, wrt)`` for ``frameworks.value_and_grad``: hidden, weight (and bias)
    differentiated, the rest as tensors of the adapter's framework."""
    fn = adapter.fn("linear_cross_entropy")
    extra = dict(params, chunk_size=chunk_size, reduction=reduction)
    for name, value in (("where", where), ("sample_weight", sample_weight)):
        if value is not None:
            extra[name] = adapter.tensor(value)
    if "class_weight" in extra:
        extra["class_weight"] = adapter.tensor(extra["class_weight"])
    if bias:
        return (lambda h, w, b, y: fn(h, w, y, bias=b, **extra)), [HIDDEN, WEIGHT, BIAS, labels], (0, 1, 2)
    return (lambda h, w, y: fn(h, w, y, **extra)), [HIDDEN, WEIGHT, labels], (0, 1)


def assert_close(got, want, what, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_values_and_gradients_equal_numpy(adapter, name):
    params, labels = PARAMS[name]
    for bias, chunk_size, use_where, use_weight in LAYOUTS:
        where = WHERE if use_where else None
        weight = SAMPLE_WEIGHT if use_weight else None
        for reduction in REDUCTIONS:
            fn, arrays, wrt = _framework_call(
                adapter, params, labels, bias=bias, chunk_size=chunk_size, where=where,
                sample_weight=weight, reduction=reduction,
            )
            value, grads = frameworks.value_and_grad(adapter.name, fn, arrays, wrt)
            want, want_grads = reference(
                HIDDEN, WEIGHT, labels, bias=BIAS if bias else None, where=where,
                sample_weight=weight, reduction=reduction, **params,
            )
            what = f"{adapter.name} {name} bias={bias} chunk={chunk_size} where={use_where} sample_weight={use_weight} {reduction}"
            assert value.shape == np.shape(want), what
            assert_close(value, want, what)
            for label, got, ref in zip(("hidden", "weight", "bias"), grads, want_grads, strict=False):
                assert_close(got, ref, f"gradient of {label}: {what}")


def _linear(framework, h, w, b):
    if framework == "tensorflow":
        import tensorflow as tf

        return tf.matmul(h, w, transpose_b=True) + b
    return h @ w.T + b


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_equals_cross_entropy_of_the_full_logits(adapter, name):
    params, labels = PARAMS[name]
    ce_params = core.get_spec("cross_entropy").params
    if not {"z_loss", "logit_softcap"} <= set(ce_params) and {"z_loss", "logit_softcap"} & set(params):
        pytest.skip("cross_entropy has no z_loss/logit_softcap yet")
    lce, ce = adapter.fn("linear_cross_entropy"), adapter.fn("cross_entropy")
    framework = adapter.framework
    tensors = {
        k: adapter.tensor(v) for k, v in
        dict(where=WHERE, sample_weight=SAMPLE_WEIGHT, class_weight=params.get("class_weight")).items()
        if v is not None
    }
    shared = {**params, **tensors}
    arrays = [HIDDEN, WEIGHT, BIAS, labels]
    for reduction in REDUCTIONS:
        def chunked_loss(h, w, b, y, reduction=reduction):
            return lce(h, w, y, bias=b, chunk_size=8, reduction=reduction, **shared)

        def full_loss(h, w, b, y, reduction=reduction):
            return ce(_linear(framework, h, w, b), y, reduction=reduction, **shared)

        chunked, _ = frameworks.value_and_grad(adapter.name, chunked_loss, arrays, ())  # no tape
        value, grads = frameworks.value_and_grad(adapter.name, chunked_loss, arrays, (0, 1, 2))
        full, full_grads = frameworks.value_and_grad(adapter.name, full_loss, arrays, (0, 1, 2))
        what = f"{adapter.name} {name} {reduction}"
        assert_close(chunked, full, what)
        assert_close(value, full, what)
        for label, got, want in zip(("hidden", "weight", "bias"), grads, full_grads, strict=True):
            assert_close(got, want, f"gradient of {label}: {what}")


TORCH_PARAMS = [
    ("plain", {}, LABELS),
    ("ignore-default", {}, LABELS_WITH_TORCH_IGNORE),
    ("ignore_index", {"ignore_index": 3}, LABELS),
    ("smoothing", {"label_smoothing": 0.2}, LABELS),
    ("class_weight", {"class_weight": CLASS_WEIGHT}, LABELS),
    ("all", {"class_weight": CLASS_WEIGHT, "label_smoothing": 0.3, "ignore_index": -100}, LABELS_WITH_TORCH_IGNORE),
]


@pytest.mark.parametrize("label, params, labels", TORCH_PARAMS, ids=[p[0] for p in TORCH_PARAMS])
def test_equals_torch_linear_cross_entropy(label, params, labels):
    import torch.nn.functional as F

    import multiloss.torch as mt

    ours = dict(params)
    theirs = {
        "linear_bias": None, "weight": None if "class_weight" not in params else torch.from_numpy(CLASS_WEIGHT),
        "label_smoothing": params.get("label_smoothing", 0.0), "ignore_index": params.get("ignore_index", -100),
    }
    if label == "ignore-default":
        ours["ignore_index"] = -100  # torch's None means -100; multiloss' means no id ignored
    for bias in (False, True):
        for reduction in REDUCTIONS:
            runs = []
            for fn in ("multiloss", "torch"):
                h = torch.from_numpy(HIDDEN).requires_grad_(True)
                w = torch.from_numpy(WEIGHT).requires_grad_(True)
                b = torch.from_numpy(BIAS).requires_grad_(True) if bias else None
                y = torch.from_numpy(labels)
                if fn == "multiloss":
                    out = mt.linear_cross_entropy(h, w, y, bias=b, chunk_size=8, reduction=reduction, **ours)
                else:
                    out = F.linear_cross_entropy(h, w, y, **{**theirs, "linear_bias": b}, reduction=reduction)
                inputs = [h, w] + ([b] if bias else [])
                runs.append((out.detach(), torch.autograd.grad(out.sum(), inputs)))
            (got, got_grads), (want, want_grads) = runs
            what = f"{label} bias={bias} {reduction}"
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=what)
            for g, ref in zip(got_grads, want_grads, strict=True):
                torch.testing.assert_close(g, ref, rtol=1e-5, atol=1e-6, msg=what)


# --- compiled = eager ---------------------------------------------------------------------

COMPILED_PARAMS = dict(
    class_weight=CLASS_WEIGHT, label_smoothing=0.1, z_loss=0.02, logit_softcap=3.0,
    ignore_index=3, chunk_size=13,  # 13 + 13 + 11: uneven, and few steps to compile
)


def _eager_numbers(framework):
    fn = frameworks.adapter_function(framework, "linear_cross_entropy")
    params = dict(COMPILED_PARAMS, class_weight=frameworks.to_tensor(framework, CLASS_WEIGHT))

    def loss(h, w, b, y, where, sample_weight):
        return fn(h, w, y, bias=b, where=where, sample_weight=sample_weight, **params)

    arrays = [HIDDEN, WEIGHT, BIAS, LABELS, WHERE, SAMPLE_WEIGHT]
    value, grads = frameworks.value_and_grad(framework, loss, arrays, (0, 1, 2))
    return loss, arrays, value, grads


def test_jax_jit_holds_one_chunk_at_a_time():
    """Under ``jax.jit`` the chunks' temporaries are not all alive at once (XLA would
    schedule every chunk's product first, and merge the backward pass' recomputation
    with the forward pass' values): the compiled step's temporary memory is a fraction
    of the ``N·V`` float32 logits."""
    import jax
    import jax.numpy as jnp

    import multiloss.jax as mj

    n, d, v = 512, 16, 20_000
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.normal(size=(n, d)), jnp.float32)
    w = jnp.asarray(0.1 * rng.normal(size=(v, d)), jnp.float32)
    y = jnp.asarray(rng.integers(0, v, n))

    def loss(h, w, y):
        return mj.linear_cross_entropy(h, w, y, chunk_size=1024, label_smoothing=0.1)

    compiled = jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(h, w, y).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
        pytest.skip("this JAX backend gives no memory analysis")
    assert analysis.temp_size_in_bytes < n * v * 4 / 4, analysis.temp_size_in_bytes


def test_jax_jit_grad_and_vmap_equal_eager():
    import jax

    loss, arrays, value, grads = _eager_numbers("jax")
    tensors = [frameworks.to_tensor("jax", a) for a in arrays]
    jitted = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
    got, got_grads = jitted(*tensors)
    assert_close(np.asarray(got), value, "jax.jit value", rtol=1e-6, atol=1e-7)
    for g, want in zip(got_grads, grads, strict=True):
        assert_close(np.asarray(g), want, "jax.jit gradient", rtol=1e-6, atol=1e-7)
    # vmap over a batch of hidden states (one weight, one bias)
    stacked = np.stack([HIDDEN, 2.0 * HIDDEN])
    per_batch = jax.vmap(jax.grad(loss), in_axes=(0, None, None, None, None, None))(
        frameworks.to_tensor("jax", stacked), *tensors[1:]
    )
    for i, h in enumerate(stacked):
        _, (want,) = frameworks.value_and_grad("jax", loss, [h, *arrays[1:]], (0,))
        assert_close(np.asarray(per_batch[i]), want, f"jax.vmap gradient {i}", rtol=1e-6, atol=1e-7)


def test_tf_function_and_jit_compile_equal_eager():
    import tensorflow as tf

    loss, arrays, value, grads = _eager_numbers("tensorflow")
    tensors = [tf.convert_to_tensor(a) for a in arrays]

    def step(h, w, b, y, where, sample_weight):
        with tf.GradientTape() as tape:
            tape.watch([h, w, b])
            out = loss(h, w, b, y, where, sample_weight)
        return out, tape.gradient(out, [h, w, b])

    for jit_compile in (False, True):
        got, got_grads = tf.function(step, jit_compile=jit_compile)(*tensors)
        what = f"tf.function(jit_compile={jit_compile})"
        assert_close(got.numpy(), value, f"{what} value", rtol=1e-6, atol=1e-7)
        for g, want in zip(got_grads, grads, strict=True):
            assert_close(g.numpy(), want, f"{what} gradient", rtol=1e-6, atol=1e-7)
    # a tf.Variable weight gets its gradient through the read
    variable = tf.Variable(WEIGHT)
    with tf.GradientTape() as tape:
        out = loss(tensors[0], variable, *tensors[2:])
    assert_close(tape.gradient(out, variable).numpy(), grads[1], "tf.Variable gradient", rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend, fullgraph", [("aot_eager", True), ("inductor", False)])
def test_torch_compile_equals_eager(backend, fullgraph):
    loss, arrays, value, grads = _eager_numbers("torch")
    compiled = torch.compile(loss, backend=backend, fullgraph=fullgraph)
    saved = []

    def pack(t):
        saved.append(tuple(t.shape))
        return t

    try:
        tensors = [torch.from_numpy(a) for a in arrays]
        for t in tensors[:3]:
            t.requires_grad_(True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = compiled(*tensors)
        got_grads = torch.autograd.grad(out, tensors[:3])
    finally:
        torch._dynamo.reset()
    # the compiled graph saves no chunk of logits (or target masks) [N, chunk] for the
    # backward pass: what it recomputes waits for the gradient (ops.after)
    assert not [s for s in saved if len(s) == 2 and s[0] == N and s[1] not in (1, D)], saved
    assert_close(out.detach().numpy(), value, f"torch.compile({backend}) value", rtol=1e-6, atol=1e-7)
    for g, want in zip(got_grads, grads, strict=True):
        assert_close(g.numpy(), want, f"torch.compile({backend}) gradient", rtol=1e-6, atol=1e-7)


# --- precision ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
def test_half_precision_is_finite_and_close(framework, dtype):
    fn = frameworks.adapter_function(framework, "linear_cross_entropy")
    params = dict(label_smoothing=0.1, z_loss=0.01, chunk_size=8, reduction="none")

    def loss(h, w, b, y):
        return fn(h, w, y, bias=b, **params)

    arrays = [HIDDEN, WEIGHT, BIAS, LABELS]
    full, full_grads = frameworks.value_and_grad(framework, loss, arrays, (0, 1, 2))
    half, half_grads = frameworks.value_and_grad(framework, loss, arrays, (0, 1, 2), dtype=dtype)
    tolerance = 2e-2 if dtype == "float16" else 8e-2
    assert np.all(np.isfinite(half))
    assert_close(half, full, f"{framework} {dtype} value", rtol=tolerance, atol=tolerance)
    for label, g, want in zip(("hidden", "weight", "bias"), half_grads, full_grads, strict=True):
        assert np.all(np.isfinite(g)), label
        scale = np.abs(want).max()
        assert_close(g, want, f"{framework} {dtype} gradient of {label}", rtol=0, atol=tolerance * scale)
    # the loss and the gradients come back in the inputs' dtype
    tensors = [frameworks.cast(framework, frameworks.to_tensor(framework, a), dtype) for a in arrays[:3]]
    out = loss(*tensors, frameworks.to_tensor(framework, LABELS))
    assert dtype in str(out.dtype)
    if framework == "torch":
        for t in tensors:
            t.requires_grad_(True)
        grads = torch.autograd.grad(loss(*tensors, torch.from_numpy(LABELS)).float().sum(), tensors)
        assert all(g.dtype == t.dtype for g, t in zip(grads, tensors, strict=True))


# --- memory -------------------------------------------------------------------------------


def test_torch_keeps_no_logits_for_backward_and_peaks_far_below_them():
    """N=512, D=64, V=50 000: the autograd graph saves nothing of ``[N, V]`` (only the
    inputs and ``O(N)`` rows), and the peak of the allocations during forward and
    backward (torch's profiler) is a fraction of the ``N·V`` float32 logits (which
    ``F.cross_entropy`` of the full logits needs three times over)."""
    from torch.profiler import ProfilerActivity, profile

    import multiloss.torch as mt

    n, d, v = 512, 64, 50_000
    generator = torch.Generator().manual_seed(0)
    h = torch.randn(n, d, generator=generator, requires_grad=True)
    w = (0.1 * torch.randn(v, d, generator=generator)).requires_grad_(True)
    b = torch.zeros(v, requires_grad=True)
    y = torch.randint(0, v, (n,), generator=generator)
    saved = []

    def pack(t):
        saved.append(tuple(t.shape))
        return t

    def peak_bytes(run):
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = run()
            out.backward()
        events = sorted(
            (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
            key=lambda e: e.start_ns(),
        )
        current = peak = 0
        for event in events:
            current += event.nbytes()
            peak = max(peak, current)
        return peak

    logits = n * v * 4
    chunked = peak_bytes(lambda: mt.linear_cross_entropy(h, w, y, bias=b, label_smoothing=0.1, z_loss=1e-4))
    assert saved and all(int(np.prod(shape)) <= v * d for shape in saved), saved
    assert not [s for s in saved if n in s and v in s], saved
    saved.clear()
    full = peak_bytes(lambda: torch.nn.functional.cross_entropy(h @ w.T + b, y))
    assert (n, v) in saved  # the probes see the full logits
    assert full >= 2 * logits  # and their gradient
    # the weight's gradient (V·D floats) and its chunks are most of it
    assert chunked < logits / 2, (chunked, logits)


# --- chunk size and argument checks -----------------------------------------------------


def test_default_chunk_size():
    assert default_chunk_size(7, 37) == 37
    assert default_chunk_size(512, 50_000) == 2048
    assert default_chunk_size(16_384, 50_000) == 1024
    assert default_chunk_size(16_384, 1_000_000) == 3907  # at most 256 chunks
    assert default_chunk_size(None, 50_000) == 1024


def test_chunk_size_changes_no_number():
    fn = frameworks.adapter_function("torch", "linear_cross_entropy")
    results = [
        frameworks.value_and_grad(
            "torch", lambda h, w, b, y, c=c: fn(h, w, y, bias=b, chunk_size=c, label_smoothing=0.2),
            [HIDDEN, WEIGHT, BIAS, LABELS], (0, 1, 2),
        )
        for c in (1, 5, 8, 36, 37, 1000, None)
    ]
    for value, grads in results[1:]:
        assert_close(value, results[0][0], "value", rtol=1e-6, atol=1e-7)
        for g, want in zip(grads, results[0][1], strict=True):
            assert_close(g, want, "gradient", rtol=1e-6, atol=1e-7)


BAD_CALLS = [
    ("hidden-rank", dict(hidden=HIDDEN[0]), ValueError, "hidden must have rank 2"),
    ("weight-rank", dict(weight=WEIGHT[0]), ValueError, "weight must have rank 2"),
    ("dim-mismatch", dict(weight=WEIGHT[:, :3]), ValueError, r"weight must be \[V, D\].*\(37, 3\)"),
    ("labels-shape", dict(labels=LABELS[:5]), ValueError, r"labels must be \[N\].*\(5,\)"),
    ("labels-float", dict(labels=LABELS.astype(np.float32)), TypeError, "labels must hold integer"),
    ("labels-range", dict(labels=np.where(LABELS == 36, 37, LABELS)), ValueError, r"class id 37, outside \[0, 37\)"),
    ("bias-shape", dict(bias=BIAS[:5]), ValueError, r"bias must be \[V\].*\(5,\)"),
    ("class_weight-shape", dict(class_weight=CLASS_WEIGHT[:5]), ValueError, "class_weight must have one entry per class"),
    ("chunk_size-zero", dict(chunk_size=0), ValueError, "chunk_size must be a positive int"),
    ("chunk_size-float", dict(chunk_size=2.5), TypeError, "chunk_size must be an int"),
    ("chunk_size-bool", dict(chunk_size=True), TypeError, "chunk_size must be an int"),
    ("softcap-zero", dict(logit_softcap=0.0), ValueError, "logit_softcap must be > 0"),
    ("z_loss-negative", dict(z_loss=-1.0), ValueError, "z_loss must be >= 0"),
    ("smoothing-tensor", dict(label_smoothing=torch.tensor(0.1)), TypeError, "label_smoothing must be a Python number"),
    ("reduction", dict(reduction="avg"), ValueError, "reduction must be one of"),
]


@pytest.mark.parametrize("label, change, error, match", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_arguments_are_refused_before_any_arithmetic(label, change, error, match):
    import multiloss.torch as mt

    args = dict(hidden=HIDDEN, weight=WEIGHT, labels=LABELS)
    args.update({k: v for k, v in change.items() if k in args})
    params = {k: v for k, v in change.items() if k not in args}
    params = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
    tensors = [torch.from_numpy(np.asarray(args[k])) for k in ("hidden", "weight", "labels")]
    with pytest.raises(error, match=match):
        mt.linear_cross_entropy(*tensors, **params)


def test_torch_module_form():
    import multiloss.torch as mt

    module = mt.LinearCrossEntropy(label_smoothing=0.1, chunk_size=8)
    tensors = [torch.from_numpy(a) for a in (HIDDEN, WEIGHT, LABELS)]
    want = mt.linear_cross_entropy(*tensors, label_smoothing=0.1, chunk_size=8)
    torch.testing.assert_close(module(*tensors), want, rtol=0, atol=0)
    where = torch.from_numpy(WHERE)
    torch.testing.assert_close(
        module(*tensors, where=where),
        mt.linear_cross_entropy(*tensors, label_smoothing=0.1, chunk_size=8, where=where),
        rtol=0, atol=0,
    )


def test_masked_out_rows_reach_nothing(adapter):
    """Rows ``where`` masks out may hold NaN/Inf in ``hidden`` and any id in ``labels``:
    the value and every gradient are those of clean inputs, and those rows of
    ``hidden``'s gradient are 0."""
    keep = WHERE
    poisoned = HIDDEN.copy()
    poisoned[~keep] = np.resize(np.array([np.nan, np.inf, -np.inf]), poisoned[~keep].shape)
    labels = np.where(keep, LABELS, 1000)
    where = adapter.tensor(keep)
    fn = adapter.fn("linear_cross_entropy")
    for reduction in REDUCTIONS:

        def loss(h, w, b, y, reduction=reduction):
            return fn(h, w, y, bias=b, where=where, chunk_size=8, label_smoothing=0.1,
                      z_loss=0.01, reduction=reduction)

        clean, clean_grads = frameworks.value_and_grad(adapter.name, loss, [HIDDEN, WEIGHT, BIAS, LABELS], (0, 1, 2))
        value, grads = frameworks.value_and_grad(adapter.name, loss, [poisoned, WEIGHT, BIAS, labels], (0, 1, 2))
        what = f"{adapter.name} {reduction}"
        assert_close(value, clean, what, rtol=1e-6, atol=0)
        np.testing.assert_array_equal(grads[0][~keep], 0.0, what)
        for g, want in zip(grads, clean_grads, strict=True):
            assert np.all(np.isfinite(g)), what
            assert_close(g, want, what, rtol=1e-6, atol=0)
