"""VGGClassifier: cost of epochs 2..N against epoch 1 when the frozen part is computed once.

    python benchmarks/classifier_epochs.py                  # VGG16, 32 JPEGs, head and classifier
    python benchmarks/classifier_epochs.py --images 64 --epochs 6

With ``train_layers="head"`` or ``"classifier"`` and augmentation off, every epoch sees
the same view of each image, so the frozen convolutional part runs once (charged to
epoch 1) and later epochs only train the fc layers. An epoch of fewer images than
``MIN_STEPS_PER_EPOCH`` batches passes over them several times (32 images at batch 32:
10 passes), so the target is per pass: each of epochs 2..N, divided by its passes,
costs <= 15% of epoch 1. A run with augmentation on (scale jittering) is printed for contrast:
there every epoch pays the full forward pass, with decoding overlapped in threads.
Random weights: speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from featurizer_speed import make_jpegs

from skvgg import VGGClassifier
from skvgg._training import passes_per_epoch


def run(paths, labels, epochs, **params):
    clf = VGGClassifier(
        arch="vgg16", weights=None, random_state=0, max_epochs=epochs, validation_fraction=None,
        early_stopping=False, device="cpu", **params,
    )  # fmt: skip
    clf.fit(paths, labels)
    return [h["time"] for h in clf.history_]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32, help="VGGClassifier's default")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as directory:
        paths = make_jpegs(Path(directory), args.images)
        labels = np.arange(len(paths)) % 4
        passes = passes_per_epoch(len(paths), args.batch_size)
        for train_layers in ("head", "classifier"):
            times = run(paths, labels, args.epochs, train_layers=train_layers, batch_size=args.batch_size)
            later = times[1:]
            print(f"[{train_layers}] {args.images} JPEGs, VGG16, augmentation off, {passes} passes per epoch")
            print(f"  epoch 1 (incl. the frozen pass): {times[0]:7.2f} s")
            print(f"  epochs 2..{len(times)}: " + ", ".join(f"{t:.2f}" for t in later) + " s")
            print(f"  worst ratio (epoch k / {passes} passes) / epoch 1: {max(later) / passes / times[0]:.3f}  (target <= 0.15)")
        times = run(paths, labels, 2, train_layers="head", batch_size=args.batch_size, scale_jitter=(256, 512))
        print(f"[head, scale_jitter=(256, 512)] epochs: {', '.join(f'{t:.2f}' for t in times)} s (no reuse possible)")


if __name__ == "__main__":
    main()
