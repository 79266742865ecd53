"""Box regression in PyTorch with GIoU + smooth L1 (the DETR-style box loss).

A small network reads features and predicts one box per example in ``"cxcywh"``
format (centre, width, height); it is trained on the sum of
``multiloss.torch.giou_loss`` (Rezatofighi et al. 2019: also a gradient when the
boxes do not overlap yet, e.g. at the start, when every predicted box is tiny) and
``multiloss.torch.smooth_l1_loss`` on the four coordinates.
Run: ``python examples/boxes_torch.py`` (a few seconds on a CPU).
"""

import os

# multiloss builds on Keras' backend modules; with Keras on torch, TensorFlow is not loaded.
os.environ.setdefault("KERAS_BACKEND", "torch")

import torch  # noqa: E402
from boxes_data import make_boxes  # noqa: E402

import multiloss.torch as ml  # noqa: E402

STEPS = 200


def main():
    torch.manual_seed(0)
    x, boxes = (torch.from_numpy(a) for a in make_boxes())
    net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for step in range(STEPS + 1):
        predicted = net(x)
        giou = ml.giou_loss(predicted, boxes, box_format="cxcywh")
        smooth_l1 = ml.smooth_l1_loss(predicted, boxes)
        total = giou + smooth_l1
        if step % 40 == 0:
            iou = 1.0 - ml.iou_loss(predicted, boxes, box_format="cxcywh")
            print(f"step {step:3d}  giou {giou.item():.4f}  smooth_l1 {smooth_l1.item():.4f}  mean_iou {iou.item():.4f}")
        if step < STEPS:
            optimizer.zero_grad()
            total.backward()
            optimizer.step()


if __name__ == "__main__":
    main()
