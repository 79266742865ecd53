"""Two-task training in PyTorch with learned uncertainty weighting (Kendall et al. 2018).

A shared trunk feeds a regression head (mean squared error) and a 3-class
classification head (cross-entropy); ``multiloss.torch.UncertaintyWeighting`` holds one
trainable ``log_vars`` entry per task (an ``nn.Parameter``) and combines the two losses.
Run: ``python examples/multitask_torch.py`` (a few seconds on a CPU).
"""

import os

# multiloss builds on Keras' backend modules; with Keras on torch, TensorFlow is not loaded.
os.environ.setdefault("KERAS_BACKEND", "torch")

import torch  # noqa: E402
from synthetic_data import make_data  # noqa: E402

import multiloss.torch as ml  # noqa: E402

STEPS = 60


class TwoTaskNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh())
        self.regression_head = torch.nn.Linear(16, 1)
        self.classification_head = torch.nn.Linear(16, 3)

    def forward(self, x):
        h = self.trunk(x)
        return self.regression_head(h), self.classification_head(h)


def main():
    """Train, print progress, and return the run: one dict per step (``step``, ``mse``,
    ``cross_entropy``, ``total``, ``log_vars``), before that step's update."""
    torch.manual_seed(0)
    x, y_reg, labels = (torch.from_numpy(a) for a in make_data())
    net = TwoTaskNet()
    weighting = ml.UncertaintyWeighting(2, task_types=["regression", "classification"])
    optimizer = torch.optim.Adam([*net.parameters(), *weighting.parameters()], lr=0.05)
    history = []
    for step in range(STEPS + 1):
        prediction, logits = net(x)
        mse = ml.mean_squared_error(prediction, y_reg)
        ce = ml.cross_entropy(logits, labels)
        total = weighting([mse, ce])
        history.append({"step": step, "mse": mse.item(), "cross_entropy": ce.item(),
                        "total": total.item(), "log_vars": weighting.log_vars.tolist()})
        if step % 10 == 0:
            print(f"step {step:3d}  mse {mse.item():.4f}  cross_entropy {ce.item():.4f}  total {total.item():.4f}")
        if step < STEPS:
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
    log_vars = weighting.log_vars.detach().numpy()
    print(f"log_vars (regression, classification): {log_vars[0]:.4f}, {log_vars[1]:.4f}")
    return history


if __name__ == "__main__":
    main()
