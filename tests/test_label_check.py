"""The eager label-range check: on host tensors by default, switchable, never copying
the labels to NumPy (an on-device min/max), never on traced or accelerator tensors in
the default mode."""

from __future__ import annotations

import numpy as np
import pytest

import multiloss
from multiloss.core.ops import get_ops

LOGITS = np.zeros((3, 4), np.float32)


@pytest.fixture
def label_check():
    previous = multiloss.set_label_check("host")
    yield multiloss.set_label_check
    multiloss.set_label_check(previous)


def test_out_of_range_labels_raise_by_default(adapter, label_check):
    with pytest.raises(ValueError, match=r"class id 7, outside \[0, 4\)"):
        adapter.call("cross_entropy", LOGITS, np.array([0, 7, 1]))
    with pytest.raises(ValueError, match=r"class id -2"):
        adapter.call("softmax_focal_loss", LOGITS, np.array([0, -2, 1]))


def test_ignore_index_is_left_out_of_the_range(adapter, label_check):
    out = adapter.call("cross_entropy", LOGITS, np.array([0, -100, 3]), ignore_index=-100, reduction="mean")
    np.testing.assert_allclose(out, np.log(4.0), rtol=1e-6)
    with pytest.raises(ValueError, match="ignore_index=-100"):
        adapter.call("cross_entropy", LOGITS, np.array([-100, 4, 3]), ignore_index=-100)


def test_never_skips_the_check(adapter, label_check):
    label_check("never")
    adapter.call("softmax_focal_loss", LOGITS, np.array([0, 3, 1]))  # still computes
    if adapter.framework == "jax":  # torch and TF kernels reject the index themselves
        adapter.call("softmax_focal_loss", LOGITS, np.array([0, 9, 1]))


def test_unknown_mode_is_refused(label_check):
    with pytest.raises(ValueError, match="mode must be one of"):
        label_check("sometimes")


@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
def test_value_range(framework):
    from multiloss.verify import frameworks

    ops = get_ops(framework)
    labels = frameworks.to_tensor(framework, np.array([[3, -100], [0, 5]], np.int32))
    assert ops.value_range(labels) == (-100, 5)
    assert ops.value_range(labels, -100) == (0, 5)
    only_ignored = frameworks.to_tensor(framework, np.array([-1, -1]))
    assert ops.value_range(only_ignored, -1) is None


def test_torch_accelerator_labels_are_not_read_back_by_default():
    import torch

    ops = get_ops("torch")
    on_device = torch.zeros(3, dtype=torch.int64, device="meta")  # not the host
    assert ops.value_range(on_device) is None
    host = torch.tensor([2, 9])
    assert ops.value_range(host) == (2, 9)


def test_torch_value_range_reads_non_contiguous_views():
    """A slice of a model output (the Keras GaussianNLLLoss splits y_pred) is a view
    ``.view(-1)`` cannot flatten."""
    import torch

    packed = torch.tensor([[0.0, 1.0, -3.0, 4.0], [2.0, 5.0, 6.0, -7.0]])
    right = packed[:, 2:]
    assert not right.is_contiguous()
    assert get_ops("torch").value_range(right) == (-7.0, 6.0)
