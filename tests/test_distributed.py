"""``reduction="global_mean"`` under real data parallelism, on this machine's CPUs.

Each framework runs in a subprocess of its own (loopback only), so that nothing here
touches the pytest process: torch ``DistributedDataParallel`` over two gloo ranks,
TensorFlow ``MirroredStrategy`` over two logical CPUs, JAX ``shard_map``/``pmap`` over
four host devices (``XLA_FLAGS`` set before JAX starts), and Keras ``model.fit`` under
``MirroredStrategy``.

The batches give every replica a different number (or weight) of counted targets
(``ignore_index``, ``where``, ``sample_weight``, ``class_weight``), so a per-replica
``"mean"`` weighs the examples unequally. After the framework's usual cross-replica
reduction of the gradients, ``"global_mean"`` must give the gradient of one process
taking ``"mean"`` over the whole global batch, and that of independent references:
the float64 NumPy formula for the linear model ``x @ w + b`` (linear so that the
reference is closed-form) and ``torch.nn.functional.cross_entropy``. The per-replica
``"mean"`` gradient is checked to differ, so the tests can fail.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.cross_framework  # subprocesses of their own: run once

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240  # seconds per subprocess (each takes a few seconds)
RTOL, ATOL = 1e-5, 1e-6
TORCH_IGNORE = -100
IGNORE = -1


# --- references ------------------------------------------------------------------


def linear_batch(seed: int, n: int, features: int, classes: int, ignored: list[int], ignore_index: int):
    """A global batch for the linear model ``x @ w + b``: float32 inputs and weights,
    integer labels ``y`` with the rows ``ignored`` set to ``ignore_index`` (``y_valid``
    without them), positive per-example weights, a ``where`` mask and a per-class weight vector."""
    rng = np.random.default_rng(seed)
    y_valid = rng.integers(0, classes, n)
    y = y_valid.copy()
    y[ignored] = ignore_index
    return {
        "x": rng.normal(size=(n, features)).astype(np.float32),
        "y": y.astype(np.int64),
        "y_valid": y_valid.astype(np.int64),
        "w": rng.normal(scale=0.7, size=(features, classes)).astype(np.float32),
        "b": rng.normal(scale=0.3, size=classes).astype(np.float32),
        # growing along the batch, so that the shards' weight sums differ
        "sample_weight": (np.linspace(0.2, 3.0, n) * rng.uniform(0.7, 1.3, n)).astype(np.float32),
        "where": rng.random(n) > 0.3,
        "class_weight": rng.uniform(0.2, 2.0, classes).astype(np.float32),
    }


def mean_ce_reference(data: dict, ignore_index: int, weight=None, x=None, y=None):
    """Value and gradients ``[dw, db]`` of the weighted mean softmax cross entropy of
    ``x @ w + b`` over the whole batch, in float64: ``Σ m·ℓ / Σ m`` with ``m`` the
    per-example weight (``weight``, default 1) and 0 for ignored targets. This is what
    one process computes with ``reduction="mean"`` (``torch.nn.functional``'s
    ``class_weight`` mean included, with ``weight = class_weight[y]``)."""
    x = (data["x"] if x is None else x).astype(np.float64)
    y = data["y"] if y is None else y
    w, b = data["w"].astype(np.float64), data["b"].astype(np.float64)
    z = x @ w + b
    z = z - z.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    valid = y != ignore_index
    onehot = np.eye(w.shape[1])[np.where(valid, y, 0)]
    m = valid * (1.0 if weight is None else np.asarray(weight, np.float64))
    total = m.sum()
    per_example = -(log_p * onehot).sum(axis=-1)
    dz = (np.exp(log_p) - onehot) * m[:, None] / total
    return float((m * per_example).sum() / total), [x.T @ dz, dz.sum(axis=0)]


#: The weighting cases: name -> (labels, keyword arguments given besides
#: ``ignore_index``). "sample_weight" has no ignored target; the others ignore some.
CASES = {
    "ignore_index": ("y", []),
    "where": ("y", ["where"]),
    "class_weight": ("y", ["class_weight"]),
    "sample_weight": ("y_valid", ["sample_weight"]),
    "sample_weight+ignore_index": ("y", ["sample_weight"]),
}


def case_params(*names: str) -> list:
    """``CASES`` (or the named ones) as pytest params."""
    return list(names or CASES)


def case_reference(data: dict, case: str, ignore_index: int):
    """:func:`mean_ce_reference` for a named case: the per-example weight is the
    sample weight, the ``where`` mask or the class weight of the target."""
    labels, kwargs = CASES[case]
    y = data[labels]
    weight = None
    if "sample_weight" in kwargs:
        weight = data["sample_weight"]
    if "where" in kwargs:
        weight = data["where"].astype(np.float64)
    if "class_weight" in kwargs:
        weight = data["class_weight"][np.where(y != ignore_index, y, 0)]
    return mean_ce_reference(data, ignore_index, weight, y=y)


def assert_grads_close(actual, expected, what: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    for name, a, e in zip(("dw", "db"), actual, expected, strict=True):
        np.testing.assert_allclose(
            np.asarray(a, np.float64), np.asarray(e, np.float64), rtol=rtol, atol=atol, err_msg=f"{what}: {name}"
        )


def assert_grads_differ(actual, expected, what: str) -> None:
    """The biased gradient is far from the reference, not a rounding away."""
    diff = max(np.max(np.abs(np.asarray(a) - e)) for a, e in zip(actual, expected, strict=True))
    scale = max(np.max(np.abs(e)) for e in expected)
    assert diff > 1e-2 * scale, f"{what}: per-replica 'mean' should be biased here, got max |diff| {diff:.3g}"


# --- subprocesses ----------------------------------------------------------------


def script_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS="1", **extra)
    return env


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def run_script(script: str, *args: str, env: dict[str, str], cwd: Path) -> dict:
    """Run ``python -c script args...``; its last stdout line is its JSON result."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=TIMEOUT
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-6000:]}"
    return last_json(proc.stdout)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save_batch(path: Path, data: dict, **extra) -> Path:
    np.savez(path, **data, **extra)
    return path


# --- torch: DistributedDataParallel over two gloo ranks ---------------------------

TORCH_RANK = r"""
import json, sys
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import multiloss.torch as mlt

rank, port, path, cases = int(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
torch.set_num_threads(1)
data = np.load(path)
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
assert dist.get_world_size() == 2
ignore = int(data["ignore_index"])
shard = slice(*data["shards"][rank])
x = torch.from_numpy(data["x"])
tensors = {k: torch.from_numpy(data[k]) for k in ("y", "y_valid", "sample_weight", "where", "class_weight")}


def model():
    m = torch.nn.Linear(x.shape[1], data["w"].shape[1])
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(data["w"].T))
        m.bias.copy_(torch.from_numpy(data["b"]))
    return m


def result(m, loss):
    return {"loss": loss.item(), "grads": [m.weight.grad.T.tolist(), m.bias.grad.tolist()]}


out = {}
for case, (labels, names) in cases.items():
    y = tensors[labels]
    kwargs = {k: tensors[k] for k in names}
    local = {k: (v if k == "class_weight" else v[shard]) for k, v in kwargs.items()}
    for reduction in ("global_mean", "mean"):
        m = model()
        ddp = DistributedDataParallel(m)
        loss = mlt.cross_entropy(ddp(x[shard]), y[shard], ignore_index=ignore, reduction=reduction, **local)
        loss.backward()  # DDP averages the ranks' gradients
        out[f"{case}/{reduction}"] = result(m, loss)
    if rank == 0:  # one process, the whole batch, no DDP
        m = model()
        loss = mlt.cross_entropy(m(x), y, ignore_index=ignore, reduction="mean", **kwargs)
        loss.backward()
        out[f"{case}/one_process_mean"] = result(m, loss)
        m = model()
        target = torch.where(tensors["where"], y, ignore) if "where" in names else y
        weight = tensors["class_weight"] if "class_weight" in names else None
        if "sample_weight" in names:
            per_example = F.cross_entropy(m(x), target, ignore_index=ignore, reduction="none")
            sample_weight = tensors["sample_weight"]
            loss = (per_example * sample_weight).sum() / (sample_weight * (target != ignore)).sum()
        else:
            loss = F.cross_entropy(m(x), target, weight=weight, ignore_index=ignore)
        loss.backward()
        out[f"{case}/functional"] = result(m, loss)
dist.destroy_process_group()
print(json.dumps(out))
"""


def run_torch_ranks(path: Path, cwd: Path) -> list[dict]:
    """Two ranks of :data:`TORCH_RANK`, each its own process, on a free loopback port."""
    env = script_env(KERAS_BACKEND="torch")
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    port = str(free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TORCH_RANK, str(rank), port, str(path), json.dumps(CASES)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
        )
        for rank in range(2)
    ]
    outputs, timed_out = [], False
    try:
        for proc in procs:
            try:
                outputs.append(proc.communicate(timeout=TIMEOUT))
            except subprocess.TimeoutExpired:
                timed_out = True
                break
    finally:
        for proc in procs:  # a rank whose peer died waits for it: end both
            if proc.poll() is None:
                proc.kill()
        outputs = [proc.communicate() if i >= len(outputs) else outputs[i] for i, proc in enumerate(procs)]
    report = "\n".join(
        f"rank {i} exit {p.returncode}:\n{err[-4000:]}" for i, (p, (_, err)) in enumerate(zip(procs, outputs, strict=True))
    )
    assert not timed_out and all(p.returncode == 0 for p in procs), report
    return [last_json(out) for out, _ in outputs]


@pytest.fixture(scope="module")
def torch_ddp(tmp_path_factory):
    """Rank 0 gets examples 0–5 with 1 ignored target, rank 1 examples 6–11 with 4."""
    tmp = tmp_path_factory.mktemp("torch_ddp")
    data = linear_batch(1, 12, 5, 4, ignored=[2, 6, 8, 9, 11], ignore_index=TORCH_IGNORE)
    path = save_batch(tmp / "batch.npz", data, ignore_index=TORCH_IGNORE, shards=[[0, 6], [6, 12]])
    return data, run_torch_ranks(path, tmp)


@pytest.mark.parametrize("case", list(CASES))
def test_torch_ddp_global_mean_gradient_equals_one_process_mean(torch_ddp, case):
    """After DDP's averaging both ranks hold the gradient one process gets from
    "mean" over the global batch (``ignore_index`` alone, with ``where``,
    ``class_weight`` or ``sample_weight``), and the ranks' losses average to its
    loss."""
    _, ranks = torch_ddp
    one_process = ranks[0][f"{case}/one_process_mean"]
    for rank, results in enumerate(ranks):
        assert_grads_close(results[f"{case}/global_mean"]["grads"], one_process["grads"], f"rank {rank} {case}")
    mean_loss = np.mean([r[f"{case}/global_mean"]["loss"] for r in ranks])
    assert mean_loss == pytest.approx(one_process["loss"], rel=RTOL)


@pytest.mark.parametrize("case", case_params())
def test_torch_ddp_global_mean_gradient_equals_functional_reference(torch_ddp, case):
    """The same DDP gradient against independent references: the float64 formula and
    ``torch.nn.functional.cross_entropy`` over the whole batch in one process."""
    data, ranks = torch_ddp
    loss, grads = case_reference(data, case, TORCH_IGNORE)
    functional = ranks[0][f"{case}/functional"]
    assert functional["loss"] == pytest.approx(loss, rel=RTOL)
    assert_grads_close(functional["grads"], grads, f"torch.nn.functional {case}")
    for rank, results in enumerate(ranks):
        assert_grads_close(results[f"{case}/global_mean"]["grads"], grads, f"rank {rank} {case}")


@pytest.mark.parametrize("case", list(CASES))
def test_torch_ddp_per_rank_mean_is_biased(torch_ddp, case):
    """The same step with plain "mean" on each rank gives another gradient: the ranks
    count different numbers (or weights) of targets, so averaging their means is not
    the global mean."""
    data, ranks = torch_ddp
    _, grads = case_reference(data, case, TORCH_IGNORE)
    assert_grads_differ(ranks[0][f"{case}/mean"]["grads"], grads, f"torch {case}")


# --- TensorFlow: MirroredStrategy over two logical CPUs --------------------------

TF_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import multiloss.tensorflow as mltf

data, cases = np.load(sys.argv[1]), json.loads(sys.argv[2])
ignore = int(data["ignore_index"])
shards = [slice(*s) for s in data["shards"]]
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
with strategy.scope():
    w, b = tf.Variable(data["w"]), tf.Variable(data["b"])


def distribute(array):
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(array[shards[ctx.replica_id_in_sync_group]])
    )


def loss_fn(w, b, x, y, sample_weight, where, names, reduction):
    kwargs = {"sample_weight": sample_weight, "where": where, "class_weight": data["class_weight"]}
    kwargs = {k: v for k, v in kwargs.items() if k in names}
    return mltf.cross_entropy(tf.matmul(x, w) + b, y, ignore_index=ignore, reduction=reduction, **kwargs)


def run(labels, names, reduction, compiled):
    def step(x, y, sample_weight, where):
        with tf.GradientTape() as tape:
            loss = loss_fn(w, b, x, y, sample_weight, where, names, reduction)
        return loss, tape.gradient(loss, [w, b])

    fn = tf.function(step) if compiled else step
    args = tuple(distribute(data[k]) for k in ("x", labels, "sample_weight", "where"))
    loss, grads = strategy.run(fn, args=args)
    total = lambda v: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None).numpy().tolist()
    return {"loss": total(loss), "grads": [total(g) for g in grads]}  # optimizers sum


def one_process(labels, names, reduction):  # no strategy: the whole batch
    w1, b1 = tf.Variable(data["w"]), tf.Variable(data["b"])
    with tf.GradientTape() as tape:
        loss = loss_fn(w1, b1, data["x"], data[labels], data["sample_weight"], data["where"], names, reduction)
    return {"loss": float(loss), "grads": [g.numpy().tolist() for g in tape.gradient(loss, [w1, b1])]}


out = {}
for case, (labels, names) in cases.items():
    out[f"{case}/global_mean/eager"] = run(labels, names, "global_mean", False)
    out[f"{case}/global_mean/tf.function"] = run(labels, names, "global_mean", True)
    out[f"{case}/mean/tf.function"] = run(labels, names, "mean", True)
    out[f"{case}/one_process_mean"] = one_process(labels, names, "mean")
    out[f"{case}/one_process_global_mean"] = one_process(labels, names, "global_mean")

try:
    with strategy.scope():
        loss_fn(w, b, data["x"], data["y"], None, None, [], "global_mean")
    out["cross_replica_error"] = None
except Exception as error:
    out["cross_replica_error"] = [type(error).__name__, str(error)]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def tf_mirrored(tmp_path_factory):
    """Replica 0 gets examples 0–6 with 1 ignored target, replica 1 examples 7–11 with 2
    (the kept sample weights then sum to about 5.8 and 8.0)."""
    tmp = tmp_path_factory.mktemp("tf_mirrored")
    data = linear_batch(2, 12, 5, 4, ignored=[3, 7, 9], ignore_index=IGNORE)
    path = save_batch(tmp / "batch.npz", data, ignore_index=IGNORE, shards=[[0, 7], [7, 12]])
    env = script_env(KERAS_BACKEND="tensorflow")
    return data, run_script(TF_SCRIPT, str(path), json.dumps(CASES), env=env, cwd=tmp)


@pytest.mark.parametrize("mode", ["eager", "tf.function"])
@pytest.mark.parametrize("case", list(CASES))
def test_tf_mirrored_global_mean_gradient_equals_one_process_mean(tf_mirrored, case, mode):
    """``strategy.run`` on two replicas with uneven shards (7 and 5 examples),
    gradients summed over the replicas as optimizers do: the gradient and (summed)
    loss one process gets from "mean" over the global batch."""
    _, out = tf_mirrored
    one_process = out[f"{case}/one_process_mean"]
    result = out[f"{case}/global_mean/{mode}"]
    assert_grads_close(result["grads"], one_process["grads"], f"tf {case} {mode}")
    assert result["loss"] == pytest.approx(one_process["loss"], rel=RTOL)


@pytest.mark.parametrize("case", case_params())
def test_tf_mirrored_global_mean_gradient_equals_float64_reference(tf_mirrored, case):
    """The same summed gradient and loss against the float64 formula."""
    data, out = tf_mirrored
    loss, grads = case_reference(data, case, IGNORE)
    result = out[f"{case}/global_mean/tf.function"]
    assert result["loss"] == pytest.approx(loss, rel=RTOL)
    assert_grads_close(result["grads"], grads, f"tf {case}")


@pytest.mark.parametrize("case", list(CASES))
def test_tf_mirrored_per_replica_mean_is_biased(tf_mirrored, case):
    """Per-replica "mean" averaged over the replicas (Keras' convention: each
    replica's loss divided by their number) is another gradient."""
    data, out = tf_mirrored
    _, grads = case_reference(data, case, IGNORE)
    biased = [np.asarray(g) / 2 for g in out[f"{case}/mean/tf.function"]["grads"]]
    assert_grads_differ(biased, grads, f"tf {case}")


@pytest.mark.parametrize("case", list(CASES))
def test_tf_global_mean_without_strategy_is_mean(tf_mirrored, case):
    """Outside any ``tf.distribute`` strategy "global_mean" is "mean"."""
    _, out = tf_mirrored
    one_process, plain = out[f"{case}/one_process_global_mean"], out[f"{case}/one_process_mean"]
    assert one_process["loss"] == pytest.approx(plain["loss"], rel=1e-6)
    assert_grads_close(one_process["grads"], plain["grads"], f"tf {case} without a strategy", rtol=1e-6)


def test_tf_global_mean_in_cross_replica_context_raises(tf_mirrored):
    """Inside ``strategy.scope()`` but outside ``strategy.run`` there is no replica to
    count over: a ``ValueError`` saying so, not a silently local mean."""
    _, out = tf_mirrored
    assert out["cross_replica_error"] is not None, "no error in the cross-replica context"
    kind, message = out["cross_replica_error"]
    assert kind == "ValueError", message
    assert "replica" in message and "strategy.run" in message


# --- JAX: shard_map / pmap over four host devices --------------------------------

JAX_SCRIPT = r"""
import functools, json, sys
import numpy as np
import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import multiloss.jax as mlj

assert jax.device_count() == 4, jax.devices()
data = np.load(sys.argv[1])
ignore = int(data["ignore_index"])
mesh = Mesh(np.array(jax.devices()), ("batch",))
params = (jax.numpy.asarray(data["w"]), jax.numpy.asarray(data["b"]))
x, y = jax.numpy.asarray(data["x"]), jax.numpy.asarray(data["y"].astype(np.int32))
SPECS = (P(), P("batch"), P("batch"))

if hasattr(jax, "shard_map"):
    def shard_map(f, in_specs, out_specs, check):
        return jax.shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=check)
else:  # jax < 0.7
    from jax.experimental.shard_map import shard_map as _shard_map

    def shard_map(f, in_specs, out_specs, check):
        return _shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_rep=check)


def local_loss(params, x, y, reduction, axis="batch"):
    w, b = params
    with mlj.data_parallel(axis):
        return mlj.cross_entropy(x @ w + b, y, ignore_index=ignore, reduction=reduction)


def grads_inside(reduction, check):
    # the pmap-style step: per-device gradients, then lax.pmean over the axis
    def step(params, x, y):
        loss, grads = jax.value_and_grad(functools.partial(local_loss, reduction=reduction))(params, x, y)
        return jax.lax.pmean(loss, "batch"), jax.lax.pmean(grads, "batch")

    return jax.jit(shard_map(step, SPECS, (P(), P()), check))(params, x, y)


def grad_of_pmean_loss(reduction, check):
    # jax.grad outside shard_map of the pmean'd loss (JAX's documented data parallelism)
    def loss(params):
        def local(params, x, y):
            return jax.lax.pmean(local_loss(params, x, y, reduction), "batch")

        return shard_map(local, SPECS, P(), check)(params, x, y)

    return jax.jit(jax.value_and_grad(loss))(params)


def pmap_inside(reduction):
    def step(params, x, y):
        loss, grads = jax.value_and_grad(functools.partial(local_loss, reduction=reduction))(params, x, y)
        return jax.lax.pmean(loss, "batch"), jax.lax.pmean(grads, "batch")

    xs, ys = x.reshape(4, -1, x.shape[-1]), y.reshape(4, -1)
    loss, grads = jax.pmap(step, axis_name="batch", in_axes=(None, 0, 0))(params, xs, ys)
    return loss[0], [g[0] for g in grads]


def jit_on_sharded_arrays():
    # no data_parallel: under jit on globally sharded arrays the plain mean is global
    sharded = NamedSharding(mesh, P("batch"))
    xs, ys = jax.device_put(x, sharded), jax.device_put(y, sharded)

    def loss(params, x, y):
        w, b = params
        return mlj.cross_entropy(x @ w + b, y, ignore_index=ignore, reduction="global_mean")

    return jax.jit(jax.value_and_grad(loss))(params, xs, ys)


def result(loss, grads):
    return {"loss": float(loss), "grads": [np.asarray(g).tolist() for g in grads]}


out = {}
for check in (False, True):
    for reduction in ("global_mean", "mean"):
        out[f"grads_inside/check={check}/{reduction}"] = result(*grads_inside(reduction, check))
    out[f"grad_of_pmean_loss/check={check}/global_mean"] = result(*grad_of_pmean_loss("global_mean", check))
out["pmap/global_mean"] = result(*pmap_inside("global_mean"))
out["jit_sharded/global_mean"] = result(*jit_on_sharded_arrays())


def unbound(params, x, y):
    return jax.lax.pmean(local_loss(params, x, y, "global_mean", axis="nope"), "batch")


try:
    jax.jit(shard_map(unbound, SPECS, P(), False))(params, x, y)
    out["unbound_error"] = None
except Exception as error:
    out["unbound_error"] = [type(error).__name__, str(error)]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def jax_sharded(tmp_path_factory):
    """Four shards of 4 examples with 0, 1, 2 and 3 ignored targets."""
    tmp = tmp_path_factory.mktemp("jax_sharded")
    data = linear_batch(3, 16, 5, 4, ignored=[4, 8, 10, 12, 13, 15], ignore_index=IGNORE)
    path = save_batch(tmp / "batch.npz", data, ignore_index=IGNORE)
    env = script_env(
        KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
        XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip(),
    )
    return data, run_script(JAX_SCRIPT, str(path), env=env, cwd=tmp)


@pytest.mark.parametrize(
    "check", [False, True]
)
def test_jax_shard_map_gradients_then_pmean_equal_global_mean(jax_sharded, check):
    """Inside ``shard_map`` over "batch" and ``data_parallel("batch")``: per-device
    ``jax.value_and_grad`` then ``lax.pmean`` of the gradients (the step
    ``data_parallel`` documents) gives the gradient of "mean" over the global batch."""
    data, out = jax_sharded
    loss, grads = mean_ce_reference(data, IGNORE)
    result = out[f"grads_inside/check={check}/global_mean"]
    assert result["loss"] == pytest.approx(loss, rel=RTOL)
    assert_grads_close(result["grads"], grads, f"shard_map check_vma={check}")


def test_jax_shard_map_per_device_mean_is_biased(jax_sharded):
    """Plain "mean" per device, then ``lax.pmean`` of the gradients, is another one."""
    data, out = jax_sharded
    _, grads = mean_ce_reference(data, IGNORE)
    assert_grads_differ(out["grads_inside/check=False/mean"]["grads"], grads, "shard_map mean")


@pytest.mark.parametrize("check", [False, True])
def test_jax_grad_of_pmean_loss_equals_global_mean(jax_sharded, check):
    """``jax.grad`` outside ``shard_map`` of ``lax.pmean`` of the loss (JAX's own
    data-parallel recipe) gives the global "mean" value and gradient."""
    data, out = jax_sharded
    loss, grads = mean_ce_reference(data, IGNORE)
    result = out[f"grad_of_pmean_loss/check={check}/global_mean"]
    assert result["loss"] == pytest.approx(loss, rel=RTOL)
    assert_grads_close(result["grads"], grads, f"grad of pmean'd loss, check_vma={check}")


@pytest.mark.parametrize("pattern", ["pmap", "jit_sharded"])
def test_jax_pmap_and_jit_on_sharded_arrays_equal_global_mean(jax_sharded, pattern):
    """``pmap`` with ``data_parallel`` and ``lax.pmean`` of the gradients; and plain
    ``jax.jit`` on arrays sharded over the four devices (no ``data_parallel``)."""
    data, out = jax_sharded
    loss, grads = mean_ce_reference(data, IGNORE)
    result = out[f"{pattern}/global_mean"]
    assert result["loss"] == pytest.approx(loss, rel=RTOL)
    assert_grads_close(result["grads"], grads, pattern)


def test_jax_unbound_axis_name_raises(jax_sharded):
    """``data_parallel("nope")`` inside ``shard_map`` over "batch": a ``ValueError``
    naming the axis."""
    _, out = jax_sharded
    assert out["unbound_error"] is not None, "no error for an unbound axis name"
    kind, message = out["unbound_error"]
    assert kind == "ValueError", message
    assert "'nope'" in message


# --- Keras: model.fit under MirroredStrategy -------------------------------------

KERAS_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras

import multiloss.keras as mlk

assert keras.config.backend() == "tensorflow"
data = np.load(sys.argv[1])
x, y, y_ignored, sample_weight = data["x"], data["y"], data["y_ignored"], data["sample_weight"]
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2


def mlp():
    keras.utils.set_random_seed(0)  # the same initial weights for both losses
    return keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(4)])


def linear():
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(4)])
    model.set_weights([data["w"], data["b"]])
    return model


def fit(build, loss, labels, weights=None, n=None, batch_size=8, lr=0.5):
    with strategy.scope():
        model = build()
        model.compile(optimizer=keras.optimizers.SGD(lr), loss=loss)
    n = len(x) if n is None else n
    model.fit(
        x[:n], labels[:n], sample_weight=None if weights is None else weights[:n],
        batch_size=batch_size, epochs=1, shuffle=False, verbose=0,
    )
    return [v.numpy().tolist() for v in model.weights]


builtin = lambda **kw: keras.losses.SparseCategoricalCrossentropy(from_logits=True, **kw)
out = {"initial": [v.numpy().tolist() for v in mlp().weights]}
for case, ours, theirs, labels, weights in (
    ("plain", mlk.CrossEntropy(), builtin(), y, None),
    ("ignore_index", mlk.CrossEntropy(ignore_index=-1), builtin(ignore_class=-1), y_ignored, None),
    ("sample_weight", mlk.CrossEntropy(), builtin(), y, sample_weight),
):
    out[case] = {"multiloss": fit(mlp, ours, labels, weights), "keras": fit(mlp, theirs, labels, weights)}
out["one_step"] = fit(linear, mlk.CrossEntropy(), y, n=8, batch_size=8, lr=0.5)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def keras_fit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keras_fit")
    data = linear_batch(4, 32, 6, 4, ignored=[], ignore_index=IGNORE)
    y_ignored = data["y"].copy()
    y_ignored[[1, 2, 5, 9, 10, 11, 20, 30]] = IGNORE
    path = save_batch(tmp / "batch.npz", data, y_ignored=y_ignored)
    return data, run_script(KERAS_SCRIPT, str(path), env=script_env(KERAS_BACKEND="tensorflow"), cwd=tmp)


@pytest.mark.parametrize("case", ["plain", "ignore_index", "sample_weight"])
def test_keras_fit_under_mirrored_strategy_matches_builtin(keras_fit, case):
    """One ``fit`` epoch (4 steps of 8 examples, 4 per replica) with
    ``multiloss.keras.CrossEntropy`` ends at the weights that
    ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)`` gives (its
    ``ignore_class`` for ``ignore_index``), and the weights did move."""
    _, out = keras_fit
    ours, theirs = out[case]["multiloss"], out[case]["keras"]
    for i, (a, b, start) in enumerate(zip(ours, theirs, out["initial"], strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{case}: weight {i}")
        assert np.max(np.abs(np.asarray(a) - np.asarray(start))) > 1e-3, f"{case}: weight {i} did not train"


def test_keras_fit_one_step_is_global_mean_sgd_step(keras_fit):
    """One SGD step on 8 examples split over the two replicas moves a linear model by
    ``-lr ×`` the float64 gradient of the mean over all 8."""
    data, out = keras_fit
    batch = {k: data[k][:8] for k in ("x", "y")}
    _, (dw, db) = mean_ce_reference(data, IGNORE, x=batch["x"], y=batch["y"])
    kernel, bias = out["one_step"]
    np.testing.assert_allclose(kernel, data["w"] - 0.5 * dw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, data["b"] - 0.5 * db, rtol=1e-5, atol=1e-6)
