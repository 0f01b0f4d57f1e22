"""Fine-tune a VGG on your own images with ``VGGClassifier``, then save and reload it with joblib.

``VGGClassifier`` replaces the 1000-way fc8 of an ImageNet-trained VGG with a layer for your
classes and trains it, with deeper layers on request (``--train-layers``: "head" is fc8
only, "classifier" fc6-fc8, "all" everything, or a layer name such as "conv5_1"), by SGD
with the paper's settings: momentum 0.9, weight decay 5e-4, dropout 0.5, the learning rate
divided by 10 when the held-out score stalls. ``history_`` records each epoch; a fitted
model pickles (joblib) without the pretrained layers it did not change, which are re-read
from their source when it is loaded.

The images come from any folder of class sub-folders (``root/<class>/<image>``, as
torchvision's ImageFolder), read with ``skvgg.datasets.load_image_folder``; a stratified quarter is
kept aside as the test set.

Run it on your own images (one sub-folder per class)::

    python examples/fine_tune.py --root ~/data/flowers [--weights imagenet] [--train-layers classifier] \\
        [--epochs 20] [--augment] [--model-out flowers_vgg16.joblib]

Training fc6-fc8 (120M parameters) wants a GPU; ``--train-layers head`` trains in minutes on
a CPU (the frozen part then runs once per image, not once per epoch).

Without ``--root`` it runs in seconds on a generated folder of tiny synthetic images with a
randomly initialised VGG11 at 64 px (unless ``--weights`` is given) for 3 epochs: the
numbers only show that the pieces run together.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from skvgg import Preprocessing, VGGClassifier
from skvgg.datasets import load_image_folder

# examples/ is not a package: put this script's own folder on sys.path so that `import _common` works
# both when it runs as `python examples/fine_tune.py` and when it is loaded from its path (as the tests do).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (examples/_common.py: the boilerplate the examples share)

#: The stand-in: 3 classes of 8 tiny images.
STANDIN_COUNTS = {"bird": 8, "cat": 8, "dog": 8}


def parse_args(argv=None):
    parser = _common.make_parser(__doc__)
    parser.add_argument("--root", default=None, help="folder of class sub-folders of images; default: a stand-in")
    _common.add_model_options(parser)  # --arch, --weights
    parser.add_argument("--train-layers", default="classifier", help='"head", "classifier" (default), "all", or a layer name')
    parser.add_argument("--epochs", type=int, default=None, help="maximum number of epochs (default 20; 3 for the stand-in)")
    parser.add_argument("--lr", type=float, default=1e-3, help="initial learning rate")
    parser.add_argument("--batch-size", type=int, default=None, help="images per SGD step (default 32; 8 for the stand-in)")
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=None,
        help="training images held out to drive the learning-rate schedule (default 0.1; 0.25 for the stand-in)",
    )
    parser.add_argument("--test-size", type=float, default=0.25, help="fraction of images kept for the final test")
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="side of the training and test view (default 224 after resizing to 256; 64 for the stand-in)",
    )
    parser.add_argument("--augment", action="store_true", help="the paper's training augmentation: scale jittering and flips")
    _common.add_device_options(parser)  # --device, --num-workers
    parser.add_argument("--model-out", default=None, help="where to save the fitted model (default: a temporary file)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the splits, the new layer, shuffling and dropout")
    parser.add_argument("--verbose", action="store_true", help="a progress bar per epoch")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    standin, weights, cheap, arch = _common.resolve_model(args)  # standin: no --root; cheap: and no --weights
    epochs = args.epochs or (3 if standin else 20)
    batch_size = args.batch_size or (8 if standin else 32)
    validation_fraction = args.validation_fraction or (0.25 if standin else 0.1)
    image_size = args.image_size or (64 if cheap else None)
    # A smaller view (resize the shorter side, then centre-crop) costs less; None keeps the
    # weights' own view (256 -> 224). Mean and std stay torchvision's ImageNet values.
    preprocessing = Preprocessing(resize_size=image_size * 8 // 7, crop_size=image_size) if image_size else None
    resize = preprocessing.resize_size if preprocessing else 256

    with tempfile.TemporaryDirectory(prefix="skvgg-finetune-") as tmp:
        root = args.root
        if standin:
            from skvgg.testing import make_image_folder

            root = make_image_folder(os.path.join(tmp, "images"), counts=STANDIN_COUNTS)
            _common.print_standin_banner(
                f"a generated image folder ({root})",
                f"{len(STANDIN_COUNTS)} classes of tiny synthetic images whose colour depends on the class",
                f"({arch}) at {image_size or 224} px",
                weights,
            )

        # 1. The data: paths and labels (the sub-folder names); a stratified test part kept aside.
        data = load_image_folder(root)
        X_train, X_test, y_train, y_test = train_test_split(
            data.paths, data.target, test_size=args.test_size, stratify=data.target, random_state=args.seed
        )
        print(f"{len(data.paths)} images, {len(data.target_names)} classes: {len(X_train)} to train on, {len(X_test)} to test")

        # 2. The classifier. Its own hold-out (validation_fraction of the training images)
        #    drives the learning-rate cuts and early stopping, and picks the best epoch.
        clf = VGGClassifier(
            arch=arch,
            weights=weights,
            train_layers=args.train_layers,
            lr=args.lr,
            batch_size=batch_size,
            max_epochs=epochs,
            validation_fraction=validation_fraction,
            # The paper's augmentation: random crops of the image rescaled to a random
            # smaller side in [S, 2S], randomly mirrored. Without it, the frozen layers
            # run once per image instead of once per epoch.
            scale_jitter=(resize, 2 * resize) if args.augment else None,
            random_flip=args.augment,
            preprocessing=preprocessing,
            device=args.device,
            num_workers=args.num_workers,
            verbose=args.verbose,
            random_state=args.seed,
        )
        print(f"{arch} ({weights or 'random weights'}): training {args.train_layers!r}, at most {epochs} epochs")
        started = time.perf_counter()
        clf.fit(X_train, y_train)
        print(f"  fitted in {time.perf_counter() - started:.1f} s on {clf.device_}, {clf.n_epochs_} epochs")

        # 3. history_: one record per epoch.
        history = pd.DataFrame(clf.history_)
        columns = [c for c in ("epoch", "train_loss", "valid_score", "lr", "lr_cut", "time") if c in history]
        print("history_:")
        print(history[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))

        # 4. The test images (predict_proba gives the posteriors).
        predictions = clf.predict(X_test)
        accuracy = 100 * np.mean(predictions == np.asarray(y_test))
        print(f"test accuracy: {accuracy:.2f} % ({len(X_test)} images)")

        # 5. Save with joblib and load again; the loaded model predicts the same.
        path = args.model_out or os.path.join(tmp, "vgg_classifier.joblib")
        joblib.dump(clf, path)
        size_mb = os.path.getsize(path) / 1e6
        loaded = joblib.load(path)
        same = np.array_equal(loaded.predict(X_test), predictions)
        kept = "" if args.model_out else " (temporary; --model-out PATH keeps it)"
        print(f"saved to {path}{kept}: {size_mb:.1f} MB; reloaded model gives the same predictions: {same}")
        if weights is None:
            print("  (random weights are saved whole; with pretrained weights only the layers that trained are)")
        if not same:
            raise RuntimeError("the reloaded model predicts differently")
    _common.print_standin_footer(standin, weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
