"""ctc_loss from torch.nn.functional.ctc_loss (float64) on log_softmax of the
batch-major logits, per sequence (reduction='none', zero_infinity=True: an unalignable
sequence gives 0 with a zero gradient); "mean"/"sum" reduce those values (torch's own
"mean" divides by the label lengths first, which multiloss' does not). The typical
cases are cross-checked against optax.losses.ctc_loss (float64)."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, torch_reference

SOURCE = (
    "torch.nn.functional.ctc_loss(log_softmax(y_pred).transpose(0, 1), ..., "
    "reduction='none', zero_infinity=True) (float64)"
)


def _torch(blank: int, reduction: str):
    import torch.nn.functional as F

    def fn(y_pred, y_true, pred_lengths, label_lengths):
        log_probs = y_pred.log_softmax(-1).transpose(0, 1)
        return F.ctc_loss(
            log_probs, y_true, pred_lengths, label_lengths, blank=blank,
            reduction="none", zero_infinity=True,
        )

    return torch_reference(fn, reduction)


def _optax(inputs: dict, blank: int) -> np.ndarray:
    import jax.numpy as jnp
    import optax

    steps, labels = inputs["y_pred"].shape[1], inputs["y_true"].shape[1]
    logit_paddings = np.arange(steps)[None, :] >= inputs["pred_lengths"][:, None]
    label_paddings = np.arange(labels)[None, :] >= inputs["label_lengths"][:, None]
    return np.asarray(optax.losses.ctc_loss(
        jnp.asarray(inputs["y_pred"], jnp.float64), jnp.asarray(logit_paddings, jnp.float64),
        jnp.asarray(inputs["y_true"]), jnp.asarray(label_paddings, jnp.float64), blank_id=blank,
    ))


def _with_optax_check(name: str, inputs: dict, blank: int, reference):
    """The torch reference, checked against optax on the same inputs."""

    def compute(arrays, wrt):
        value, grads = reference(arrays, wrt)
        check_agree(f"ctc_loss {name}: torch vs optax", value, _optax(arrays, blank), rtol=1e-9, atol=1e-9)
        return value, grads

    return compute


def _inputs(y_pred, y_true, pred_lengths, label_lengths) -> dict:
    return {
        "y_pred": y_pred.astype(np.float32), "y_true": np.asarray(y_true, np.int64),
        "pred_lengths": np.asarray(pred_lengths, np.int64),
        "label_lengths": np.asarray(label_lengths, np.int64),
    }


@builds("ctc_loss")
def ctc_loss_cases(rng):
    # B = 4, T = 8, C = 5, S = 3: varying frame and label counts, a repeated label (a
    # blank needed between), an empty label sequence, padding values that are not read
    logits = rng.normal(scale=1.5, size=(4, 8, 5))
    labels = np.array([[1, 2, 3], [2, 2, 4], [3, 1, -1], [0, 0, 0]])
    typical = _inputs(logits, labels, [8, 6, 5, 3], [3, 3, 2, 0])
    check = _inputs(logits, np.where(labels < 0, 0, labels), [8, 6, 5, 3], [3, 3, 2, 0])
    for reduction in ("none", "mean", "sum"):
        reference = _torch(0, reduction)
        if reduction == "none":  # optax (padding 0 for its one-hot) agrees
            reference = _with_optax_check("typical", check, 0, reference)
            yield case("typical_none", check, {"reduction": reduction}, reference, source=SOURCE)
        else:
            yield case(f"typical_{reduction}", typical, {"reduction": reduction}, reference,
                       source=SOURCE, note="label padding -1 (not read)")

    # repeats: tight alignments (L + repeats = T) and runs of one class
    repeats = _inputs(
        rng.normal(scale=1.5, size=(3, 6, 4)),
        [[1, 1, 1], [2, 2, 3], [3, 1, 3]], [5, 4, 6], [3, 3, 3],
    )
    yield case("repeats_none", repeats, {"reduction": "none"},
               _with_optax_check("repeats", repeats, 0, _torch(0, "none")), source=SOURCE,
               note="1 1 1 needs 5 frames, 2 2 3 needs 4: exactly the frames given")

    # the blank as the last class, and the blank as a label (torch's skip rule)
    last = _inputs(rng.normal(size=(3, 7, 6)), [[0, 1, 2, 3], [4, 4, 0, 0], [2, 0, 1, 1]],
                   [7, 7, 5], [4, 2, 3])
    yield case("blank_last_none", last, {"blank": 5, "reduction": "none"},
               _with_optax_check("blank_last", last, 5, _torch(5, "none")), source=SOURCE)
    yield case("blank_2_mean", last, {"blank": 2, "reduction": "mean"}, _torch(2, "mean"),
               source=SOURCE, note="the blank id 2 also occurs as a label, as torch allows")

    # unalignable sequences: 0 with a zero gradient (zero_infinity=True); no frames
    short = _inputs(rng.normal(size=(5, 4, 4)),
                    [[1, 2, 3], [1, 1, 2], [3, 3, 3], [1, 2, 0], [2, 0, 0]],
                    [2, 3, 4, 0, 0], [3, 3, 3, 0, 1])
    yield case("unalignable_none", short, {"reduction": "none"}, _torch(0, "none"), source=SOURCE,
               note="labels longer than their frames (counting blanks between repeats) give 0; "
                    "0 frames: 0 for no labels, unalignable for one")
    yield case("unalignable_sum", short, {"reduction": "sum"}, _torch(0, "sum"), source=SOURCE)

    # large magnitudes: log-probabilities of about -1e3 per frame
    large = _inputs(logits * 200.0, np.where(labels < 0, 0, labels), [8, 6, 5, 3], [3, 3, 2, 0])
    yield case("large_logits_none", large, {"reduction": "none"}, _torch(0, "none"),
               source=SOURCE, note="logits ~ ±600: exact in log space")

    # a longer batch, full lengths
    long = _inputs(rng.normal(size=(2, 40, 8)), rng.integers(1, 8, size=(2, 12)), [40, 33], [12, 9])
    yield case("long_mean", long, {"reduction": "mean"}, _torch(0, "mean"), source=SOURCE,
               grad_tol={"rtol": 1e-5, "atol": 5e-6},
               note="gradient atol 5e-6: float32 rounding accumulates over the 40 steps of the "
                    "recursion and of its reverse (about 1e-6 seen)")

    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_none", check, {"reduction": "none"}, _torch(0, "none"),
                   source=SOURCE, dtype=dtype)
        yield case(f"{dtype}_blank_last_mean", last, {"blank": 5, "reduction": "mean"},
                   _torch(5, "mean"), source=SOURCE, dtype=dtype)
