"""Caltech-101 with fixed VGG descriptors and a linear SVM (Simonyan & Zisserman 2015, Appendix B, Table 11).

The paper's protocol, written out with scikit-learn pieces:

* descriptors: fc7 (after ReLU) of an ImageNet-trained VGG, evaluated densely on the whole
  image rescaled to smaller side Q for Q in (256, 384, 512), averaged with the mirror image,
  the three scales **stacked** (3 x 4096 = 12288-D), then L2-normalised;
* classifier: a linear SVM (``LinearSVC``), its ``C`` chosen on 20% of each split's
  training images held out per class;
* evaluation: 3 random splits of 30 training and up to 50 test images per class (102
  classes, ``BACKGROUND_Google`` included); metric: mean class recall, mean +- std over
  the splits. Table 11 reports 91.8 +- 1.0 % (VGG16) and 92.3 +- 0.5 % (VGG19).

The pipeline is ``VGGFeaturizer -> Normalizer -> LinearSVC`` inside a ``GridSearchCV`` (the
inner validation), refitted on every outer split. ``VGGFeaturizer(cache=True)`` keeps
each image's descriptor in memory, so every image goes through the network once, whatever
the number of splits and ``C`` values. ``skvgg.experiments.run_transfer("caltech101", root)``
runs the same protocol in one call.

Run it on the real dataset (``root`` holds ``101_ObjectCategories``, as extracted from
caltech-101.zip; ``--download`` fetches it through torchvision)::

    python examples/caltech101_transfer.py --root ~/data/caltech101 [--weights imagenet] [--arch vgg19]

With a GPU it takes minutes; on a CPU, hours (about 3000 x 3 scales x 2 flips network passes
at 256-512 px). ``--scales 256`` is a quicker approximation.

Without ``--root`` it runs in seconds on a generated miniature Caltech-101 tree (a few
classes of tiny synthetic images) with a randomly initialised VGG11 (unless ``--weights``
is given) and a reduced protocol: the numbers only show that the pieces run together.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC

from skvgg import VGGFeaturizer, resolve_arch
from skvgg.datasets import load_caltech101
from skvgg.experiments import TABLE_11
from skvgg.metrics import mean_class_recall, mean_class_recall_scorer
from skvgg.model_selection import CALTECH101_PROTOCOL, PerClassHoldOut, PerClassSplit

# examples/ is not a package: put this script's own folder on sys.path so that `import _common` works
# both when it runs as `python examples/caltech101_transfer.py` and when it is loaded from its path (as the tests do).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (examples/_common.py: the boilerplate the examples share)

#: The paper's test scales for Caltech (Appendix B), stacked.
PAPER_SCALES = (256, 384, 512)

#: SVM regularisation values tried on the held-out 20% of each split's training images.
C_GRID = (0.01, 0.1, 1.0, 10.0)

#: The stand-in: 5 classes of 5 tiny images, split 3 train / 2 test per class.
STANDIN_COUNTS = {"BACKGROUND_Google": 5, "Faces": 5, "accordion": 5, "airplanes": 5, "anchor": 5}
STANDIN_PROTOCOL = dict(n_train=3, n_test=2, n_splits=3)


def parse_args(argv=None):
    parser = _common.make_parser(__doc__)
    parser.add_argument("--root", default=None, help="Caltech-101 directory (holding 101_ObjectCategories); default: a stand-in")
    parser.add_argument("--download", action="store_true", help="download Caltech-101 into --root if it is missing")
    _common.add_model_options(parser)  # --arch, --weights
    parser.add_argument("--scales", type=int, nargs="+", default=None, help="test scales Q (default 256 384 512)")
    parser.add_argument("--splits", type=int, default=None, help="number of random splits (default 3)")
    parser.add_argument("--n-train", type=int, default=None, help="training images per class (default 30)")
    parser.add_argument("--n-test", type=int, default=None, help="maximum test images per class (default 50)")
    _common.add_device_options(parser, batch_size_help="network inputs per forward pass")  # --device, --batch-size, --num-workers
    parser.add_argument("--cache-dir", default=None, help="keep descriptors on disk here (reused by later runs)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the splits (and random weights)")
    parser.add_argument("--verbose", action="store_true", help="progress bars")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    standin, weights, cheap, arch = _common.resolve_model(args)  # standin: no --root; cheap: and no --weights
    # Dense evaluation needs Q >= 224; the stand-in uses the smallest single scale.
    scales = tuple(args.scales) if args.scales else ((224,) if cheap else PAPER_SCALES)
    protocol = dict(STANDIN_PROTOCOL if standin else CALTECH101_PROTOCOL)
    for key, value in (("n_splits", args.splits), ("n_train", args.n_train), ("n_test", args.n_test)):
        if value is not None:
            protocol[key] = value

    with tempfile.TemporaryDirectory(prefix="skvgg-caltech101-") as tmp:
        root = args.root
        if standin:
            from skvgg.testing import make_caltech101

            root = make_caltech101(tmp, counts=STANDIN_COUNTS)
            _common.print_standin_banner(
                f"a generated miniature Caltech-101 ({root})",
                f"{len(STANDIN_COUNTS)} classes of tiny synthetic images whose colour depends on the class",
                f"({arch})",
                weights,
                goal="to reproduce the paper",
            )

        # 1. The data: image paths and their class names.
        data = load_caltech101(root, download=args.download)
        X, y = np.asarray(data.paths), np.asarray(data.target)
        print(f"Caltech-101: {len(X)} images, {len(data.target_names)} classes ({data.root})")

        # 2. The model: VGG descriptors -> L2 normalisation -> linear SVM.
        featurizer = VGGFeaturizer(
            arch=arch,
            weights=weights,
            layer="fc7",
            scales=scales,  # dense evaluation at each Q ...
            flip=True,  # ... averaged with the mirror image ...
            scale_pooling="stack",  # ... and the scales concatenated
            batch_size=args.batch_size,
            device=args.device,
            num_workers=args.num_workers,
            cache=args.cache_dir or True,  # each image described once across splits and C values
            verbose=args.verbose,
            random_state=args.seed,  # seeds the weights when they are random
        )
        model = Pipeline([("vgg", featurizer), ("l2", Normalizer()), ("svm", LinearSVC())])

        # 3. The inner validation: C chosen on 20% of each class's training images.
        #    (skvgg.experiments.paper_search("caltech101", model) builds the same search.)
        search = GridSearchCV(
            model,
            {"svm__C": list(C_GRID)},
            cv=PerClassHoldOut(fraction=0.2, random_state=args.seed),
            scoring=mean_class_recall_scorer,
        )

        # 4. The outer splits: n_train training and up to n_test test images per class.
        outer = PerClassSplit(**protocol, random_state=args.seed)
        print(
            f"{arch} ({weights or 'random weights'}), fc7 at scales {', '.join(map(str, scales))} px (concatenated), "
            "averaged with the mirror image, L2, LinearSVC; "
            f"{protocol['n_splits']} splits of {protocol['n_train']} train / <= {protocol['n_test']} test per class"
        )
        scores = []
        started = time.perf_counter()
        for number, (train, test) in enumerate(outer.split(X, y), start=1):
            search.fit(X[train], y[train])
            recall = 100 * mean_class_recall(y[test], search.predict(X[test]))
            scores.append(recall)
            print(
                f"  split {number}: mean class recall {recall:6.2f} %  (C={search.best_params_['svm__C']:g}, "
                f"{len(train)} train / {len(test)} test images, {time.perf_counter() - started:.0f} s so far)"
            )

    # 5. The summary, next to the paper's Table 11.
    paper = TABLE_11.get(("caltech101", resolve_arch(arch).name))
    paper_text = f"{paper[0]:.1f} +- {paper[1]:.1f} %" if paper else "not in Table 11"
    print(f"mean +- std over {len(scores)} splits: {np.mean(scores):.2f} +- {np.std(scores):.2f} %")
    print(f"paper (Table 11, {resolve_arch(arch).name}): {paper_text}")
    _common.print_standin_footer(standin, weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
