"""``skvgg demo``: transfer learning on scikit-learn's digits, against the same classifier on raw pixels."""

from __future__ import annotations

import time

from ._options import (
    add_network_options,
    add_plot_option,
    at_least,
    check_network,
    int_list,
    layer_list,
    network_params,
    one_or_many,
    validated_estimator,
    wrapped_text,
)

EXAMPLES = """\
examples:
  skvgg demo
      VGG16's ImageNet fc7 descriptors against raw pixels on the digits (downloads the weights once)
  skvgg demo --arch vgg11 --size 64 --per-class 1,10 --repeats 2 --plot curve.png
      a quicker run, with the learning curve as a figure
  skvgg demo --weights none --quiet
      offline, random weights: shows the pipeline, not transfer learning
"""


def add_parser(commands) -> None:
    import argparse

    demo = commands.add_parser(
        "demo",
        help="transfer learning on scikit-learn's digits vs raw pixels (minutes on a CPU)",
        description=wrapped_text(
            "Transfer learning on scikit-learn's handwritten digits: a linear SVM on VGG descriptors "
            "against the same SVM on raw pixels, for a few training set sizes."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_network_options(demo, arch_help="network(s); comma-separated names stack several")
    demo.add_argument(
        "--layer", type=layer_list, default=["fc7"], metavar="LAYERS", help="descriptor layer(s), comma-separated (default: fc7)"
    )
    demo.add_argument(
        "--size",
        type=at_least(32),
        default=112,
        metavar="PIXELS",
        help="side the 8x8 digits are upscaled to, >= 32 (default: 112)",
    )
    demo.add_argument(
        "--per-class",
        type=int_list,
        default=[1, 3, 10, 30],
        metavar="N[,N...]",
        help="training images per class, one learning-curve point each (default: 1,3,10,30)",
    )
    demo.add_argument("--test-per-class", type=at_least(1), default=30, metavar="N", help="test images per class (default: 30)")
    demo.add_argument(
        "--repeats", type=at_least(1), default=5, metavar="N", help="random draws of the training images per point (default: 5)"
    )
    demo.add_argument(
        "--seed",
        type=at_least(0),
        default=0,
        metavar="N",
        help="seeds the test set, the training draws and the random weights of --weights none (default: 0)",
    )
    add_plot_option(demo, "the learning curve (accuracy vs training images per class, both feature sets, error bars)")
    demo.set_defaults(func=run, parser=demo)


def run(args) -> int:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer
    from sklearn.svm import LinearSVC

    from ..featurizer import VGGFeaturizer
    from ..models.weights import Preprocessing
    from ._output import check_plot_option, write_figure

    check_network(args, args.layer)
    plot_file = check_plot_option(args)
    layer = ",".join(args.layer)
    digits = load_digits()
    images, labels = digits.images / 16.0, digits.target  # 8x8 grayscale, values 0..16
    n_classes = len(np.unique(labels))
    smallest = int(np.bincount(labels).min())
    if args.test_per_class + max(args.per_class) > smallest:
        args.parser.error(
            f"--test-per-class {args.test_per_class} plus --per-class {max(args.per_class)} exceeds the {smallest} "
            "images of the smallest digit class"
        )
    rng = np.random.default_rng(args.seed)
    # A fixed test set, and a pool from which each repeat draws its training images.
    test_idx, pool_idx = [], []
    for c in range(n_classes):
        members = rng.permutation(np.flatnonzero(labels == c))
        test_idx.extend(members[: args.test_per_class])
        pool_idx.extend(members[args.test_per_class : args.test_per_class + max(args.per_class) * 2])
    test_idx, pool_idx = np.array(test_idx), np.array(pool_idx)
    used = np.concatenate([test_idx, pool_idx])

    params = network_params(args)
    arch, weights = "+".join(args.arch), params["weights"]
    featurizer = validated_estimator(
        args,
        VGGFeaturizer(
            **params,
            layer=one_or_many(args.layer),
            # Digits are 8x8: the network sees them upscaled to size x size, whole (no crop).
            preprocessing=Preprocessing(resize_size=args.size, crop_size=args.size),
            random_state=args.seed,
        ),
    )
    print(
        f"skvgg demo: scikit-learn's handwritten digits (load_digits: 8x8 grayscale, {n_classes} classes), "
        f"upscaled to {args.size}x{args.size}\n"
        f"  features: {arch} {layer} ({weights}); classifier: L2 normalisation + LinearSVC, "
        f"the same on raw pixels\n"
        f"  test set: {len(test_idx)} images ({args.test_per_class} per class); "
        f"describing {len(used)} images (a subset, so the demo takes minutes on a CPU) ...",
        flush=True,
    )
    started = time.perf_counter()
    described = featurizer.fit().transform([images[i] for i in used])
    seconds = time.perf_counter() - started
    row = {index: position for position, index in enumerate(used)}
    vgg = lambda idx: described[[row[i] for i in idx]]  # noqa: E731
    raw = lambda idx: images[idx].reshape(len(idx), -1)  # noqa: E731
    print(f"  described in {seconds:.0f} s on {featurizer.device_}\n")
    print(f"  accuracy on the test set, mean +- std over {args.repeats} seeded draws of the training images")
    print(f"  {'train/class':>11}   {'raw pixels':>15}   {f'{arch} {layer}':>15}")
    curves = {"raw pixels": [], f"{arch} {layer}": []}
    for per_class in args.per_class:
        results = {"raw": [], "vgg": []}
        for repeat in range(args.repeats):
            draw = np.random.default_rng([args.seed, per_class, repeat])
            train_idx = np.concatenate(
                [draw.choice(pool_idx[labels[pool_idx] == c], per_class, replace=False) for c in range(n_classes)]
            )
            for name, features in (("raw", raw), ("vgg", vgg)):
                model = make_pipeline(Normalizer(), LinearSVC(C=1.0))
                model.fit(features(train_idx), labels[train_idx])
                results[name].append(100 * model.score(features(test_idx), labels[test_idx]))
        curves["raw pixels"].append(results["raw"])
        curves[f"{arch} {layer}"].append(results["vgg"])
        cells = [f"{np.mean(results[k]):6.1f} +- {np.std(results[k]):4.1f} %" for k in ("raw", "vgg")]
        print(f"  {per_class:>11}   {cells[0]:>15}   {cells[1]:>15}")
    if weights is None:
        print("\n  (random weights: the VGG column shows no transfer learning; use --weights imagenet)")
    if plot_file is not None:
        from ..plotting import plot_learning_curve

        title = f"digits at {args.size} px: {arch} {layer} ({weights or 'random weights'}) vs raw pixels"
        ax = plot_learning_curve(args.per_class, curves, title=title)
        ax.set_ylim(0, 100)
        write_figure(ax.figure, plot_file)
        print(f"  figure written to {plot_file}")
    return 0
