"""The overhead of running VGGFeaturizer on a dask cluster, against one process, on the same machine.

    python benchmarks/dask_overhead.py                    # 48 JPEGs, VGG16 fc7, 2 workers (~5 min on 2 cores)
    python benchmarks/dask_overhead.py --images 24 --repeats 1

Baseline: one process with as many torch threads as the cluster has workers (2 on this
machine), describing the JPEGs with ``VGGFeaturizer.transform(paths)``.
Control: as many plain processes as workers, one torch thread each, each describing its
share, started together (no dask): against it, the cluster's time is the engine's own
overhead; against the baseline, it is the cost or gain of processes over threads.
Dask: a ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` (dask gives
each worker ``OMP_NUM_THREADS=1``), the same featurizer on a dask bag of the paths
(``--partition-size`` images per task), computed there. Both load the weights and warm up
before the clock starts, so what is timed is describing images: the engine's overhead
(task scheduling, shipping the results) and the effect of two processes with one compute
thread each against one process with two. Target: dask >= 0.9x the baseline's images/s.

Also measured: peak RSS of each worker process and of the baseline process, and the RSS
that loading the weights adds (what each worker holds before it describes anything).
Weights are random VGG16 (speed does not depend on their values), saved in torchvision's
format and loaded by both sides from the same file. Results: benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TARGET = 0.9


def cpu_flags() -> str:
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8")
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        return platform.processor() or "unknown"
    return " ".join(flag for flag in wanted if flag in flags) or "none of " + ", ".join(wanted)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Current resident set size (Linux), in MB."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux VmHWM, in MB).

    Not getrusage's ru_maxrss: a process started by fork + exec inherits its parent's
    high-water mark there, and the workers are started from this script's process.
    """
    return _status_mb("VmHWM")


def make_featurizer(weights, batch_size):
    from skvgg import VGGFeaturizer

    return VGGFeaturizer(weights=weights, batch_size=batch_size, device="cpu")


# --- the baseline, in its own process ------------------------------------------------------------

BASELINE = """
import json, sys, time, torch
sys.path.insert(0, {here!r})
from dask_overhead import make_featurizer, rss_mb, peak_rss_mb
torch.set_num_threads({threads})
paths = json.load(open({listing!r}))[{start}:{stop}]
before = rss_mb()
featurizer = make_featurizer({weights!r}, {batch_size}).fit()
loaded = rss_mb()
featurizer.transform(paths[:{batch_size}])  # warm-up (oneDNN primitives for the batch shape)
print("ready", flush=True)
sys.stdin.readline()  # the go signal: processes run side by side start together
start = time.perf_counter()
featurizer.transform(paths)
seconds = time.perf_counter() - start
print(json.dumps(dict(seconds=[seconds], weights_rss_mb=loaded - before, peak_rss_mb=peak_rss_mb())))
"""


def run_processes(listing, weights, n_images, processes, threads, batch_size):
    """``processes`` plain Python processes of ``threads`` torch threads, each describing its share, started together.

    Returns the wall-clock seconds from the go signal until the last one finished, and each one's report.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    if processes > 1:
        env["OMP_NUM_THREADS"] = str(threads)  # as dask gives its workers
    bounds = [round(i * n_images / processes) for i in range(processes + 1)]
    children = []
    for i in range(processes):
        script = BASELINE.format(
            here=str(HERE), threads=threads, listing=str(listing), weights=str(weights), batch_size=batch_size,
            start=bounds[i], stop=bounds[i + 1],
        )  # fmt: skip
        children.append(
            subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        )
    for child in children:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("a baseline process failed before it was ready")
    start = time.perf_counter()
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    reports = [json.loads(child.stdout.read().strip().splitlines()[-1]) for child in children]
    wall = time.perf_counter() - start
    for child in children:
        if child.wait():
            raise RuntimeError("a baseline process failed")
    return wall, reports


# --- the cluster ---------------------------------------------------------------------------------


def _warm(featurizer, paths):
    """On a worker: load the network (measuring what it adds to the RSS) and warm up."""
    import torch
    from dask_overhead import rss_mb

    before = rss_mb()
    featurizer._get_networks()
    loaded = rss_mb()
    featurizer.transform(paths[: featurizer.batch_size])  # oneDNN primitives for the batch shape
    return dict(weights_rss_mb=loaded - before, torch_threads=torch.get_num_threads())


def run_dask(paths, weights, workers, batch_size, partition_size, repeats):
    import dask.bag as db
    from distributed import Client, LocalCluster

    env = {"PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, env=env) as cluster,
        Client(cluster) as client,
    ):
        featurizer = make_featurizer(weights, batch_size).fit()
        warm = client.run(_warm, featurizer, paths)
        seconds = []
        for _ in range(repeats):
            bag = db.from_sequence(paths, partition_size=partition_size)
            start = time.perf_counter()
            result = featurizer.transform(bag).compute()
            seconds.append(time.perf_counter() - start)
            assert result.shape == (len(paths), featurizer.n_features_out_)
        from skvgg.dask import worker_stats

        stats = worker_stats(client)
        peaks = client.run(peak_rss_mb)
    return dict(seconds=seconds, workers={w: dict(warm[w], **stats[w], peak_rss_mb=peaks[w]) for w in peaks})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--partition-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()

    import torch
    import torchvision
    from featurizer_speed import make_jpegs

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = make_jpegs(tmp, args.images)
        listing = tmp / "paths.json"
        listing.write_text(json.dumps(paths))
        torch.manual_seed(0)
        weights = tmp / "vgg16-random.pth"
        torch.save(torchvision.models.vgg16().state_dict(), weights)
        # Alternating, so that a slower minute on a shared machine does not favour one side.
        baseline, cluster, plain = [], [], []
        for _ in range(args.repeats):
            baseline.append(run_processes(listing, weights, args.images, 1, args.workers, args.batch_size))
            cluster.append(run_dask(paths, weights, args.workers, args.batch_size, args.partition_size, 1))
            # The control: as many plain processes as workers, one thread each, no dask. Against the
            # cluster, it separates the engine's overhead from threads-versus-processes.
            plain.append(run_processes(listing, weights, args.images, args.workers, 1, args.batch_size))

    base_seconds = [wall for wall, _ in baseline]
    dask_seconds = [r["seconds"][0] for r in cluster]
    plain_seconds = [wall for wall, _ in plain]
    base_rate, dask_rate = args.images / min(base_seconds), args.images / min(dask_seconds)
    plain_rate = args.images / min(plain_seconds)
    baseline = [reports[0] for _, reports in baseline]
    workers = cluster[-1]["workers"]
    out = {
        "benchmark": "dask_overhead",
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
        "cpu_flags": cpu_flags(),
        "torch": torch.__version__,
        "images": args.images,
        "network": "vgg16 fc7, single 224 view, random weights",
        "batch_size": args.batch_size,
        "partition_size": args.partition_size,
        "baseline": f"1 process, torch.set_num_threads({args.workers})",
        "dask": f"LocalCluster(n_workers={args.workers}, threads_per_worker=1, processes=True)",
        "baseline_seconds": base_seconds,
        "dask_seconds": dask_seconds,
        "baseline_images_per_s": round(base_rate, 3),
        "dask_images_per_s": round(dask_rate, 3),
        "ratio_dask_vs_baseline": round(dask_rate / base_rate, 3),
        "plain_processes_seconds": plain_seconds,
        "plain_processes_images_per_s": round(plain_rate, 3),
        "ratio_dask_vs_plain_processes": round(dask_rate / plain_rate, 3),
        "ratio_plain_processes_vs_baseline": round(plain_rate / base_rate, 3),
        "target_ratio": TARGET,
        "meets_target": dask_rate / base_rate >= TARGET,
        "baseline_peak_rss_mb": round(max(r["peak_rss_mb"] for r in baseline), 1),
        "baseline_weights_rss_mb": round(baseline[-1]["weights_rss_mb"], 1),
        "workers": {
            f"worker{i}": {k: (round(v, 1) if isinstance(v, float) else v) for k, v in w.items()}
            for i, w in enumerate(workers.values())
        },
    }
    lines = [
        f"dask overhead: {args.images} JPEGs, {out['network']}, batch {args.batch_size}, {args.partition_size} images per task",
        f"CPU: {out['machine']}; flags: {out['cpu_flags']}",
        f"baseline ({out['baseline']}): {base_rate:.2f} images/s (runs: {', '.join(f'{s:.1f} s' for s in base_seconds)})",
        f"dask     ({out['dask']}): {dask_rate:.2f} images/s (runs: {', '.join(f'{s:.1f} s' for s in dask_seconds)})",
        f"control ({args.workers} plain processes x 1 thread, no dask): {plain_rate:.2f} images/s "
        f"(runs: {', '.join(f'{s:.1f} s' for s in plain_seconds)})",
        f"ratio dask / baseline: {dask_rate / base_rate:.2f}x (target >= {TARGET}x): "
        + ("met" if out["meets_target"] else "NOT met"),
        f"ratio dask / plain processes (the engine's own overhead): {dask_rate / plain_rate:.2f}x; "
        f"plain processes / baseline (processes vs threads): {plain_rate / base_rate:.2f}x",
        f"baseline process: peak RSS {out['baseline_peak_rss_mb']} MB, weights add {out['baseline_weights_rss_mb']} MB",
    ]
    for name, w in out["workers"].items():
        lines.append(
            f"{name}: peak RSS {w['peak_rss_mb']} MB, weights add {w['weights_rss_mb']} MB, "
            f"{w['network_builds']} network load(s), {w['partitions']} tasks, {w['images']} images, "
            f"{w['torch_threads']} torch thread(s)"
        )
    print("\n".join(lines))
    results = Path(args.out)
    results.mkdir(parents=True, exist_ok=True)
    stem = results / f"dask-overhead-{out['date']}"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=1) + "\n")
    stem.with_suffix(".log").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
