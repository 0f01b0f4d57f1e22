"""The command line, end to end, with a local random-weights file."""

import importlib.metadata
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_sample_images

import skvgg
from skvgg.cli import main
from skvgg.testing import make_caltech101, make_caltech256, make_voc, write_image


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("photos")
    for path in load_sample_images().filenames:
        (directory / "sub").mkdir(exist_ok=True)
        (directory / "sub" / path.split("/")[-1]).write_bytes(open(path, "rb").read())
    return directory


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".parquet"])
def test_featurize_directory_to_each_format(capsys, tmp_path, photo_dir, vgg11_file, suffix):
    output = tmp_path / f"features{suffix}"
    code, _, err = run(capsys, "featurize", photo_dir, "-o", output, "--arch", "vgg11", "--weights", vgg11_file,
                       "--layer", "pool5,pool4", "--device", "cpu", "--quiet")  # fmt: skip
    assert code == 0, err
    assert "2 images" in err and "1024 features" in err
    # The library's descriptors of the directory's images, in sorted path order.
    paths = sorted(str(p) for p in (photo_dir / "sub").iterdir())
    featurizer = skvgg.VGGFeaturizer(arch="vgg11", weights=vgg11_file, layer=["pool5", "pool4"], device="cpu")
    expected = featurizer.fit().transform(paths)
    if suffix == ".npz":
        with np.load(output) as arrays:  # no pickle: the paths and names are string arrays
            np.testing.assert_allclose(arrays["X"], expected, rtol=1e-6, atol=1e-6)
            assert [os.path.realpath(p) for p in arrays["paths"]] == [os.path.realpath(p) for p in paths]
            assert list(arrays["feature_names"]) == list(featurizer.get_feature_names_out())
    else:
        table = pd.read_csv(output) if suffix == ".csv" else pd.read_parquet(output)
        assert list(table.columns[:2]) == ["path", "pool5_000"] and table.shape == (2, 1025)
        assert [os.path.realpath(p) for p in table["path"]] == [os.path.realpath(p) for p in paths]
        np.testing.assert_allclose(table.iloc[:, 1:].to_numpy(), expected, rtol=1e-5, atol=1e-6)  # CSV rounds to text


def test_featurize_csv_of_relative_paths_with_dense_flip(capsys, tmp_path, photo_dir, vgg11_file):
    listing = photo_dir / "list.csv"
    pd.DataFrame({"file": ["sub/flower.jpg", "sub/china.jpg"], "label": [1, 2]}).to_csv(listing, index=False)
    output = tmp_path / "out.csv"
    code, _, err = run(capsys, "featurize", listing, "--path-column", "file", "-o", output, "--arch", "vgg11",
                       "--weights", vgg11_file, "--layer", "pool5", "--scales", "224", "--flip", "--quiet")  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(output)
    assert table["path"].str.endswith("flower.jpg")[0] and table.shape == (2, 513)


def test_featurize_errors(capsys, tmp_path, photo_dir, vgg11_file):
    code, _, err = run(capsys, "featurize", tmp_path / "missing.jpg", "-o", tmp_path / "o.npz", "--arch", "vgg11",
                       "--weights", vgg11_file, "--quiet")  # fmt: skip
    assert code == 1 and "image 1 of 1" in err and "missing.jpg" in err and "X[0]" not in err
    # Bad arguments: status 2 (they were status 1 before the command line's contract was enforced).
    for argv, message in (
        (["-o", tmp_path / "o.txt"], "must end in .csv, .parquet or .npz, or be - (CSV to stdout)"),
        (["-o", tmp_path / "o.npy"], "a .npy file holds no image paths; write"),
        (["-o", tmp_path / "o.npz", "--weights", tmp_path / "nope.pth"], "nor an existing checkpoint file"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in ["featurize", photo_dir, *argv]])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "featurize", tmp_path / "empty", "-o", tmp_path / "o.npz")
    assert code == 1 and "holds no image files" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["featurize", "-o", "x.npz"])
    assert exit_info.value.code == 2


def test_featurize_on_error_nan(capsys, tmp_path, photo_dir, vgg11_file):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    output = tmp_path / "o.npz"
    code, _, err = run(capsys, "featurize", photo_dir / "sub" / "china.jpg", bad, "-o", output, "--arch", "vgg11",
                       "--weights", vgg11_file, "--layer", "pool5", "--on-error", "nan", "--quiet")  # fmt: skip
    assert code == 0 and "1 unreadable rows left NaN" in err
    # The failure is one clean line in command-line words, not Python's warning format.
    warning_lines = [line for line in err.splitlines() if "could not be read" in line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("skvgg: warning: 1 of 2 images could not be read")
    assert f"image 2 of 2 ({bad})" in warning_lines[0] and "X[" not in err and "warnings.warn" not in err
    table = np.load(output)["X"]
    assert np.isfinite(table[0]).all() and np.isnan(table[1]).all()


@pytest.mark.slow
def test_transfer_caltech101_end_to_end(capsys, tmp_path, vgg11_file):
    root = make_caltech101(tmp_path, counts={"BACKGROUND_Google": 4, "accordion": 4, "airplanes": 4})
    code, out, err = run(capsys, "transfer", "caltech101", "--root", root, "--arch", "vgg11", "--weights", vgg11_file,
                         "--scales", "224", "--splits", "2", "--train", "2", "--test", "2", "--quiet")  # fmt: skip
    assert code == 0, err
    assert "Caltech-101: vgg11" in out and "split 1: mean class recall" in out and "split 2:" in out
    assert "mean +- std:" in out and "not in Table 11" in out


@pytest.mark.slow
def test_transfer_voc2007_end_to_end(capsys, tmp_path, vgg11_file):
    make_voc(tmp_path, "2007")
    code, out, err = run(capsys, "transfer", "voc2007", "--root", tmp_path, "--arch", "vgg11", "--weights", vgg11_file,
                         "--scales", "224", "--quiet")  # fmt: skip
    assert code == 0, err
    assert "trainval -> test: mAP (11-point)" in out
    # scikit-learn's many small-data warnings: one summary line, no Python warning format.
    lines = err.splitlines()
    summary = [line for line in lines if "scikit-learn warning" in line]
    assert len(summary) == 1 and summary[0].startswith("skvgg: warning: ") and " x " in summary[0]
    assert all(line.startswith("skvgg: warning: ") for line in lines), err


def test_transfer_errors(capsys, tmp_path, vgg11_file):
    code, _, err = run(capsys, "transfer", "caltech101", "--root", tmp_path, "--weights", vgg11_file, "--arch", "vgg11")
    assert code == 1 and "101_ObjectCategories" in err
    assert "--download" in err and "download=True" not in err  # command-line words
    with pytest.raises(SystemExit) as exit_info:
        main(["transfer", "imagenet", "--root", str(tmp_path)])
    assert exit_info.value.code == 2


def test_unobtainable_weights_exit_1(capsys, tmp_path, torch_home, offline):
    code, _, err = run(capsys, "demo", "--quiet")
    assert code == 1 and "vgg16-397923af.pth" in err and str(torch_home) in err
    assert "--weights /path/to/vgg16-397923af.pth" in err and "weights=" not in err


def test_demo_compares_with_raw_pixels(capsys, vgg11_file):
    code, out, err = run(capsys, "demo", "--arch", "vgg11", "--weights", vgg11_file, "--size", "32",
                         "--per-class", "1,2", "--repeats", "2", "--test-per-class", "3", "--quiet")  # fmt: skip
    assert code == 0, err
    assert "raw pixels" in out and "vgg11 fc7" in out
    rows = [line for line in out.splitlines() if line.strip().startswith(("1 ", "2 "))]
    assert len(rows) == 2 and all(line.count("%") == 2 for line in rows)


def test_archs(capsys):
    code, out, _ = run(capsys, "archs")
    assert code == 0 and "vgg16_1x1   C" in out and "138,357,544" in out


def test_every_command_passes_the_shared_network_options():
    from skvgg.cli import build_parser, network_params

    for command in (["demo"], ["featurize", "x.jpg", "-o", "o.npz"], ["transfer", "voc2007", "--root", "r"]):
        args = build_parser().parse_args(
            [
                *command,
                "--arch",
                "vgg16,vgg19",
                "--weights",
                "none",
                "--precision",
                "bfloat16",
                "--decode-threads",
                "3",
                "--compile",
                "false",
                "--quiet",
            ]
        )
        assert network_params(args) == dict(
            arch=["vgg16", "vgg19"], weights=None, batch_size=32, device="auto",
            precision="bfloat16", compile=False, num_workers=3, verbose=False,
        )  # fmt: skip


# --- the command line's contract -------------------------------------------------------------

SKVGG_ROOT = str(Path(skvgg.__file__).resolve().parent.parent)


def skvgg_process(*argv, script=None, **kwargs):
    """``python -m skvgg ARGV`` (or ``python -c SCRIPT ARGV``) on this checkout, in a subprocess."""
    env = dict(os.environ, PYTHONPATH=SKVGG_ROOT, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "skvgg"] if script is None else [sys.executable, "-c", script]
    return subprocess.Popen([*command, *map(str, argv)], env=env, **kwargs)


def exit_2(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    return err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--arch", "vgg17"], "unknown architecture 'vgg17'"),
        (["--arch", "vgg16,D"], "names vgg16 twice"),
        (["--layer", "fc9"], "unknown layer 'fc9'"),
        (["--arch", "vgg16", "--layer", "conv5_4"], "--layer conv5_4: vgg16 has no such layer"),
        (["--scales", "100"], "--scales: expected comma-separated integers >= 224"),
        (["--scales", "abc"], "--scales: expected comma-separated integers >= 224"),
        (["--scales", "0"], "--scales: expected comma-separated integers >= 224"),
        (["--scales", "256,256"], "expected distinct scales"),
        (["--batch-size", "0"], "--batch-size: expected an integer >= 1, got '0'"),
        (["--batch-size", "-3"], "--batch-size: expected an integer >= 1"),
        (["--workers", "-1"], "--workers: expected an integer >= 0, got '-1'"),
        (["--max-pixels", "0"], "--max-pixels: expected an integer >= 1, got '0'"),
        (["--max-pixels", "-5"], "--max-pixels: expected an integer >= 1"),
        (["--max-pixels", "lots"], "--max-pixels: expected an integer >= 1, got 'lots'; or none for no limit"),
        (["--weights", "nope.pth"], "'nope.pth' is neither imagenet, none"),
        (["--weights", "VGG16_Weights.IMAGENET1K_V9"], "--weights VGG16_Weights.IMAGENET1K_V9: Unknown weights"),
        (["--arch", "vgg11", "--weights", "VGG16_Weights.IMAGENET1K_V1"], "do not fit --arch vgg11"),
        (["--arch", "vgg16_1x1"], "--weights imagenet: No ImageNet weights are published"),
        (["--arch", "vgg16,vgg19", "--weights", "WEIGHTS"], "with several --arch names (vgg16,vgg19)"),
        (["--device", "cuda:99"], "--device cuda:99"),
        (["-o", "OUTDIR"], "is a directory"),
    ],
)
def test_bad_featurize_arguments_exit_2_in_command_line_words(capsys, tmp_path, vgg11_file, argv, message):
    # The input does not exist: had anything been described, it would be exit status 1.
    (tmp_path / "folder.npz").mkdir()
    argv = [vgg11_file if a == "WEIGHTS" else tmp_path / "folder.npz" if a == "OUTDIR" else a for a in argv]
    err = exit_2(capsys, "featurize", tmp_path / "missing.jpg", "-o", tmp_path / "o.npz", *argv)
    assert message in err and "skvgg featurize: error:" in err
    for api_word in ("weights=", "arch=", "layer=", "X[", "parameter of VGGFeaturizer", "Traceback"):
        assert api_word not in err
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["transfer", "caltech101", "--splits", "0"], "--splits: expected an integer >= 1, got '0'"),
        (["transfer", "caltech101", "--train", "1"], "--train: expected an integer >= 2"),
        (["transfer", "caltech101", "--test", "0"], "--test: expected an integer >= 1"),
        (["transfer", "caltech101", "--seed", "-1"], "--seed: expected an integer >= 0"),
        (["transfer", "caltech101", "--scales", "100"], "--scales: expected comma-separated integers >= 224"),
        (["transfer", "caltech101", "--arch", "vgg17"], "unknown architecture 'vgg17'"),
        (["transfer", "caltech101", "--weights", "VGG16_Weights.IMAGENET1K_FEATURES"], "has no trained fc layers"),
        (["demo", "--size", "8"], "--size: expected an integer >= 32"),
        (["demo", "--per-class", "1,0"], "--per-class: expected comma-separated integers >= 1"),
        (["demo", "--per-class", "500"], "exceeds the"),
        (["demo", "--layer", "fc9"], "unknown layer 'fc9'"),
        (["demo", "--repeats", "0"], "--repeats: expected an integer >= 1"),
    ],
)
def test_bad_transfer_and_demo_arguments_exit_2(capsys, tmp_path, argv, message):
    if argv[0] == "transfer":
        argv = [*argv, "--root", tmp_path / "no-dataset-here"]  # would be status 1 if it were looked at
    err = exit_2(capsys, *argv)
    assert message in err, err


def test_max_pixels_is_passed_only_when_given():
    from skvgg.cli import build_parser, network_params

    for command in (["featurize", "x.jpg", "-o", "o.npz"], ["transfer", "voc2007", "--root", "r"]):
        assert "max_pixels" not in network_params(build_parser().parse_args(command))
        args = build_parser().parse_args([*command, "--max-pixels", "1_000_000"])
        assert network_params(args)["max_pixels"] == 1_000_000
        args = build_parser().parse_args([*command, "--max-pixels", "none"])  # no limit, the library's None
        assert "max_pixels" in network_params(args) and network_params(args)["max_pixels"] is None


def test_max_pixels_refuses_a_large_image(capsys, tmp_path, vgg11_file):
    from skvgg import VGGFeaturizer

    if "max_pixels" not in VGGFeaturizer().get_params():
        pytest.skip("VGGFeaturizer has no max_pixels parameter in this checkout")
    image = write_image(tmp_path / "big.png", size=(200, 100))
    code, _, err = run(capsys, "featurize", image, "-o", tmp_path / "o.npz", "--arch", "vgg11", "--weights", vgg11_file,
                       "--max-pixels", "10000", "--quiet")  # fmt: skip
    assert code == 1 and "image 1 of 1" in err and "big.png" in err and "--max-pixels" in err
    assert not (tmp_path / "o.npz").exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"skvgg {importlib.metadata.version('skvgg')}"


def test_cli_words():
    from skvgg.cli import cli_words

    assert cli_words("pass download=True, or extract it") == "pass --download, or extract it"
    assert cli_words("or pass weights='/path/to/vgg16-397923af.pth'.") == "or pass --weights /path/to/vgg16-397923af.pth."
    assert cli_words("Use weights=None (random)") == "Use --weights none (random)"
    assert cli_words("X[3] ('/a.jpg'): bad") == "image 4 ('/a.jpg'): bad"
    assert cli_words("scales=(256, 384): bad; layer=['fc6', 'fc7']") == "--scales 256,384: bad; --layer fc6,fc7"
    assert cli_words("lower n_train=30 or") == "lower --train 30 or"
    message = "The 'batch_size' parameter of VGGFeaturizer must be an int in the range [1, inf). Got 0 instead."
    assert cli_words(message) == "--batch-size must be an int in the range [1, inf). Got 0 instead."
    assert cli_words("my_weights='x' and classifier.layer=2") == "my_weights='x' and classifier.layer=2"  # not options
    message = "31 x 31 exceeds max_pixels (100); raise max_pixels"
    assert cli_words(message) == "31 x 31 exceeds --max-pixels (100); raise --max-pixels"
    assert cli_words("a layer of the device cache") == "a layer of the device cache"  # ordinary words stay


def test_parquet_engine_is_a_dependency_and_checked_before_describing(capsys, tmp_path, monkeypatch, vgg11_file):
    # The installed metadata (written from pyproject.toml): true of a wheel as of a checkout.
    requirements = importlib.metadata.requires("skvgg")
    assert any(dep.replace(" ", "").startswith("pyarrow>=") and "extra" not in dep for dep in requirements)

    from skvgg import VGGFeaturizer

    def no_describing(self, X):
        raise AssertionError("an image was described before the parquet engine was checked")

    monkeypatch.setattr(VGGFeaturizer, "transform", no_describing)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import fails, as without the package
    monkeypatch.setitem(sys.modules, "fastparquet", None)
    image = write_image(tmp_path / "a.jpg")
    code, _, err = run(capsys, "featurize", image, "-o", tmp_path / "o.parquet", "--arch", "vgg11",
                       "--weights", vgg11_file, "--quiet")  # fmt: skip
    assert code == 1 and "pip install pyarrow" in err and "or write .csv or .npz" in err
    assert not (tmp_path / "o.parquet").exists()


def test_output_replaces_an_existing_file_only_when_complete(capsys, tmp_path, vgg11_file):
    image = write_image(tmp_path / "in" / "a.jpg")
    output = tmp_path / "out" / "features.csv"
    output.parent.mkdir()
    output.write_text("old contents\n")
    code, _, err = run(capsys, "featurize", image, "-o", output, "--arch", "vgg11", "--weights", vgg11_file,
                       "--layer", "pool5", "--quiet")  # fmt: skip
    assert code == 0, err
    assert pd.read_csv(output).shape == (1, 513)
    assert sorted(p.name for p in output.parent.iterdir()) == ["features.csv"]  # no temporary left
    umask = os.umask(0)
    os.umask(umask)
    assert output.stat().st_mode & 0o777 == 0o666 & ~umask  # a new file's mode, not mkstemp's 0600


SLOW_WRITE = """
import signal, sys, time
import pandas

# A process started in the background by a non-interactive shell (as a CI job may start
# pytest) inherits SIGINT ignored; a user's Ctrl-C reaches a process that has Python's handler.
signal.signal(signal.SIGINT, signal.default_int_handler)

def slow_to_csv(self, path, *args, **kwargs):
    with open(path, "w") as stream:  # a partial file that parses cleanly
        stream.write("path,pool5_000\\n/x.jpg,0.5\\n")
    print("WRITING", file=sys.stderr, flush=True)
    time.sleep(60)

pandas.DataFrame.to_csv = slow_to_csv
from skvgg.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_interrupt_while_writing_leaves_no_file(tmp_path, vgg11_file):
    image = write_image(tmp_path / "in" / "a.jpg")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "features.csv"
    process = skvgg_process("featurize", image, "-o", output, "--arch", "vgg11", "--weights", vgg11_file,
                            "--layer", "pool5", "--quiet", script=SLOW_WRITE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        seen = []
        for line in process.stderr:
            seen.append(line)
            if line.strip() == "WRITING":
                break
        assert seen and seen[-1].strip() == "WRITING", "".join(seen)
        assert [p.name for p in out_dir.iterdir()] != []  # the temporary file is there, being written
        assert not output.exists()
        process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        code = process.wait(timeout=60)
    finally:
        process.kill()
    assert code == 130, rest
    assert rest.strip() == "skvgg: interrupted"
    assert list(out_dir.iterdir()) == []  # neither a partial output nor a stray temporary file


@pytest.mark.slow
def test_broken_pipe_is_quiet():
    # As `skvgg archs | head -1`, made deterministic: the reader is gone before skvgg writes.
    process = skvgg_process("archs", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141  # 128 + SIGPIPE, as the shell reports for `yes | head -1`
    assert err == b""  # no "Broken pipe", no traceback, no "Exception ignored"


def test_transfer_checks_the_splits_before_describing(capsys, tmp_path, monkeypatch, vgg11_file):
    from skvgg import VGGFeaturizer

    def no_describing(self, X):
        raise AssertionError("images were described before the splits were checked")

    monkeypatch.setattr(VGGFeaturizer, "transform", no_describing)
    root = make_caltech101(tmp_path / "small", counts={"accordion": 4, "airplanes": 2, "anchor": 3})
    common = ["--arch", "vgg11", "--weights", vgg11_file, "--quiet"]
    code, _, err = run(capsys, "transfer", "caltech101", "--root", root, *common)  # the protocol's 30 per class
    assert code == 1 and "at least 31 images per class" in err
    assert "'accordion' has 4, 'airplanes' has 2, 'anchor' has 3" in err and "--train 30" in err
    code, _, err = run(capsys, "transfer", "caltech101", "--root", root, "--train", "2", *common)
    assert code == 1 and "'airplanes' has 2" in err and "accordion" not in err
    one_class = make_caltech101(tmp_path / "one", counts={"accordion": 5})
    code, _, err = run(capsys, "transfer", "caltech101", "--root", one_class, "--train", "2", *common)
    assert code == 1 and "at least 2 classes" in err and "'accordion' (5 images)" in err


def test_generated_trees_fit_the_default_protocols(tmp_path):
    from skvgg.datasets import load_caltech101, load_caltech256
    from skvgg.model_selection import CALTECH101_PROTOCOL, CALTECH256_PROTOCOL, check_class_sizes

    for load, make, protocol in (
        (load_caltech101, make_caltech101, CALTECH101_PROTOCOL),
        (load_caltech256, make_caltech256, CALTECH256_PROTOCOL),
    ):
        data = load(make(tmp_path / make.__name__))
        counts = check_class_sizes(data.target, protocol["n_train"], validation_fraction=0.2)
        assert len(counts) == 5 and min(counts.values()) == protocol["n_train"] + 1


def test_transfer_runs_on_a_default_tree_with_the_default_protocol(capsys, tmp_path, monkeypatch, vgg11_file):
    # Describing 161 images is slow on a CPU and not what is tested here: the protocol's splits
    # and searches run on class-coloured stand-in descriptors (the test below describes them for real).
    from skvgg import VGGFeaturizer

    def colour_descriptors(self, X):
        rng = np.random.default_rng(0)
        classes = sorted({Path(p).parent.name for p in X})
        centres = rng.normal(size=(len(classes), 64))
        rows = [centres[classes.index(Path(p).parent.name)] + 0.1 * rng.normal(size=64) for p in X]
        return np.asarray(rows, dtype=np.float32)

    monkeypatch.setattr(VGGFeaturizer, "transform", colour_descriptors)
    root = make_caltech101(tmp_path)
    code, out, err = run(capsys, "transfer", "caltech101", "--root", root, "--arch", "vgg11", "--weights", vgg11_file,
                         "--quiet")  # fmt: skip
    assert code == 0, err
    assert out.count("  split ") == 3 and "mean +- std: 100.00 +- 0.00 %" in out


@pytest.mark.slow
def test_transfer_describes_a_default_tree(capsys, tmp_path, vgg11_file):
    root = make_caltech101(tmp_path)
    code, out, err = run(capsys, "transfer", "caltech101", "--root", root, "--arch", "vgg11", "--weights", vgg11_file,
                         "--scales", "224", "--quiet")  # fmt: skip
    assert code == 0, err
    assert "described 161 images" in out and out.count("  split ") == 3


@pytest.mark.slow
def test_voc2012_default_tree(capsys, tmp_path, vgg11_file):
    make_voc(tmp_path, "2012")
    code, out, err = run(capsys, "transfer", "voc2012", "--root", tmp_path, "--arch", "vgg11", "--weights", vgg11_file,
                         "--scales", "224", "--quiet")  # fmt: skip
    assert code == 0, err
    assert "train -> val: mAP (area)" in out


def test_transfer_names_an_unreadable_image(capsys, tmp_path, vgg11_file):
    root = make_caltech101(tmp_path, counts={"accordion": 3, "airplanes": 3})
    bad = root / "airplanes" / "image_0002.jpg"
    bad.write_bytes(b"not a jpeg")
    code, _, err = run(capsys, "transfer", "caltech101", "--root", root, "--arch", "vgg11", "--weights", vgg11_file,
                       "--scales", "224", "--train", "2", "--test", "1", "--quiet")  # fmt: skip
    assert code == 1 and f"image 5 ({bad})" in err and "X[" not in err


def test_paths_in_error_messages_stay_as_given(capsys, tmp_path):
    # A folder named like a parameter is part of a path, not a word to turn into an option.
    missing = tmp_path / "batch_size" / "layer=fc7" / "x.jpg"
    code, _, err = run(capsys, "featurize", missing, "-o", tmp_path / "o.npz", "--weights", "none", "--layer", "pool5",
                       "--quiet")  # fmt: skip
    assert code == 1 and f"image 1 of 1 ({missing}): file not found" in err, err


HEAVY = ("torch", "torchvision", "sklearn", "scipy", "numpy", "pandas", "PIL")
START_UP = """
import sys
from skvgg.cli import main
for argv in (["--version"], ["--help"], ["featurize", "--help"], ["transfer", "--help"], ["demo", "--help"]):
    try:
        main(argv)
    except SystemExit as exit:
        assert exit.code == 0, (argv, exit.code)
print("LOADED", sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:])))
"""


def test_help_and_version_load_no_heavy_library():
    # They answer in a fraction of a second because nothing imports torch or scikit-learn on the way.
    process = skvgg_process(*HEAVY, script=START_UP, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.splitlines()[-1] == "LOADED []", out[-500:]
    assert "usage: skvgg featurize" in out and f"skvgg {importlib.metadata.version('skvgg')}" in out


# --- every featurizer option, an example in every --help, stdout and results files -------------------


def subcommand_parsers():
    import argparse

    from skvgg.cli import build_parser

    parser = build_parser()
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return commands.choices


def test_every_option_has_help_and_a_worded_metavar():
    for name, parser in subcommand_parsers().items():
        for action in parser._actions:
            where = f"skvgg {name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and len(action.help) > 10, f"{where}: no help text"
            if action.nargs == 0 or action.choices is not None:  # flags, and {a,b} choices
                continue
            metavar = action.metavar or action.dest.upper()
            # Words the user reads (N, PIXELS, DIR), not Python names (NUM_WORKERS, BATCH_SIZE).
            assert "_" not in metavar and metavar.upper() == metavar or metavar.startswith("{"), f"{where}: {metavar}"
            assert action.metavar is not None or not action.option_strings, f"{where}: argparse's default {metavar}"


def test_every_help_shows_examples_that_parse(capsys):
    import shlex

    from skvgg.cli import build_parser

    for name, parser in subcommand_parsers().items():
        text = parser.format_help()
        assert "example" in text.split("options:")[-1], f"skvgg {name} --help has no example"
        examples = [line.strip() for line in text.splitlines() if line.strip().startswith(f"skvgg {name}")]
        assert examples, name
        for example in examples:
            argv = shlex.split(example.split(" | ")[0])[1:]
            args = build_parser().parse_args(argv)  # every example is a valid command line
            assert args.command == name


def test_featurizer_options_reach_the_featurizer(monkeypatch, tmp_path, vgg11_file):
    # Every featurizer parameter that a command line can set: the parsed options become the estimator's params.
    from skvgg import VGGFeaturizer

    seen = {}

    def record(self, X):
        seen.update(self.get_params())
        return np.zeros((len(X), self.n_features_out_), dtype=np.float32)

    monkeypatch.setattr(VGGFeaturizer, "transform", record)
    image = write_image(tmp_path / "a.jpg")
    argv = ["featurize", image, "-o", tmp_path / "o.csv", "--arch", "vgg11", "--weights", vgg11_file, "--device", "cpu",
            "--precision", "float32", "--compile", "false", "--decode", "cpu", "--decode-threads", "0", "--seed", "7",
            "--batch-size", "5", "--layer", "pool5", "--pooling", "max", "--resize", "64", "--crop", "48",
            "--on-error", "nan", "--max-pixels", "1000000", "--quiet"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    assert seen["precision"] == "float32" and seen["compile"] is False and seen["decode"] == "cpu"
    assert seen["random_state"] == 7 and seen["num_workers"] == 0 and seen["batch_size"] == 5
    assert seen["pooling"] == "max" and seen["on_error"] == "nan" and seen["max_pixels"] == 1_000_000
    assert (seen["preprocessing"].resize_size, seen["preprocessing"].crop_size) == (64, 48)
    assert seen["preprocessing"].mean == skvgg.Preprocessing().mean  # the weights' normalisation kept


@pytest.mark.parametrize(
    "argv, compile_value",
    [(["--compile", "auto"], "auto"), (["--compile", "true"], True), (["--compile", "FALSE"], False), ([], "auto")],
)
def test_compile_option_values(argv, compile_value):
    from skvgg.cli import build_parser, network_params

    args = build_parser().parse_args(["featurize", "x.jpg", "-o", "o.csv", *argv])
    assert network_params(args)["compile"] == compile_value


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--compile", "maybe"], "--compile: expected auto, true or false, got 'maybe'"),
        (["--precision", "int4"], "--precision: invalid choice: 'int4'"),
        (["--decode", "tpu"], "--decode: invalid choice: 'tpu'"),
        (["--resize", "64", "--crop", "96"], "--crop 96 exceeds --resize 64"),
        (["--resize", "16"], "--resize: expected an integer >= 32"),
        (["--resize", "256", "--scales", "256"], "with --scales the whole image is rescaled"),
        (["--seed", "-1"], "--seed: expected an integer >= 0"),
        (["--device", "cpu", "--decode", "gpu"], "--decode gpu decodes JPEG files with nvJPEG on a CUDA device; --device cpu"),
        (["-o", "o.json"], "must end in .csv, .parquet or .npz, or be -"),
    ],
)
def test_bad_new_featurize_options_exit_2(capsys, tmp_path, vgg11_file, argv, message):
    err = exit_2(capsys, "featurize", tmp_path / "missing.jpg", "-o", tmp_path / "o.csv", "--arch", "vgg11",
                 "--weights", vgg11_file, *argv)  # fmt: skip
    assert message in err, err


def test_int8_on_a_gpu_device_exits_2_before_loading(capsys, tmp_path, vgg11_file, monkeypatch):
    import torch

    from skvgg._pipeline import runtime

    monkeypatch.setattr(runtime, "resolve_device", lambda device: torch.device("cuda"))
    err = exit_2(capsys, "featurize", tmp_path / "missing.jpg", "-o", tmp_path / "o.csv", "--arch", "vgg11",
                 "--weights", vgg11_file, "--device", "cuda", "--precision", "int8")  # fmt: skip
    assert "--precision int8: " in err and "runs on the CPU only" in err and "precision=" not in err


def test_int8_without_torchao_exits_1_with_the_install_line(capsys, tmp_path, vgg11_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao", None)  # import fails, as without the package
    monkeypatch.setitem(sys.modules, "torchao.quantization", None)
    monkeypatch.setitem(sys.modules, "torchao.quantization.pt2e", None)
    image = write_image(tmp_path / "a.jpg")
    code, _, err = run(capsys, "featurize", image, "-o", tmp_path / "o.csv", "--arch", "vgg11", "--weights", vgg11_file,
                       "--device", "cpu", "--precision", "int8", "--quiet")  # fmt: skip
    assert code == 1 and "skvgg[int8]" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.slow
def test_featurize_int8_and_compile_end_to_end(capsys, tmp_path, photo_dir, vgg11_file):
    # The compiled float32 graph and the int8 graph, through the command line, against the eager descriptors.
    common = ["featurize", photo_dir, "--arch", "vgg11", "--weights", vgg11_file, "--device", "cpu", "--layer", "pool5",
              "--resize", "64", "--crop", "64", "--quiet"]  # fmt: skip
    outputs = {}
    for name, extra in (("eager", ["--compile", "false"]), ("compiled", ["--compile", "true"]),
                        ("int8", ["--precision", "int8"])):  # fmt: skip
        output = tmp_path / f"{name}.npz"
        code, _, err = run(capsys, *common, "-o", output, *extra)
        assert code == 0, err
        outputs[name] = np.load(output)["X"]
    np.testing.assert_allclose(outputs["compiled"], outputs["eager"], rtol=1e-3, atol=1e-3)
    assert outputs["int8"].shape == outputs["eager"].shape and np.isfinite(outputs["int8"]).all()
    # int8 quantizes: close to float32 (relative error of the whole matrix), not equal.
    error = np.linalg.norm(outputs["int8"] - outputs["eager"]) / np.linalg.norm(outputs["eager"])
    assert 0 < error < 0.2, error


def test_featurize_to_stdout_writes_only_the_csv(capsys, tmp_path, photo_dir, vgg11_file):
    code, out, err = run(capsys, "featurize", photo_dir, "-o", "-", "--arch", "vgg11", "--weights", vgg11_file,
                         "--layer", "pool5", "--resize", "64", "--crop", "64", "--device", "cpu")  # fmt: skip
    assert code == 0, err
    import io

    table = pd.read_csv(io.StringIO(out))  # stdout is the CSV and nothing else
    paths = sorted(str(p) for p in (photo_dir / "sub").iterdir())
    assert list(table["path"]) == paths and table.shape == (2, 513) and table.columns[1] == "pool5_000"
    assert "2 images -> stdout" in err  # messages on stderr
    assert not (Path.cwd() / "-").exists()


def test_featurize_to_stdout_in_a_pipe_stops_quietly(tmp_path, vgg11_file):
    # As `skvgg featurize ... -o - | head -n 2`: the reader leaves after two lines; no traceback, status 141.
    folder = tmp_path / "images"
    for i in range(6):
        write_image(folder / f"{i}.png", size=(40, 40))
    process = skvgg_process("featurize", folder, "-o", "-", "--arch", "vgg11", "--weights", vgg11_file, "--layer", "pool5",
                            "--resize", "32", "--crop", "32", "--device", "cpu", "--decode-threads", "0", "--quiet",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    header = process.stdout.readline()
    first = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode()
    code = process.wait(timeout=300)
    assert header.startswith(b"path,pool5_000") and first.split(b",")[0].endswith(b"0.png")
    assert code in (0, 141), err  # 0 when everything fitted in the pipe's buffer before the reader left
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err


def transfer_caltech(capsys, tmp_path, vgg11_file, *extra):
    root = make_caltech101(tmp_path, counts={"BACKGROUND_Google": 4, "accordion": 4, "airplanes": 4})
    return run(capsys, "transfer", "caltech101", "--root", root, "--arch", "vgg11", "--weights", vgg11_file,
               "--scales", "224", "--splits", "2", "--train", "2", "--test", "2", "--quiet", *extra)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_transfer_writes_per_split_scores(capsys, tmp_path, vgg11_file, suffix):
    import json

    output = tmp_path / "results" / f"scores{suffix}"
    code, out, err = transfer_caltech(capsys, tmp_path, vgg11_file, "-o", output)
    assert code == 0, err
    printed = [float(line.split("recall ")[1].split(" %")[0]) for line in out.splitlines() if "split " in line]
    assert len(printed) == 2
    if suffix == ".json":
        record = json.loads(output.read_text())
        assert record["dataset"] == "caltech101" and record["arch"] == ["vgg11"] and record["scales"] == [224]
        assert record["metric"] == "mean class recall" and record["scale_pooling"] == "stack" and record["flip"] is True
        assert [s["split"] for s in record["splits"]] == [1, 2]
        assert [round(s["score_percent"], 2) for s in record["splits"]] == printed
        assert record["mean_percent"] == pytest.approx(np.mean([s["score_percent"] for s in record["splits"]]))
        assert all(s["C"] > 0 for s in record["splits"]) and record["paper_percent"] is None  # vgg11: not in Table 11
    else:
        table = pd.read_csv(output)
        assert list(table.columns) == ["dataset", "arch", "weights", "scales", "metric", "split", "score_percent", "C"]
        assert list(table["split"]) == [1, 2] and list(table["score_percent"].round(2)) == printed
    # The settings in words, not Python reprs.
    assert "fc7 at scales 224 px (concatenated), averaged with the mirror image" in out
    assert "Q=" not in out and "(224,)" not in out


@pytest.mark.parametrize(
    "name, message", [("r.txt", "the results file must end in .json or .csv"), ("DIR.json", "is a directory")]
)
def test_transfer_results_file_is_checked_first(capsys, tmp_path, name, message):
    (tmp_path / "DIR.json").mkdir()
    err = exit_2(capsys, "transfer", "caltech101", "--root", tmp_path / "no-dataset", "-o", tmp_path / name)
    assert message in err


#: Each VGGFeaturizer parameter -> the featurize option that sets it (a new parameter fails here until it has one).
FEATURIZER_OPTIONS = {
    "arch": "--arch", "weights": "--weights", "layer": "--layer", "pooling": "--pooling", "scales": "--scales",
    "flip": "--flip", "scale_pooling": "--scale-pooling", "preprocessing": "--resize", "batch_size": "--batch-size",
    "device": "--device", "precision": "--precision", "num_workers": "--decode-threads", "verbose": "--quiet",
    "cache": "--cache", "on_error": "--on-error", "max_pixels": "--max-pixels", "random_state": "--seed",
    "decode": "--decode", "compile": "--compile",
}  # fmt: skip


def test_every_featurizer_parameter_has_a_featurize_option():
    assert set(FEATURIZER_OPTIONS) == set(skvgg.VGGFeaturizer().get_params())
    options = {option for action in subcommand_parsers()["featurize"]._actions for option in action.option_strings}
    assert set(FEATURIZER_OPTIONS.values()) <= options
