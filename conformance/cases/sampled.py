"""sampled_softmax_loss and nce_loss: a float64 torch formula of TF's
``_compute_sampled_logits`` with fixed ``sampled_values``, cross-checked against
``tf.nn.sampled_softmax_loss`` / ``tf.nn.nce_loss`` (float32); the sampler's
deterministic output (``true_expected_count`` with ``unique=False``, or one draw) from
``tf.random.log_uniform_candidate_sampler``."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, torch_reference

C, D, B, S = 16, 3, 4, 5


def _problem(rng, num_true):
    # distinct candidates: for a class listed twice TF masks one occurrence only
    perm = rng.permutation(C)
    labels = perm[: B * num_true].reshape(B, num_true).astype(np.int64)
    others = perm[B * num_true:][:3]
    candidates = np.array([labels[0, 0], others[0], others[1], labels[3, -1], others[2]], np.int64)
    sampled_values = (
        candidates,
        rng.uniform(0.1, 1.0, size=(B, num_true)).astype(np.float32),
        rng.uniform(0.1, 1.0, size=S).astype(np.float32),
    )
    inputs = {
        "weights": rng.normal(size=(C, D)).astype(np.float32),
        "biases": rng.normal(size=C).astype(np.float32),
        "labels": labels,
        "inputs": rng.normal(size=(B, D)).astype(np.float32),
        "num_sampled": np.array(S, np.int64),
        "num_classes": np.array(C, np.int64),
    }
    return inputs, sampled_values


def _formula(loss, sampled_values, num_true, remove_accidental_hits):
    def fn(weights, biases, labels, inputs, num_sampled, num_classes):
        import torch

        candidates = torch.tensor(sampled_values[0])
        true_q = torch.tensor(sampled_values[1], dtype=torch.float64)
        sampled_q = torch.tensor(sampled_values[2], dtype=torch.float64)
        true_logits = (inputs[:, None, :] * weights[labels]).sum(-1) + biases[labels]
        sampled_logits = inputs @ weights[candidates].T + biases[candidates]
        true_logits = true_logits - torch.log(true_q)
        sampled_logits = sampled_logits - torch.log(sampled_q)
        if remove_accidental_hits:
            hits = (labels[:, :, None] == candidates[None, None, :]).any(1)
            sampled_logits = torch.where(hits, torch.full_like(sampled_logits, -1e30), sampled_logits)
        logits = torch.cat([true_logits, sampled_logits], 1)
        targets = torch.cat([torch.ones_like(true_logits) / num_true, torch.zeros_like(sampled_logits)], 1)
        if loss == "sampled_softmax_loss":
            return -(targets * torch.log_softmax(logits, -1)).sum(-1)
        terms = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        return terms.sum(-1)

    return torch_reference(fn)


def _tf_value(loss, inputs, sampled_values, **params):
    import tensorflow as tf

    fn = {"sampled_softmax_loss": tf.nn.sampled_softmax_loss, "nce_loss": tf.nn.nce_loss}[loss]
    out = fn(
        tf.constant(inputs["weights"]), tf.constant(inputs["biases"]), tf.constant(inputs["labels"]),
        tf.constant(inputs["inputs"]), S, C,
        sampled_values=tuple(tf.constant(a) for a in sampled_values), **params,
    )
    return out.numpy()


def _loss_cases(loss, rng, default_hits):
    src = f"float64 formula of tf.nn.{loss} (torch autograd), checked against TF float32"
    wrt = ["weights", "biases", "inputs"]
    for num_true in (1, 3):
        for hits in (True, False):
            inputs, sampled_values = _problem(rng, num_true)
            params = {"num_true": num_true, "sampled_values": sampled_values, "remove_accidental_hits": hits}
            reference = _formula(loss, sampled_values, num_true, hits)
            value, _ = reference(inputs, [])
            check_agree(loss, value, _tf_value(loss, inputs, sampled_values, num_true=num_true,
                                               remove_accidental_hits=hits), rtol=1e-5, atol=1e-6)
            yield case(f"num_true_{num_true}_hits_{hits}", inputs, params, reference, source=src, wrt=wrt)
    inputs, sampled_values = _problem(rng, 1)
    params = {"sampled_values": sampled_values}
    reference = _formula(loss, sampled_values, 1, default_hits)
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_defaults", inputs, params, reference, source=src, wrt=wrt, dtype=dtype)


@builds("sampled_softmax_loss")
def sampled_softmax_loss_cases(rng):
    yield from _loss_cases("sampled_softmax_loss", rng, True)


@builds("nce_loss")
def nce_loss_cases(rng):
    yield from _loss_cases("nce_loss", rng, False)


def _tf_sampler_output(index, num_true, num_sampled, unique, range_max):
    def compute(inputs, wrt):
        import tensorflow as tf

        out = tf.random.log_uniform_candidate_sampler(
            inputs["true_classes"], num_true, num_sampled, unique, range_max, seed=1
        )
        return out[index].numpy().astype(np.float64), {}

    return compute


@builds("log_uniform_candidate_sampler")
def log_uniform_candidate_sampler_cases(rng):
    src = "tf.random.log_uniform_candidate_sampler (true_expected_count: deterministic here)"
    settings = [
        # (name, num_true, num_sampled, unique, range_max, dtype)
        ("with_replacement", 2, 7, False, 50, "float32"),
        ("with_replacement_large", 1, 64, False, 1000, "float16"),
        ("unique_single_draw", 3, 1, True, 20, "bfloat16"),
    ]
    for name, num_true, num_sampled, unique, range_max, dtype in settings:
        inputs = {
            "true_classes": rng.integers(0, range_max, size=(4, num_true)).astype(np.int64),
            "num_true": np.array(num_true, np.int64),
            "num_sampled": np.array(num_sampled, np.int64),
            "unique": np.array(unique),
            "range_max": np.array(range_max, np.int64),
        }
        yield case(
            name, inputs, {"seed": 3},
            _tf_sampler_output(1, num_true, num_sampled, unique, range_max),
            source=src, dtype=dtype, wrt=[], output=1,
            note="output 1 (true_expected_count); the sampled classes are random",
        )
