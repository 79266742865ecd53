"""Metric learning in PyTorch with ArcFace on scikit-learn's digits.

A small MLP embeds 8×8 digit images in 16 dimensions; the cosine logits are the
normalised embeddings times a normalised class-weight matrix (one learned "class
centre" per digit), trained with ``multiloss.torch.arcface_loss`` (additive angular
margin m = 0.3, scale s = 16). At the end the held-out digits are classified by their
nearest class centre (the mean training embedding of each digit, by cosine) and by
the largest cosine logit.
Run: ``python examples/metric_torch.py`` (a few seconds on a CPU).
"""

import os

# multiloss builds on Keras' backend modules; with Keras on torch, TensorFlow is not loaded.
os.environ.setdefault("KERAS_BACKEND", "torch")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from metric_data import CLASSES, EMBEDDING_DIM, centre_accuracy, load_split  # noqa: E402

import multiloss.torch as ml  # noqa: E402

STEPS = 300
SCALE, MARGIN = 16.0, 0.3


class CosineClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Sequential(
            torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, EMBEDDING_DIM)
        )
        self.class_weights = torch.nn.Parameter(torch.randn(CLASSES, EMBEDDING_DIM))

    def forward(self, x):  # -> (embeddings [B, D], cosine logits [B, C])
        embeddings = self.embed(x)
        cosines = F.normalize(embeddings, dim=-1) @ F.normalize(self.class_weights, dim=-1).T
        return embeddings, cosines


def main():
    torch.manual_seed(0)
    x_train, y_train, x_test, y_test = (torch.from_numpy(a) for a in load_split())
    model = CosineClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(STEPS + 1):
        _, cosines = model(x_train)
        loss = ml.arcface_loss(cosines, y_train, scale=SCALE, margin=MARGIN)
        if step % 50 == 0:
            print(f"step {step:3d}  arcface {loss.item():.4f}")
        if step < STEPS:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        train_embeddings, _ = model(x_train)
        test_embeddings, test_cosines = model(x_test)
    centre = centre_accuracy(train_embeddings.numpy(), y_train.numpy(), test_embeddings.numpy(), y_test.numpy())
    logit = (test_cosines.argmax(-1) == y_test).float().mean().item()
    print(f"held-out accuracy: nearest class centre {centre:.4f}  cosine logits {logit:.4f}")


if __name__ == "__main__":
    main()
