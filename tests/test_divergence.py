"""kl_divergence against torch.nn.functional.kl_div (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F


def torch_kl(logits, target, reduction, from_logits=True, axis=-1):
    """KL(target || softmax(logits)) per example with torch, value and input gradient."""
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(target, dtype=torch.float64)
    if from_logits:
        log_q = F.log_softmax(x, dim=axis)
    else:
        log_q = torch.log(x / x.sum(dim=axis, keepdim=True))
    per_example = F.kl_div(log_q, y, reduction="none").sum(axis)
    out = {"none": per_example, "mean": per_example.mean(), "sum": per_example.sum()}[reduction]
    (grad,) = torch.autograd.grad(out.sum(), x)
    return out.detach().numpy(), grad.numpy()


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_kl_divergence_matches_torch(adapter, rng, reduction):
    logits = rng.normal(scale=3.0, size=(5, 4)).astype(np.float32)
    target = rng.dirichlet(np.ones(4), size=5).astype(np.float32)
    want, want_grad = torch_kl(logits, target, reduction)
    value, (grad,) = adapter.value_and_grad("kl_divergence", logits, target, reduction=reduction)
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


def test_kl_divergence_mean_is_torch_batchmean(adapter, rng):
    logits = rng.normal(size=(6, 3)).astype(np.float32)
    target = rng.dirichlet(np.ones(3), size=6).astype(np.float32)
    want = F.kl_div(
        F.log_softmax(torch.tensor(logits, dtype=torch.float64), -1),
        torch.tensor(target, dtype=torch.float64),
        reduction="batchmean",
    )
    value = adapter.call("kl_divergence", logits, target, reduction="mean")
    np.testing.assert_allclose(value, want.item(), rtol=1e-5)


def test_kl_divergence_zero_targets_are_finite(adapter, rng):
    logits = np.array([[50.0, -50.0, 0.0], [1.0, 2.0, 3.0]], np.float32)
    target = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]], np.float32)
    want, want_grad = torch_kl(logits, target, "none")
    value, (pred_grad, target_grad) = adapter.value_and_grad(
        "kl_divergence", logits, target, wrt=(0, 1), reduction="none"
    )
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(pred_grad, want_grad, rtol=1e-5, atol=1e-7)
    assert np.all(np.isfinite(target_grad))


def test_kl_divergence_from_probabilities(adapter, rng):
    probs = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
    target = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
    want, want_grad = torch_kl(probs, target, "sum", from_logits=False)
    value, (grad,) = adapter.value_and_grad(
        "kl_divergence", probs, target, from_logits=False, reduction="sum"
    )
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


def test_kl_divergence_class_axis(adapter, rng):
    logits = rng.normal(size=(2, 4, 3)).astype(np.float32)  # classes on axis 1
    target = np.moveaxis(rng.dirichlet(np.ones(4), size=(2, 3)), -1, 1).astype(np.float32)
    want, want_grad = torch_kl(logits, target, "none", axis=1)
    value, (grad,) = adapter.value_and_grad("kl_divergence", logits, target, axis=1, reduction="none")
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


def test_kl_divergence_shape_mismatch(adapter):
    with pytest.raises(ValueError, match=r"y_true .* y_pred .*\(2, 3\)"):
        adapter.call("kl_divergence", np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32))


def test_kl_divergence_nan_in_gives_nan_out(adapter):
    logits = np.array([[np.nan, 0.0], [0.0, 1.0]], np.float32)
    target = np.array([[0.5, 0.5], [np.nan, 0.5]], np.float32)
    assert np.isnan(adapter.call("kl_divergence", logits, target, reduction="none")).all()


# --- distillation_loss: T² · KL(softmax(t/T) ‖ softmax(s/T)), Hinton et al. 2015 ----------


def torch_distillation(student, teacher, temperature=1.0, reduction="none", axis=-1):
    """The peer: T² · F.kl_div(log_softmax(s/T), log_softmax(t/T), log_target=True) summed
    over the classes (float64), the teacher detached; value and student gradient."""
    s = torch.tensor(student, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(teacher, dtype=torch.float64)
    kl = F.kl_div(
        F.log_softmax(s / temperature, dim=axis), F.log_softmax(t / temperature, dim=axis),
        log_target=True, reduction="none",
    ).sum(axis)
    per_example = temperature**2 * kl
    out = {"none": per_example, "mean": per_example.mean(), "sum": per_example.sum()}[reduction]
    (grad,) = torch.autograd.grad(out.sum(), s)
    return out.detach().numpy(), grad.numpy()


@pytest.mark.parametrize("temperature", [1.0, 4.0, 0.05])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_distillation_loss_matches_torch_and_holds_the_teacher(adapter, rng, reduction, temperature):
    student = rng.normal(scale=2.0, size=(5, 4)).astype(np.float32)
    teacher = rng.normal(scale=2.0, size=(5, 4)).astype(np.float32)
    want, want_grad = torch_distillation(student, teacher, temperature, reduction)
    value, (grad, teacher_grad) = adapter.value_and_grad(
        "distillation_loss", student, teacher, wrt=(0, 1), temperature=temperature, reduction=reduction
    )
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(teacher_grad, 0.0)  # the teacher is held constant


def test_distillation_loss_mean_is_torch_batchmean_times_t_squared(adapter, rng):
    student = rng.normal(size=(6, 3)).astype(np.float32)
    teacher = rng.normal(size=(6, 3)).astype(np.float32)
    want = 9.0 * F.kl_div(
        F.log_softmax(torch.tensor(student, dtype=torch.float64) / 3.0, -1),
        F.softmax(torch.tensor(teacher, dtype=torch.float64) / 3.0, -1),
        reduction="batchmean",
    )
    value = adapter.call("distillation_loss", student, teacher, temperature=3.0, reduction="mean")
    np.testing.assert_allclose(value, want.item(), rtol=1e-5)


def test_distillation_loss_keeps_its_digits_where_student_and_teacher_agree(adapter, rng):
    """High temperatures and close logits: a KL far below one float epsilon of the
    log-probabilities. Two log_softmax and a subtraction (torch's float32 kl_div) are off
    by ~1e-3 relative at T = 100 and can give a negative KL; the loss is within 1e-4."""
    teacher = rng.normal(scale=2.0, size=(4, 6)).astype(np.float32)
    student = teacher + rng.normal(scale=1e-2, size=teacher.shape).astype(np.float32)
    for temperature in (1.0, 100.0, 0.05):
        want, want_grad = torch_distillation(student, teacher, temperature)
        value, (grad,) = adapter.value_and_grad(
            "distillation_loss", student, teacher, temperature=temperature, reduction="none"
        )
        assert np.all(value >= 0)
        np.testing.assert_allclose(value, want, rtol=1e-4, atol=0, err_msg=f"T={temperature}")
        np.testing.assert_allclose(grad, want_grad, rtol=1e-3, atol=1e-12, err_msg=f"T={temperature}")
    shifted = adapter.call("distillation_loss", teacher, teacher + 3.0, temperature=0.05, reduction="none")
    assert np.all(shifted >= 0) and np.all(shifted < 1e-15)  # the same distribution, up to rounding


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_distillation_loss_extremes_are_finite(adapter, rng, dtype):
    # float16 holds values up to 65504, the loss (T² · KL) included
    scale, temperatures = {"float32": (1e4, (0.05, 1.0, 1e3)), "float16": (1e3, (0.05, 1.0, 10.0)),
                           "bfloat16": (1e30, (0.05, 1.0, 1e3))}[dtype]
    student = (rng.normal(size=(4, 5)) * scale).astype(np.float32)
    teacher = (rng.normal(size=(4, 5)) * scale).astype(np.float32)
    teacher[0] = student[0]  # one-hot-like and equal: 0
    for temperature in temperatures:
        value, (grad,) = adapter.value_and_grad(
            "distillation_loss", student, teacher, dtype=dtype, temperature=temperature, reduction="none"
        )
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), (temperature, value, grad)
        assert np.all(value >= 0) and value[0] == 0.0
    if dtype == "float32":
        want, want_grad = torch_distillation(student / 100.0, teacher / 100.0, 0.05)
        value, (grad,) = adapter.value_and_grad(
            "distillation_loss", student / 100.0, teacher / 100.0, temperature=0.05, reduction="none"
        )
        np.testing.assert_allclose(value, want, rtol=1e-5)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


def test_distillation_loss_class_axis_where_and_sample_weight(adapter, rng):
    student = rng.normal(size=(3, 4, 2)).astype(np.float32)  # classes on axis 1
    teacher = rng.normal(size=(3, 4, 2)).astype(np.float32)
    per_example, _ = torch_distillation(student, teacher, 2.0, "none", axis=1)  # [3, 2]
    where = np.array([[True, False], [True, True], [False, True]])
    weight = np.array([0.5, 2.0], np.float32)
    student_nan = student.copy()
    student_nan[0, :, 1] = np.nan  # masked out: never reaches the value or the gradient
    value, (grad,) = adapter.value_and_grad(
        "distillation_loss", student_nan, teacher, axis=1, temperature=2.0,
        where=where, sample_weight=weight, reduction="mean",
    )
    w = np.where(where, weight, 0.0)
    np.testing.assert_allclose(value, np.sum(w * per_example) / np.sum(w), rtol=1e-5)
    assert np.all(np.isfinite(grad)) and np.all(grad[0, :, 1] == 0.0)


@pytest.mark.parametrize(
    "student_shape, teacher_shape, params, error, match",
    [
        ((2, 3), (2, 4), {}, ValueError, r"y_true and y_pred .*\(2, 4\).*\(2, 3\)"),
        ((2, 3), (2, 3), {"temperature": 0.0}, ValueError, "temperature must be > 0"),
        ((2, 3), (2, 3), {"temperature": -1.0}, ValueError, "temperature"),
        ((2, 3), (2, 3), {"temperature": float("nan")}, ValueError, "temperature"),
        ((2, 3), (2, 3), {"axis": 2}, ValueError, "axis=2"),
        ((2, 3), (2, 3), {"reduction": "batchmean"}, ValueError, "reduction"),
        ((2, 3), (2, 3), {"where": np.ones(3, bool)}, ValueError, "where"),
    ],
)
def test_distillation_loss_bad_arguments(adapter, student_shape, teacher_shape, params, error, match):
    with pytest.raises(error, match=match):
        adapter.call(
            "distillation_loss", np.zeros(student_shape, np.float32), np.zeros(teacher_shape, np.float32), **params
        )


def test_distillation_loss_nan_in_gives_nan_out(adapter):
    student = np.array([[np.nan, 0.0], [0.0, 1.0], [0.5, 0.5]], np.float32)
    teacher = np.array([[0.5, 0.5], [np.nan, 0.5], [0.0, 1.0]], np.float32)
    value = adapter.call("distillation_loss", student, teacher, temperature=2.0, reduction="none")
    assert np.isnan(value[:2]).all() and np.isfinite(value[2])


# --- js_divergence: ½KL(p ‖ m) + ½KL(q ‖ m), Lin 1991 ------------------------------------


def scipy_js(p, q, axis=-1):
    """scipy.spatial.distance.jensenshannon(p, q) ** 2: JS in natural log (scipy's default
    base is e, checked in test_scipy_reference_is_natural_log)."""
    from scipy.spatial.distance import jensenshannon

    return jensenshannon(np.asarray(p, np.float64), np.asarray(q, np.float64), axis=axis) ** 2


def softmax64(x, axis=-1):
    return torch.softmax(torch.tensor(x, dtype=torch.float64), axis).numpy()


def torch_js_grads(x, y, from_logits=True, axis=-1):
    """Gradients of Σ JS with respect to both inputs: the float64 formula in log space
    (log m = logaddexp(log p, log q) − log 2), torch autograd."""
    a = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    if from_logits:
        lp, lq = F.log_softmax(a, axis), F.log_softmax(b, axis)
    else:
        lp, lq = torch.log(a / a.sum(axis, keepdim=True)), torch.log(b / b.sum(axis, keepdim=True))
    lm = torch.logaddexp(lp, lq) - np.log(2.0)
    js = 0.5 * (lp.exp() * (lp - lm) + lq.exp() * (lq - lm)).sum(axis)
    return [g.numpy() for g in torch.autograd.grad(js.sum(), (a, b))]


def test_scipy_reference_is_natural_log():
    p, q = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    np.testing.assert_allclose(scipy_js(p, q), np.log(2.0), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_js_divergence_matches_scipy_and_torch_gradients(adapter, rng, reduction):
    x = rng.normal(scale=2.0, size=(5, 4)).astype(np.float32)
    y = rng.normal(scale=2.0, size=(5, 4)).astype(np.float32)
    per_example = scipy_js(softmax64(x), softmax64(y))
    want = {"none": per_example, "mean": per_example.mean(), "sum": per_example.sum()}[reduction]
    value, (gx, gy) = adapter.value_and_grad("js_divergence", x, y, wrt=(0, 1), reduction=reduction)
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
    want_gx, want_gy = torch_js_grads(x, y)
    if reduction == "mean":
        want_gx, want_gy = want_gx / 5, want_gy / 5
    np.testing.assert_allclose(gx, want_gx, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gy, want_gy, rtol=1e-5, atol=1e-7)


def test_js_divergence_from_probabilities_and_class_axis(adapter, rng):
    p = rng.dirichlet(np.ones(4), size=(2, 3)).astype(np.float32)
    q = rng.dirichlet(np.ones(4), size=(2, 3)).astype(np.float32)
    p_axis1, q_axis1 = np.moveaxis(p, -1, 1), np.moveaxis(q, -1, 1)  # [2, 4, 3]
    value, (gp, gq) = adapter.value_and_grad(
        "js_divergence", p_axis1, q_axis1, wrt=(0, 1), from_logits=False, axis=1, reduction="none"
    )
    np.testing.assert_allclose(value, scipy_js(p, q), rtol=1e-5, atol=1e-7)
    want_gp, want_gq = torch_js_grads(p_axis1, q_axis1, from_logits=False, axis=1)
    np.testing.assert_allclose(gp, want_gp, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gq, want_gq, rtol=1e-4, atol=1e-6)


def test_js_divergence_symmetric_bounded_and_exact_for_close_inputs(adapter, rng):
    x = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    y = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    forward = adapter.call("js_divergence", x, y, reduction="none")
    np.testing.assert_allclose(adapter.call("js_divergence", y, x, reduction="none"), forward, rtol=1e-6)
    assert np.all(forward >= 0) and np.all(forward <= np.log(2.0))
    close = x + rng.normal(scale=1e-2, size=x.shape).astype(np.float32)
    # JS ~1e-5 here: the logaddexp form's rounding (~1e-8 absolute) would cost ~1e-3
    value = adapter.call("js_divergence", x, close, reduction="none")
    np.testing.assert_allclose(value, scipy_js(softmax64(x), softmax64(close)), rtol=2e-4)
    np.testing.assert_array_equal(adapter.call("js_divergence", x, x + 5.0, reduction="none"), 0.0)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_js_divergence_one_hot_extremes_are_exact_and_finite(adapter, dtype):
    big = {"float32": 1e30, "float16": 6e4, "bfloat16": 1e30}[dtype]
    x = np.array([[big, 0, 0], [big, 0, 0], [0, 100, -100], [1, 2, 3]], np.float32)
    y = np.array([[0, big, 0], [big, 0, 0], [0, -100, 100], [1, 2, 3]], np.float32)
    value, (gx, gy) = adapter.value_and_grad("js_divergence", x, y, wrt=(0, 1), dtype=dtype, reduction="none")
    rtol = {"float32": 1e-6, "float16": 1e-3, "bfloat16": 1e-2}[dtype]
    np.testing.assert_allclose(value, [np.log(2), 0, np.log(2), 0], rtol=rtol, atol=rtol)
    assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))
    np.testing.assert_allclose(gx, 0.0, atol=1e-6)
    np.testing.assert_allclose(gy, 0.0, atol=1e-6)


def test_js_divergence_zero_probabilities(adapter):
    """0·log 0 = 0: disjoint supports give log 2, a zero in both gives the JS of the rest,
    all gradients finite."""
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], np.float32)
    q = np.array([[0.0, 0.5, 0.5], [0.25, 0.75, 0.0], [0.2, 0.3, 0.5]], np.float32)
    value, (gp, gq) = adapter.value_and_grad(
        "js_divergence", p, q, wrt=(0, 1), from_logits=False, reduction="none"
    )
    np.testing.assert_allclose(value, scipy_js(p, q), rtol=1e-5, atol=1e-7)
    assert np.all(np.isfinite(gp)) and np.all(np.isfinite(gq))
    # the third row is p = q: no gradient
    np.testing.assert_allclose(gp[2], 0.0, atol=1e-7)


def test_js_divergence_where_and_sample_weight(adapter, rng):
    x = rng.normal(size=(4, 3)).astype(np.float32)
    y = rng.normal(size=(4, 3)).astype(np.float32)
    per_example = scipy_js(softmax64(x), softmax64(y))
    where = np.array([True, False, True, True])
    weight = np.array([1.0, 5.0, 0.0, 2.0], np.float32)
    y[1, 0] = np.inf  # masked out
    value = adapter.call("js_divergence", x, y, where=where, sample_weight=weight, reduction="sum")
    np.testing.assert_allclose(value, per_example[0] + 2 * per_example[3], rtol=1e-5)


def test_js_divergence_errors_and_nan(adapter):
    with pytest.raises(ValueError, match=r"y_true and y_pred .*\(3, 2\).*\(2, 3\)"):
        adapter.call("js_divergence", np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="reduction"):
        adapter.call("js_divergence", np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32), reduction="avg")
    x = np.array([[np.nan, 0.0], [0.0, 1.0], [0.3, 0.1]], np.float32)
    y = np.array([[0.5, 0.5], [np.nan, 0.5], [0.0, 1.0]], np.float32)
    value = adapter.call("js_divergence", x, y, reduction="none")
    assert np.isnan(value[:2]).all() and np.isfinite(value[2])


# --- class forms ---------------------------------------------------------------------------


def test_keras_classes_take_the_teacher_as_y_true(rng):
    import multiloss.keras as mk

    student = rng.normal(size=(4, 5)).astype(np.float32)
    teacher = rng.normal(size=(4, 5)).astype(np.float32)
    loss = mk.DistillationLoss(temperature=2.0)
    assert loss.get_config()["temperature"] == 2.0
    want, _ = torch_distillation(student, teacher, 2.0, "mean")
    np.testing.assert_allclose(float(loss(teacher, student)), want, rtol=1e-5)
    js = mk.JSDivergence()
    np.testing.assert_allclose(
        float(js(teacher, student)), scipy_js(softmax64(student), softmax64(teacher)).mean(), rtol=1e-5
    )


@pytest.mark.cross_framework
def test_torch_modules(rng):
    import multiloss.torch as mt

    student = rng.normal(size=(4, 5)).astype(np.float32)
    teacher = rng.normal(size=(4, 5)).astype(np.float32)
    module = mt.DistillationLoss(temperature=4.0, reduction="sum")
    want, _ = torch_distillation(student, teacher, 4.0, "sum")
    np.testing.assert_allclose(module(torch.from_numpy(student), torch.from_numpy(teacher)).item(), want, rtol=1e-5)
    js = mt.JSDivergence(reduction="none")
    np.testing.assert_allclose(
        js(torch.from_numpy(student), torch.from_numpy(teacher)).numpy(),
        scipy_js(softmax64(student), softmax64(teacher)), rtol=1e-5,
    )
