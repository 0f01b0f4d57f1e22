"""``skvgg transfer``: the paper's transfer protocol (Table 11) on Caltech-101/256 or PASCAL VOC."""

from __future__ import annotations

import contextlib

from ._options import (
    add_cluster_options,
    add_decode_option,
    add_max_pixels,
    add_network_options,
    add_plot_option,
    at_least,
    check_network,
    cluster_client,
    network_params,
    parse_scales,
    uses_cluster,
    validated_estimator,
    wrapped_text,
)

EXAMPLES = """\
examples:
  skvgg transfer caltech101 --root data/ --download -o caltech101.json
      Table 11's Caltech-101 protocol: 3 splits of 30 training / 50 test images per class, VGG16 fc7 at
      scales 256,384,512 stacked, flip-averaged, L2-normalised, linear SVM; per-split scores in the JSON
  skvgg transfer voc2007 --root data/ --arch vgg16,vgg19 --plot voc.png
      the paper's Net-D & Net-E fusion on PASCAL VOC 2007, with per-class AP bars
  skvgg transfer caltech101 --root data/ --scales 256 --splits 1 --train 5 --test 5 -o quick.csv
      a quick look at a small protocol, one CSV row per split
"""


def add_parser(commands) -> None:
    import argparse

    transfer = commands.add_parser(
        "transfer",
        help="run the paper's transfer protocol (Table 11) on a dataset",
        description=wrapped_text(
            "The paper's transfer protocol (Appendix B, Table 11): fixed VGG descriptors (fc7, dense "
            "multi-scale, flip-averaged), L2 normalisation and a linear SVM whose C is validated per split."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    transfer.add_argument(
        "dataset",
        choices=["caltech101", "caltech256", "voc2007", "voc2012"],
        help="the dataset, with the paper's protocol for it",
    )
    transfer.add_argument("--root", required=True, metavar="DIR", help="where the dataset is extracted")
    transfer.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="also write the scores: RESULTS.json (settings, per-split scores, mean, std, the paper's figure) or "
        "RESULTS.csv (one row per split); written only when complete",
    )
    add_network_options(transfer, arch_help="network(s); vgg16,vgg19 is the paper's Net-D & Net-E fusion")
    add_max_pixels(transfer)
    add_decode_option(transfer)
    transfer.add_argument("--splits", type=at_least(1), default=None, metavar="N", help="random splits (Caltech; default: 3)")
    transfer.add_argument(
        "--train",
        type=at_least(2, " (20% of each class's training images are held out to choose the SVM's C)"),
        default=None,
        metavar="N",
        help="training images per class (Caltech; default: 30 for Caltech-101, 60 for Caltech-256)",
    )
    transfer.add_argument(
        "--test",
        type=at_least(1),
        default=None,
        metavar="N",
        help="test images per class (Caltech-101; default: 50, Caltech-256 tests on the rest)",
    )
    transfer.add_argument(
        "--scales",
        type=parse_scales,
        default=None,
        metavar="Q[,Q...]",
        help="override the paper's scales Q (smaller image side; default: 256,384,512 for Caltech, 256,384,512,640,768 for VOC)",
    )
    transfer.add_argument("--cache", default=None, metavar="DIR", help="directory of a descriptor cache (resumable runs)")
    transfer.add_argument("--download", action="store_true", help="download the dataset with torchvision")
    transfer.add_argument(
        "--seed", type=at_least(0), default=0, metavar="N", help="seeds the splits and the validation hold-outs (default: 0)"
    )
    add_cluster_options(transfer)
    add_plot_option(
        transfer, "VOC: per-class AP bars and precision-recall curves; Caltech: per-split scores and a confusion matrix"
    )
    transfer.set_defaults(func=run, parser=transfer)


def run(args) -> int:
    from ..experiments import paper_featurizer, run_transfer
    from ._output import check_plot_option, check_results_option, results_record, write_figure, write_results

    check_network(args, ["fc7"])
    plot_file = check_plot_option(args)
    results_file = check_results_option(args)
    params = dict(network_params(args), cache=args.cache, decode=args.decode)
    settings = {} if args.scales is None else {"scales": tuple(args.scales)}
    featurizer = validated_estimator(args, paper_featurizer(args.dataset, **params, **settings))
    # An unreadable image ends the run with an ImageInputError, which main reports by index and path.
    with contextlib.ExitStack() as stack:
        if uses_cluster(args):  # the descriptors are computed on the cluster, the SVMs here
            from ..dask import distribute

            client = stack.enter_context(cluster_client(args))
            stack.enter_context(distribute(client, partition_size=args.partition_size))
        results = _run_transfer(args, run_transfer, params)
    if results_file is not None:
        write_results(results_file, results_record(args, featurizer, results))
        print(f"  scores written to {results_file}")
    if plot_file is not None:
        from ..plotting import plot_transfer

        arch = "+".join(args.arch)
        write_figure(plot_transfer(results, title=f"{args.dataset}: {arch} ({args.weights}), {results['metric']}"), plot_file)
        print(f"  figure written to {plot_file}")
    return 0


def _run_transfer(args, run_transfer, params) -> dict:
    return run_transfer(
        args.dataset,
        args.root,
        **params,
        n_splits=args.splits,
        n_train=args.train,
        n_test=args.test,
        scales=args.scales,
        random_state=args.seed,
        download=args.download,
        report=lambda line: print(line, flush=True),
    )
