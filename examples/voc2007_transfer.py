"""PASCAL VOC-2007 classification with fixed VGG descriptors (Simonyan & Zisserman 2015, Appendix B, Table 11).

The paper's protocol, written out with scikit-learn pieces:

* descriptors: fc7 (after ReLU) of an ImageNet-trained VGG, evaluated densely on the whole
  image rescaled to smaller side Q for Q in (256, 384, 512, 640, 768), averaged with the
  mirror image and **averaged** over the scales (4096-D), then L2-normalised;
* classifier: one linear SVM per class (``OneVsRestClassifier(LinearSVC())``) trained on
  ``trainval``; ``C`` chosen on 20% of ``trainval`` held out;
* evaluation on ``test``: the VOC-2007 11-point interpolated average precision per class
  (images marked "difficult" for a class are ignored, as in the devkit), and their mean.
  Table 11 reports 89.3 % mAP for VGG16 and for VGG19.

``VGGFeaturizer(cache=True)`` keeps each image's descriptor in memory, so the grid search
over ``C`` and the final refit describe every image once.
``skvgg.experiments.run_transfer("voc2007", root)`` runs the same protocol in one call.

Run it on the real dataset (``root`` holds ``VOCdevkit/VOC2007`` with both the trainval and
the test archives extracted; ``--download`` fetches them through torchvision)::

    python examples/voc2007_transfer.py --root ~/data/voc [--weights imagenet] [--arch vgg19]

About 10,000 images x 5 scales x 2 flips at up to 768 px: an hour or so on a GPU.
``--scales 256 384`` is a quicker approximation.

Without ``--root`` it runs in seconds on a generated miniature VOC-2007 tree (30 tiny
synthetic images with made-up labels) with a randomly initialised VGG11 (unless
``--weights`` is given): the numbers only show that the pieces run together.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.model_selection import GridSearchCV, ShuffleSplit
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC

from skvgg import VGGFeaturizer, resolve_arch
from skvgg.datasets import VOC_CLASSES, load_voc
from skvgg.experiments import TABLE_11
from skvgg.metrics import voc07_map_scorer, voc_average_precision

# examples/ is not a package: put this script's own folder on sys.path so that `import _common` works
# both when it runs as `python examples/voc2007_transfer.py` and when it is loaded from its path (as the tests do).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (examples/_common.py: the boilerplate the examples share)

#: The paper's test scales for VOC (Appendix B), averaged.
PAPER_SCALES = (256, 384, 512, 640, 768)

#: SVM regularisation values tried on the held-out 20% of trainval.
C_GRID = (0.01, 0.1, 1.0, 10.0)


def standin_images():
    """Labels of the generated miniature VOC-2007: ``{image_id: (set, objects)}``, as make_voc takes them.

    20 trainval images (each class in two of them) and 10 test images (each class in one),
    plus a few objects marked difficult, which the evaluation ignores.
    """

    def obj(k, difficult=0):
        return {"name": VOC_CLASSES[k % 20], "difficult": difficult, "truncated": 0, "pose": "Unspecified"}

    images = {}
    for i in range(20):
        objects = [obj(i), obj(i + 7)] + ([obj(i + 3, difficult=1)] if i % 4 == 0 else [])
        images[f"{i + 1:06d}"] = ("train" if i % 2 == 0 else "val", objects)
    for j in range(10):
        objects = [obj(2 * j), obj(2 * j + 1)] + ([obj(2 * j + 5, difficult=1)] if j % 3 == 0 else [])
        images[f"{j + 21:06d}"] = ("test", objects)
    return images


def parse_args(argv=None):
    parser = _common.make_parser(__doc__)
    parser.add_argument("--root", default=None, help="directory holding VOCdevkit/VOC2007 (trainval + test); default: a stand-in")
    parser.add_argument("--download", action="store_true", help="download VOC-2007 trainval and test into --root if missing")
    _common.add_model_options(parser)  # --arch, --weights
    parser.add_argument("--scales", type=int, nargs="+", default=None, help="test scales Q (default 256 384 512 640 768)")
    _common.add_device_options(parser, batch_size_help="network inputs per forward pass")  # --device, --batch-size, --num-workers
    parser.add_argument("--cache-dir", default=None, help="keep descriptors on disk here (reused by later runs)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the validation split (and random weights)")
    parser.add_argument("--verbose", action="store_true", help="progress bars")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    standin, weights, cheap, arch = _common.resolve_model(args)  # standin: no --root; cheap: and no --weights
    # Dense evaluation needs Q >= 224; the stand-in uses the smallest single scale.
    scales = tuple(args.scales) if args.scales else ((224,) if cheap else PAPER_SCALES)

    with tempfile.TemporaryDirectory(prefix="skvgg-voc2007-") as tmp, warnings.catch_warnings():
        root = args.root
        if standin:
            from skvgg.testing import make_voc

            # 32x32 images: rescaled to Q=224, each is one 224x224 network input.
            root = make_voc(tmp, "2007", images=standin_images(), size=(32, 32))
            _common.print_standin_banner(
                f"a generated miniature VOC-2007 ({root})",
                "30 tiny synthetic images with made-up labels",
                f"({arch})",
                weights,
                goal="to reproduce the paper",
            )
            # So few images leave classes without a positive in the validation part or in the
            # 80% the SVMs are trained on; scikit-learn warns about each. Not so on the real data.
            warnings.filterwarnings("ignore", category=UndefinedMetricWarning)
            warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")

        # 1. The data: trainval to train, test to evaluate. ``Y`` is the 0/1 indicator to train
        #    on; ``target`` the devkit's 1 / 0 (difficult: ignored) / -1 labels to score against.
        train = load_voc(root, "2007", "trainval", download=args.download)
        test = load_voc(root, "2007", "test", download=args.download)
        print(f"VOC-2007: {len(train.paths)} trainval and {len(test.paths)} test images, {len(VOC_CLASSES)} classes")

        # 2. The model: VGG descriptors -> L2 normalisation -> one linear SVM per class.
        featurizer = VGGFeaturizer(
            arch=arch,
            weights=weights,
            layer="fc7",
            scales=scales,  # dense evaluation at each Q ...
            flip=True,  # ... averaged with the mirror image ...
            scale_pooling="mean",  # ... and over the scales
            batch_size=args.batch_size,
            device=args.device,
            num_workers=args.num_workers,
            cache=args.cache_dir or True,  # each image described once, whatever the number of fits
            verbose=args.verbose,
            random_state=args.seed,  # seeds the weights when they are random
        )
        model = Pipeline([("vgg", featurizer), ("l2", Normalizer()), ("svm", OneVsRestClassifier(LinearSVC()))])

        # 3. C validated on 20% of trainval with the 11-point mAP, then refitted on all of trainval.
        #    (skvgg.experiments.paper_search("voc2007", model) builds the same search.)
        search = GridSearchCV(
            model,
            {"svm__estimator__C": list(C_GRID)},
            cv=ShuffleSplit(n_splits=1, test_size=0.2, random_state=args.seed),
            scoring=voc07_map_scorer,
        )
        print(
            f"{arch} ({weights or 'random weights'}), fc7 at scales {', '.join(map(str, scales))} px (averaged), "
            "averaged with the mirror image, L2, one-vs-rest LinearSVC"
        )
        started = time.perf_counter()
        search.fit(train.paths, train.Y)
        print(f"  trained in {time.perf_counter() - started:.0f} s; C={search.best_params_['svm__estimator__C']:g}")

        # 4. Scores of the test images, ranked per class: the 11-point AP of each class.
        decision = search.decision_function(test.paths)
        ap = voc_average_precision(test.target, decision, method="11point")

    print("  class          AP (%)")
    for name, value in zip(VOC_CLASSES, ap):
        print(f"  {name:<12} {'   n/a' if np.isnan(value) else f'{100 * value:6.1f}'}")
    mean_ap = 100 * float(np.nanmean(ap))
    paper = TABLE_11.get(("voc2007", resolve_arch(arch).name))
    paper_text = f"{paper[0]:.1f} %" if paper else "not in Table 11"
    print(f"mAP (11-point) on test: {mean_ap:.2f} %")
    print(f"paper (Table 11, {resolve_arch(arch).name}): {paper_text}")
    _common.print_standin_footer(standin, weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
