"""Which VGG layer makes the best descriptor? A GridSearchCV over the layer and the SVM's C.

The featurizer's ``layer`` is an ordinary scikit-learn parameter, so ``GridSearchCV`` can
tune it together with the classifier::

    Pipeline([("vgg", VGGFeaturizer(cache=True)), ("l2", Normalizer()), ("svm", LinearSVC())])
    grid = {"vgg__layer": ["fc6", "fc7", "pool5"], "svm__C": [0.1, 1, 10]}

With ``cache=True`` each image's descriptor is kept in memory per layer: the search
computes every (image, layer) once, not once per fold and per ``C``. The images come from
any folder of class sub-folders (``root/<class>/<image>``, as torchvision's ImageFolder),
read with ``skvgg.datasets.load_image_folder``. A quarter of the images is kept aside for a final
test of the best combination.

Run it on your own images (one sub-folder per class)::

    python examples/grid_search_layers.py --root ~/data/flowers [--weights imagenet] [--layers fc6 fc7 pool5 conv5_3]

Without ``--root`` it runs in seconds on a generated folder of tiny synthetic images with
a randomly initialised VGG11 at 64 px (unless ``--weights`` is given): the scores only
show that the pieces run together.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC

from skvgg import Preprocessing, VGGFeaturizer
from skvgg.datasets import load_image_folder
from skvgg.metrics import mean_class_recall_scorer

# examples/ is not a package: put this script's own folder on sys.path so that `import _common` works
# both when it runs as `python examples/grid_search_layers.py` and when it is loaded from its path (as the tests do).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (examples/_common.py: the boilerplate the examples share)

#: The stand-in: 3 classes of 8 tiny images.
STANDIN_COUNTS = {"bird": 8, "cat": 8, "dog": 8}


def parse_args(argv=None):
    parser = _common.make_parser(__doc__)
    parser.add_argument("--root", default=None, help="folder of class sub-folders of images; default: a stand-in")
    _common.add_model_options(parser)  # --arch, --weights
    parser.add_argument("--layers", nargs="+", default=["fc6", "fc7", "pool5"], help="layers to compare")
    parser.add_argument("--Cs", type=float, nargs="+", default=[0.1, 1.0, 10.0], help="SVM C values to compare")
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds (stratified)")
    parser.add_argument("--test-size", type=float, default=0.25, help="fraction of images kept for the final test")
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="side of the single centre view (default 224 after resizing to 256; 64 for the stand-in)",
    )
    _common.add_device_options(parser, batch_size_help="images per forward pass")  # --device, --batch-size, --num-workers
    parser.add_argument("--seed", type=int, default=0, help="seeds the splits (and random weights)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    standin, weights, cheap, arch = _common.resolve_model(args)  # standin: no --root; cheap: and no --weights
    image_size = args.image_size or (64 if cheap else None)
    # A smaller single view (resize the shorter side, then centre-crop) costs less; None keeps
    # the weights' own view (256 -> 224). Mean and std stay torchvision's ImageNet values.
    preprocessing = Preprocessing(resize_size=image_size * 8 // 7, crop_size=image_size) if image_size else None

    with tempfile.TemporaryDirectory(prefix="skvgg-folder-") as tmp:
        root = args.root
        if standin:
            from skvgg.testing import make_image_folder

            root = make_image_folder(tmp, counts=STANDIN_COUNTS)
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
        print(f"{len(data.paths)} images, {len(data.target_names)} classes: {len(X_train)} to search on, {len(X_test)} to test")

        # 2. The pipeline; the search sets vgg__layer and svm__C on clones of it.
        featurizer = VGGFeaturizer(
            arch=arch,
            weights=weights,
            preprocessing=preprocessing,
            batch_size=args.batch_size,
            device=args.device,
            num_workers=args.num_workers,
            cache=True,  # descriptors kept in memory, shared by the search's clones
            random_state=args.seed,  # seeds the weights when they are random
        )
        model = Pipeline([("vgg", featurizer), ("l2", Normalizer()), ("svm", LinearSVC())])
        grid = {"vgg__layer": list(args.layers), "svm__C": list(args.Cs)}

        # 3. The search: every layer x C, scored by mean class recall (balanced accuracy) in
        #    stratified folds, then the best combination refitted on all the search images.
        search = GridSearchCV(
            model,
            grid,
            cv=StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed),
            scoring=mean_class_recall_scorer,
        )
        print(f"{arch} ({weights or 'random weights'}): {len(args.layers)} layers x {len(args.Cs)} C values x {args.folds} folds")
        started = time.perf_counter()
        search.fit(X_train, y_train)
        seconds = time.perf_counter() - started

        # 4. cv_results_ as a small table, best first.
        results = pd.DataFrame(search.cv_results_)
        table = pd.DataFrame(
            {
                "layer": results["param_vgg__layer"],
                "C": results["param_svm__C"],
                "recall %": 100 * results["mean_test_score"],
                "+- std": 100 * results["std_test_score"],
                "fit s": results["mean_fit_time"],
                "rank": results["rank_test_score"],
            }
        ).sort_values(["rank", "layer", "C"])
        print(f"cv_results_ ({len(table)} candidates, searched in {seconds:.1f} s):")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        print("(fit s: the first fits of a layer compute its descriptors; the others read them from the cache)")

        # 5. The best combination on the images kept aside (their descriptors are computed now).
        best = search.best_params_
        test_score = 100 * search.score(X_test, y_test)
        print(f"best: layer={best['vgg__layer']}, C={best['svm__C']:g}; test mean class recall {test_score:.2f} %")
    _common.print_standin_footer(standin, weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
