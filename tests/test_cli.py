"""The command line, end to end, with a local random-weights file."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_sample_images

from skvgg.cli import main
from skvgg.testing import make_caltech101, make_voc


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


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".parquet"])
def test_featurize_directory_to_each_format(capsys, tmp_path, photo_dir, vgg11_file, suffix):
    output = tmp_path / f"features{suffix}"
    code, _, err = run(capsys, "featurize", photo_dir, "-o", output, "--arch", "vgg11", "--weights", vgg11_file,
                       "--layer", "pool5,pool4", "--device", "cpu", "--quiet")  # fmt: skip
    assert code == 0, err
    assert "2 images" in err and "1024 features" in err
    if suffix == ".npy":
        table = np.load(output)
        assert table.shape == (2, 1024) and np.isfinite(table).all()
    else:
        table = pd.read_csv(output) if suffix == ".csv" else pd.read_parquet(output)
        assert list(table.columns[:2]) == ["path", "pool5_000"] and table.shape == (2, 1025)
        assert table["path"].str.endswith(("china.jpg", "flower.jpg")).all()


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
    code, _, err = run(capsys, "featurize", tmp_path / "missing.jpg", "-o", tmp_path / "o.npy", "--arch", "vgg11",
                       "--weights", vgg11_file, "--quiet")  # fmt: skip
    assert code == 1 and "X[0]" in err and "missing.jpg" in err
    code, _, err = run(capsys, "featurize", photo_dir, "-o", tmp_path / "o.txt")
    assert code == 1 and "must end in .parquet, .csv or .npy" in err
    code, _, err = run(capsys, "featurize", photo_dir, "-o", tmp_path / "o.npy", "--weights", tmp_path / "nope.pth")
    assert code == 1 and "nor an existing checkpoint file" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "featurize", tmp_path / "empty", "-o", tmp_path / "o.npy")
    assert code == 1 and "holds no image files" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["featurize", "-o", "x.npy"])
    assert exit_info.value.code == 2


def test_featurize_on_error_nan(capsys, tmp_path, photo_dir, vgg11_file):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    output = tmp_path / "o.npy"
    with pytest.warns(UserWarning, match="bad.jpg"):
        code, _, err = run(capsys, "featurize", photo_dir / "sub" / "china.jpg", bad, "-o", output, "--arch", "vgg11",
                           "--weights", vgg11_file, "--layer", "pool5", "--on-error", "nan", "--quiet")  # fmt: skip
    assert code == 0 and "1 unreadable rows left NaN" in err
    table = np.load(output)
    assert np.isfinite(table[0]).all() and np.isnan(table[1]).all()


def test_transfer_caltech101_end_to_end(capsys, tmp_path, vgg11_file):
    root = make_caltech101(tmp_path, counts={"BACKGROUND_Google": 4, "accordion": 4, "airplanes": 4})
    code, out, err = run(capsys, "transfer", "caltech101", "--root", root, "--arch", "vgg11", "--weights", vgg11_file,
                         "--scales", "224", "--splits", "2", "--train", "2", "--test", "2", "--quiet")  # fmt: skip
    assert code == 0, err
    assert "Caltech-101: vgg11" in out and "split 1: mean class recall" in out and "split 2:" in out
    assert "mean +- std:" in out and "not in Table 11" in out


@pytest.mark.filterwarnings("ignore:Label not:UserWarning", "ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_transfer_voc2007_end_to_end(capsys, tmp_path, vgg11_file):
    make_voc(tmp_path, "2007")
    code, out, err = run(capsys, "transfer", "voc2007", "--root", tmp_path, "--arch", "vgg11", "--weights", vgg11_file,
                         "--scales", "224", "--quiet")  # fmt: skip
    assert code == 0, err
    assert "trainval -> test: mAP (11-point)" in out


def test_transfer_errors(capsys, tmp_path, vgg11_file):
    code, _, err = run(capsys, "transfer", "caltech101", "--root", tmp_path, "--weights", vgg11_file, "--arch", "vgg11")
    assert code == 1 and "101_ObjectCategories" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["transfer", "imagenet", "--root", str(tmp_path)])
    assert exit_info.value.code == 2


def test_unobtainable_weights_exit_1(capsys, tmp_path, torch_home, offline):
    code, _, err = run(capsys, "demo", "--quiet")
    assert code == 1 and "vgg16-397923af.pth" in err and str(torch_home) in err


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
    from skvgg.cli import _network_params, build_parser

    for command in (["demo"], ["featurize", "x.jpg", "-o", "o.npy"], ["transfer", "voc2007", "--root", "r"]):
        args = build_parser().parse_args(
            [*command, "--arch", "vgg16,vgg19", "--weights", "none", "--precision", "bfloat16", "--workers", "3", "--quiet"]
        )
        assert _network_params(args) == dict(
            arch=["vgg16", "vgg19"], weights=None, batch_size=32, device="auto",
            precision="bfloat16", num_workers=3, verbose=False,
        )  # fmt: skip
