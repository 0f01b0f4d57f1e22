"""``skvgg transfer``: the paper's transfer protocol (Table 11) on Caltech-101/256 or PASCAL VOC."""

from __future__ import annotations

import contextlib

from ._options import (
    _add_cluster_options,
    _add_max_pixels,
    _add_network_options,
    _add_plot_option,
    _at_least,
    _check_network,
    _cluster,
    _network_params,
    _scales,
    _uses_cluster,
    _validated,
)


def add_parser(commands) -> None:
    transfer = commands.add_parser("transfer", help="run the paper's transfer protocol (Table 11) on a dataset")
    transfer.add_argument("dataset", choices=["caltech101", "caltech256", "voc2007", "voc2012"])
    transfer.add_argument("--root", required=True, help="where the dataset is extracted")
    _add_network_options(transfer, arch_help="network(s); vgg16,vgg19 is the paper's Net-D & Net-E fusion")
    _add_max_pixels(transfer)
    transfer.add_argument("--splits", type=_at_least(1), default=None, help="random splits (Caltech; default 3)")
    transfer.add_argument(
        "--train",
        type=_at_least(2, " (20% of each class's training images are held out to choose the SVM's C)"),
        default=None,
        help="training images per class (Caltech; default 30 or 60)",
    )
    transfer.add_argument("--test", type=_at_least(1), default=None, help="test images per class (Caltech-101; default 50)")
    transfer.add_argument("--scales", type=_scales, default=None, help="override the paper's scales Q")
    transfer.add_argument("--cache", default=None, help="directory of a descriptor cache (resumable runs)")
    transfer.add_argument("--download", action="store_true", help="download the dataset with torchvision")
    transfer.add_argument("--seed", type=_at_least(0), default=0)
    _add_cluster_options(transfer)
    _add_plot_option(
        transfer, "VOC: per-class AP bars and precision-recall curves; Caltech: per-split scores and a confusion matrix"
    )
    transfer.set_defaults(func=run, parser=transfer)


def run(args) -> int:
    from ..experiments import paper_featurizer, run_transfer
    from ._output import _check_plot_option, _write_figure

    _check_network(args, ["fc7"])
    plot_file = _check_plot_option(args)
    params = dict(_network_params(args), cache=args.cache)
    settings = {} if args.scales is None else {"scales": tuple(args.scales)}
    _validated(args, paper_featurizer(args.dataset, **params, **settings))
    # An unreadable image ends the run with an ImageInputError, which main reports by index and path.
    with contextlib.ExitStack() as stack:
        if _uses_cluster(args):  # the descriptors are computed on the cluster, the SVMs here
            from ..dask import distribute

            client = stack.enter_context(_cluster(args))
            stack.enter_context(distribute(client, partition_size=args.partition_size))
        results = _run_transfer(args, run_transfer, params)
    if plot_file is not None:
        from ..plotting import plot_transfer

        arch = "+".join(args.arch)
        _write_figure(plot_transfer(results, title=f"{args.dataset}: {arch} ({args.weights}), {results['metric']}"), plot_file)
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
