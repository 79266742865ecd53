"""Semantic segmentation in PyTorch with Dice + cross entropy.

A two-layer convolutional network labels every pixel of small synthetic grey images
(background, rectangles, discs). It is trained on the sum of
``multiloss.torch.dice_loss`` (soft Dice per image, averaged over the classes: every
class weighs the same, however few pixels it has) and ``multiloss.torch.cross_entropy``
with integer class ids on the channel-last logits ``[B, H, W, C]``.
Run: ``python examples/segmentation_torch.py`` (a few seconds on a CPU).
"""

import os

# multiloss builds on Keras' backend modules; with Keras on torch, TensorFlow is not loaded.
os.environ.setdefault("KERAS_BACKEND", "torch")

import torch  # noqa: E402
from segmentation_data import make_masks  # noqa: E402

import multiloss.torch as ml  # noqa: E402

STEPS = 40


class SegmentationNet(torch.nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.features = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.classifier = torch.nn.Conv2d(8, classes, 3, padding=1)

    def forward(self, images):  # [B, H, W, 1] -> logits [B, H, W, C] (channel-last)
        h = torch.tanh(self.features(images.permute(0, 3, 1, 2)))
        return self.classifier(h).permute(0, 2, 3, 1)


def main():
    torch.manual_seed(0)
    images, masks = (torch.from_numpy(a) for a in make_masks())
    net = SegmentationNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.03)
    for step in range(STEPS + 1):
        logits = net(images)
        dice = ml.dice_loss(logits, masks)
        ce = ml.cross_entropy(logits, masks)
        if step % 10 == 0:
            accuracy = (logits.argmax(-1) == masks).float().mean()
            print(f"step {step:3d}  dice {dice.item():.4f}  cross_entropy {ce.item():.4f}  pixel_accuracy {accuracy.item():.4f}")
        if step < STEPS:
            optimizer.zero_grad()
            (dice + ce).backward()
            optimizer.step()


if __name__ == "__main__":
    main()
