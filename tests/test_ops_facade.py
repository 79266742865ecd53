"""The ops facade (``multiloss.core.ops.get_ops``) against public ``keras.ops``.

Public ``keras.ops`` (this session's backend) is the reference: the facade bound to the
same framework must give the same values and dtypes op by op (it binds the private
backend modules and re-does the normalisation of the public layer, plus torch fast
paths). The facades of the two other frameworks are held to the same reference in the
``cross_framework`` session.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from multiloss.core.ops import get_ops
from multiloss.verify import frameworks

BACKEND = keras.config.backend()
FRAMEWORKS = [
    pytest.param(name, id=name, marks=() if name == BACKEND else pytest.mark.cross_framework)
    for name in ("tensorflow", "jax", "torch")
]

rng = np.random.default_rng(0)
X = rng.normal(size=(3, 4)).astype(np.float32)
Y = rng.normal(size=(3, 4)).astype(np.float32)
POS = rng.uniform(0.1, 2.0, size=(3, 4)).astype(np.float32)
PROB = rng.uniform(0.01, 0.99, size=(3, 4)).astype(np.float32)
T = (rng.random((3, 4)) > 0.5).astype(np.float32)
X3 = rng.normal(size=(2, 3, 4)).astype(np.float32)
W = np.array([0.5, 1.0, 2.0, 3.0], np.float32)
IDS32 = np.array([1, 3, 0], np.int32)
IDS64 = np.array([2, 0, 3], np.int64)
MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
MASK2 = MASK[::-1].copy()
X16 = X.astype(np.float16)

#: (id, op name, positional inputs (NumPy arrays become tensors), keyword arguments)
CASES = [
    ("one_hot_int32", "one_hot", (IDS32, 4), {}),
    ("one_hot_int64", "one_hot", (IDS64, 4), {}),
    ("one_hot_float64", "one_hot", (IDS32, 4), {"dtype": "float64"}),
    ("log_softmax", "log_softmax", (X,), {"axis": -1}),
    ("log_softmax_axis0", "log_softmax", (X,), {"axis": 0}),
    ("log_softmax_f16", "log_softmax", (X16,), {"axis": -1}),
    ("softmax", "softmax", (X,), {"axis": -1}),
    ("logsumexp", "logsumexp", (X,), {"axis": -1}),
    ("logsumexp_keepdims", "logsumexp", (X,), {"axis": -1, "keepdims": True}),
    ("logsumexp_all", "logsumexp", (X,), {}),
    ("softplus", "softplus", (X * 20,), {}),
    ("log_sigmoid", "log_sigmoid", (X * 20,), {}),
    ("sigmoid", "sigmoid", (X,), {}),
    ("relu", "relu", (X,), {}),
    ("binary_crossentropy", "binary_crossentropy", (T, X * 10), {"from_logits": True}),
    ("take_along_axis_int32", "take_along_axis", (X, IDS32[:, None]), {"axis": -1}),
    ("take_along_axis_int64", "take_along_axis", (X, IDS64[:, None]), {"axis": -1}),
    ("take", "take", (W, IDS64), {}),
    ("where_scalar", "where", (MASK, X, 0.0), {}),
    ("where_scalar_first", "where", (MASK, 1.0, X), {}),
    ("where_tensors", "where", (MASK, X, Y), {}),
    ("where_f16", "where", (MASK, X16, 0.0), {}),
    ("sum", "sum", (X,), {}),
    ("sum_axis", "sum", (X,), {"axis": -1}),
    ("sum_keepdims", "sum", (X,), {"axis": -1, "keepdims": True}),
    ("sum_f16", "sum", (X16,), {"axis": 0}),
    ("sum_int", "sum", (IDS32,), {}),
    ("mean", "mean", (X,), {"axis": 0}),
    ("max_keepdims", "max", (X,), {"axis": -1, "keepdims": True}),
    ("max_all", "max", (X,), {}),
    ("min", "min", (X,), {"axis": 0}),
    ("maximum_scalar", "maximum", (X, 0.5), {}),
    ("maximum_f16", "maximum", (X16, 0.0), {}),
    ("minimum", "minimum", (X, Y), {}),
    ("greater", "greater", (X, 0.0), {}),
    ("less", "less", (X, Y), {}),
    ("equal_int", "equal", (IDS32, 3), {}),
    ("not_equal_int", "not_equal", (IDS64, 2), {}),
    ("logical_and", "logical_and", (MASK, MASK2), {}),
    ("logical_not", "logical_not", (MASK,), {}),
    ("any", "any", (MASK,), {"axis": -1}),
    ("exp", "exp", (X,), {}),
    ("log", "log", (POS,), {}),
    ("log1p", "log1p", (-PROB,), {}),
    ("expm1", "expm1", (X,), {}),
    ("square", "square", (X,), {}),
    ("sqrt", "sqrt", (POS,), {}),
    ("abs", "abs", (X,), {}),
    ("negative", "negative", (X,), {}),
    ("power", "power", (POS, 1.5), {}),
    ("clip", "clip", (X, -0.5, 0.5), {}),
    ("cast_f16", "cast", (X, "float16"), {}),
    ("cast_int_to_float", "cast", (IDS32, "float32"), {}),
    ("convert_list", "convert_to_tensor", ([0.5, 1.0, 2.0],), {"dtype": "float32"}),
    ("convert_array", "convert_to_tensor", (W,), {}),
    ("expand_dims", "expand_dims", (X, -1), {}),
    ("squeeze", "squeeze", (X[:, :1], -1), {}),
    ("moveaxis", "moveaxis", (X3, 1, -1), {}),
    ("transpose", "transpose", (X,), {}),
    ("reshape", "reshape", (X, (4, 3)), {}),
    ("zeros_like", "zeros_like", (X,), {}),
    ("ones_like", "ones_like", (X,), {}),
    ("full_like", "full_like", (X, 2.0), {}),
    ("cumsum", "cumsum", (X,), {"axis": 1}),
    ("matmul", "matmul", (X, Y.T.copy()), {}),
    ("argmax", "argmax", (X,), {"axis": -1}),
    ("arctan2", "arctan2", (X, Y), {}),
    ("argsort", "argsort", (X,), {"axis": -1}),
    ("stop_gradient", "stop_gradient", (X,), {}),
]


def _args(framework, args):
    return [frameworks.to_tensor(framework, a) if isinstance(a, np.ndarray) else a for a in args]


def _dtype(x, *frameworks_involved) -> str:
    """Standardised dtype name; 64-bit as 32-bit when JAX (no x64) is involved."""
    name = keras.backend.standardize_dtype(x.dtype)
    return name.replace("64", "32") if "jax" in frameworks_involved else name


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype")
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_facade_op_equals_keras_ops(framework, case):
    _, name, args, kwargs = case
    want = getattr(keras.ops, name)(*_args(BACKEND, args), **kwargs)
    got = getattr(get_ops(framework), name)(*_args(framework, args), **kwargs)
    assert _dtype(got, framework, BACKEND) == _dtype(want, framework, BACKEND)
    got_np = frameworks.to_numpy(got)
    want_np = frameworks.to_numpy(want)
    assert got_np.shape == want_np.shape
    tolerance = 1e-3 if "16" in str(got_np.dtype) or "16" in name else 1e-6
    np.testing.assert_allclose(
        got_np.astype(np.float64), want_np.astype(np.float64), rtol=tolerance, atol=tolerance
    )


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype")
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_facade_dtype_and_shape(framework):
    ops = get_ops(framework)
    for array in (X, X16, IDS32, IDS64, MASK):
        tensor = frameworks.to_tensor(framework, array)
        want = _dtype(keras.ops.convert_to_tensor(array), framework, BACKEND)
        assert ops.dtype(tensor).replace("64", "32" if "jax" in (framework, BACKEND) else "64") == want
        assert tuple(ops.shape(tensor)) == array.shape


def test_facade_is_cached_and_bound_to_its_framework():
    for name in ("tensorflow", "jax", "torch"):
        assert get_ops(name) is get_ops(name)
        assert get_ops(name).name == name


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("labels", [IDS32, IDS64], ids=["int32", "int64"])
@pytest.mark.parametrize("logits", [X, X.astype(np.float64), X3[:, :, :3] * 30], ids=["f32", "f64", "rank3"])
def test_sparse_cross_entropy_with_logits_equals_keras(framework, labels, logits):
    """The fused ``-log softmax[label]`` primitive against
    ``keras.ops.sparse_categorical_crossentropy(from_logits=True)``."""
    labels = labels[: logits.shape[-2]] % logits.shape[-1]
    if logits.ndim == 3:
        labels = np.stack([labels, labels[::-1]])
    want = keras.ops.sparse_categorical_crossentropy(
        *_args(BACKEND, (labels, logits)), from_logits=True
    )
    got = get_ops(framework).sparse_cross_entropy_with_logits(*_args(framework, (logits, labels)))
    assert tuple(got.shape) == labels.shape
    np.testing.assert_allclose(
        frameworks.to_numpy(got).astype(np.float64), frameworks.to_numpy(want), rtol=1e-5, atol=1e-5
    )
