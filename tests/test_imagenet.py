"""ImageNet (issue 20): the validation-set loader, the top-k scorer, VGGImageNetClassifier and run_imagenet."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import top_k_accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate

from skvgg import DatasetFormatError, DatasetNotFoundError, Preprocessing, VGGClassifier, VGGImageNetClassifier
from skvgg.datasets import load_imagenet_val
from skvgg.experiments import (
    IMAGENET_PROTOCOLS,
    TABLES_3_5,
    paper_imagenet_errors,
    run_imagenet,
    torchvision_imagenet_errors,
)
from skvgg.metrics import make_top_k_error_scorer, neg_top1_error_scorer, neg_top5_error_scorer, top_k_error
from skvgg.testing import imagenet_wnid, make_imagenet_val

SMALL = Preprocessing(resize_size=40, crop_size=32)  # a cheap centre view for random networks
CLASSES = (0, 7, 999)


# -- the loader ---------------------------------------------------------------------------------


def _devkit_truth(root):
    """Each image's class index, computed from the devkit files as the devkit defines them."""
    from scipy.io import loadmat

    data = root / "ILSVRC2012_devkit_t12" / "data"
    synsets = loadmat(data / "meta.mat", squeeze_me=True)["synsets"]
    leaves = {int(i): str(w) for i, w, c in zip(synsets["ILSVRC2012_ID"], synsets["WNID"], synsets["num_children"]) if c == 0}
    order = sorted(leaves.values())  # torchvision's classes: the WNIDs sorted
    ids = [int(line) for line in (data / "ILSVRC2012_validation_ground_truth.txt").read_text().split()]
    return [order.index(leaves[i]) for i in ids], ids


def test_devkit_layout_maps_ilsvrc_ids_to_torchvision_order(tmp_path):
    root = make_imagenet_val(tmp_path, layout="devkit", classes=CLASSES, per_class=2)
    data = load_imagenet_val(root)
    expected, ids = _devkit_truth(root)
    assert data.layout == "devkit"
    assert data.target.dtype == np.int64
    assert data.target.tolist() == expected == [0, 7, 999, 0, 7, 999]
    assert ids != [k + 1 for k in expected]  # the IDs are not the indices: the mapping did something
    assert [p.rsplit("/", 1)[1] for p in data.paths] == [f"ILSVRC2012_val_{n:08d}.JPEG" for n in range(1, 7)]
    assert len(data.target_names) == 1000 and data.target_names[0] == "tench" and data.target_names[999] == "toilet tissue"
    assert data.wnids == sorted(data.wnids) and data.wnids[7] == imagenet_wnid(7)
    assert data.frame["name"].tolist()[:3] == ["tench", data.target_names[7], "toilet tissue"]
    assert "Table 4" in data.DESCR and "6 images of 3 classes" in data.DESCR


def test_devkit_files_are_what_torchvision_parses(tmp_path, monkeypatch):
    """torchvision's own devkit parser (run on the generated devkit, packed as the real archive) agrees."""
    import tarfile

    import torchvision.datasets.imagenet as tv_imagenet

    root = make_imagenet_val(tmp_path / "data", layout="devkit", classes=CLASSES, per_class=2)
    with tarfile.open(tmp_path / "ILSVRC2012_devkit_t12.tar.gz", "w:gz") as archive:
        archive.add(root / "ILSVRC2012_devkit_t12", arcname="ILSVRC2012_devkit_t12")
    monkeypatch.setattr(tv_imagenet, "_verify_archive", lambda *args: None)  # the real archive's MD5 is checked there
    tv_imagenet.parse_devkit_archive(str(tmp_path))
    wnid_to_classes, val_wnids = tv_imagenet.load_meta_file(str(tmp_path))
    assert len(wnid_to_classes) == 1000 and wnid_to_classes[imagenet_wnid(0)] == ("tench",)
    order = sorted(wnid_to_classes)
    assert [order.index(wnid) for wnid in val_wnids] == load_imagenet_val(root).target.tolist()


def test_torchvision_layout_reads_meta_bin(tmp_path):
    from torchvision.datasets.imagenet import load_meta_file

    root = make_imagenet_val(tmp_path, layout="torchvision", classes=CLASSES, per_class=2)
    wnid_to_classes, val_wnids = load_meta_file(str(root))  # torchvision reads what the generator wrote
    assert len(wnid_to_classes) == 1000 and len(val_wnids) == 6
    data = load_imagenet_val(root)
    assert data.layout == "torchvision"
    # ImageFolder's order (class folder, then file name), with indices among all 1000 classes.
    assert data.target.tolist() == [0, 0, 7, 7, 999, 999]
    assert [p.split("/")[-2] for p in data.paths] == [imagenet_wnid(k) for k in (0, 0, 7, 7, 999, 999)]


def test_torchvision_layout_without_meta_bin_needs_all_classes(tmp_path):
    root = make_imagenet_val(tmp_path, layout="torchvision", classes=CLASSES, per_class=1)
    (root / "meta.bin").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"meta\.bin.*3 class folders, not 1000"):
        load_imagenet_val(root)


def test_csv_layout_and_per_class(tmp_path):
    listing = make_imagenet_val(tmp_path, layout="csv", classes=CLASSES, per_class=3)
    data = load_imagenet_val(listing)
    assert data.layout == "csv" and data.wnids is None
    assert data.target.tolist() == [0, 7, 999] * 3
    assert all(p.startswith(str(tmp_path / "images")) for p in data.paths)
    paths, y = load_imagenet_val(listing, per_class=2, return_X_y=True)
    assert y.tolist() == [0, 7, 999, 0, 7, 999] and paths == data.paths[:6]


@pytest.mark.parametrize("layout", ["devkit", "torchvision", "csv"])
def test_per_class_keeps_the_first_images_of_each_class(tmp_path, layout):
    root = make_imagenet_val(tmp_path, layout=layout, classes=CLASSES, per_class=3)
    full = load_imagenet_val(root)
    subset = load_imagenet_val(root, per_class=1)
    firsts = [full.paths[int(np.flatnonzero(full.target == k)[0])] for k in CLASSES]
    assert sorted(subset.paths) == sorted(firsts)
    assert sorted(subset.target.tolist()) == list(CLASSES)


def test_without_the_data_the_message_says_what_to_obtain_and_where(tmp_path):
    for root in (tmp_path / "missing", tmp_path):
        with pytest.raises(DatasetNotFoundError) as info:
            load_imagenet_val(root)
        message = str(info.value)
        assert "ILSVRC2012_img_val.tar" in message and "ILSVRC2012_devkit_t12.tar.gz" in message
        assert "ILSVRC2012_validation_ground_truth.txt" in message and "downloads nothing" in message
    (tmp_path / "ILSVRC2012_img_val").mkdir()
    make_imagenet_val(tmp_path / "other", layout="devkit", per_class=1)
    with pytest.raises(DatasetNotFoundError, match="the devkit's .*ground_truth"):
        load_imagenet_val(tmp_path, layout="devkit")


def test_devkit_errors_name_the_file_and_line(tmp_path):
    root = make_imagenet_val(tmp_path, layout="devkit", classes=CLASSES, per_class=2)
    truth = root / "ILSVRC2012_devkit_t12" / "data" / "ILSVRC2012_validation_ground_truth.txt"
    lines = truth.read_text().split()
    (root / "ILSVRC2012_img_val" / "ILSVRC2012_val_00000004.JPEG").unlink()
    with pytest.raises(DatasetFormatError, match="first missing is ILSVRC2012_val_00000004.JPEG"):
        load_imagenet_val(root)
    make_imagenet_val(tmp_path, layout="devkit", classes=CLASSES, per_class=2)  # restores the image
    truth.write_text("\n".join(lines[:3] + ["1001"] + lines[4:]) + "\n")
    with pytest.raises(DatasetFormatError, match=r"line 4: expected an ILSVRC2012_ID between 1 and 1000, got '1001'"):
        load_imagenet_val(root)
    truth.write_text("\n".join(lines[:5]) + "\n")  # six images, five labels
    with pytest.raises(DatasetFormatError, match="ILSVRC2012_val_00000006.JPEG has no label"):
        load_imagenet_val(root)
    (root / "ILSVRC2012_devkit_t12" / "data" / "meta.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetFormatError, match="is not the devkit's meta.mat"):
        load_imagenet_val(root)


def test_torchvision_and_csv_errors(tmp_path):
    root = make_imagenet_val(tmp_path / "tv", layout="torchvision", classes=CLASSES, per_class=1)
    (root / "val" / "n99999999").mkdir()
    with pytest.raises(DatasetFormatError, match="n99999999.*not an ImageNet class"):
        load_imagenet_val(root)
    listing = make_imagenet_val(tmp_path / "csv", layout="csv", classes=CLASSES, per_class=1)
    rows = listing.read_text().splitlines()
    listing.write_text("\n".join(rows[:2] + [rows[2].rsplit(",", 1)[0] + ",1000"] + rows[3:]) + "\n")
    with pytest.raises(DatasetFormatError, match="line 3: label '1000' is not a class index between 0 and 999"):
        load_imagenet_val(listing)
    listing.write_text("path,label\nimages/absent.JPEG,3\n")
    with pytest.raises(DatasetNotFoundError, match="line 2: image .*absent.JPEG does not exist"):
        load_imagenet_val(listing)
    listing.write_text("file,class\nx.JPEG,3\n")
    with pytest.raises(DatasetFormatError, match="expected a header 'path,label'"):
        load_imagenet_val(listing)


# -- top-k error ----------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_error_is_one_minus_sklearns_top_k_accuracy(k):
    rng = np.random.RandomState(k)
    y_score = rng.rand(60, 8)
    y_true = rng.randint(0, 8, 60)
    weight = rng.rand(60)
    labels = np.arange(8)
    expected = 1 - top_k_accuracy_score(y_true, y_score, k=k, labels=labels, sample_weight=weight)
    assert top_k_error(y_true, y_score, k=k, sample_weight=weight) == pytest.approx(expected)
    names = np.array(list("abcdefgh"))
    assert top_k_error(names[y_true], y_score, k=k, labels=names, sample_weight=weight) == pytest.approx(expected)


def test_top_k_error_reads_integer_labels_as_columns():
    # Three images of classes 3 and 9 among ten columns: scikit-learn alone would need labels=.
    y_score = np.eye(10)[[3, 9, 2]] + 0.01 * np.arange(10)
    assert top_k_error([3, 9, 9], y_score, k=1) == pytest.approx(1 / 3)
    assert top_k_error([3, 9, 9], y_score, k=5) == pytest.approx(0.0)  # 9 is also among the 5 highest of row 3
    with pytest.raises(ValueError, match=r"y_true\[1\] = 10 is not a column of y_score"):
        top_k_error([3, 10, 9], y_score, k=1)


def test_top_k_error_scorers_in_model_selection():
    X, y = load_digits(return_X_y=True)
    X, y = X[:240] / 16.0, y[:240]  # pixels in [0, 1]: quick convergence
    scoring = {"top1": neg_top1_error_scorer, "top5": neg_top5_error_scorer, "top3": make_top_k_error_scorer(3)}
    cv = StratifiedKFold(2)
    scores = cross_validate(LogisticRegression(max_iter=300), X, y, cv=cv, scoring=scoring, return_estimator=True)
    for fold, (estimator, (_, test)) in enumerate(zip(scores["estimator"], cv.split(X, y))):
        proba = estimator.predict_proba(X[test])
        for name, k in (("top1", 1), ("top5", 5), ("top3", 3)):
            expected = top_k_accuracy_score(y[test], proba, k=k, labels=estimator.classes_) - 1
            assert scores[f"test_{name}"][fold] == pytest.approx(expected)
    # In a grid search, minus the top-1 error is the accuracy minus one, candidate by candidate.
    grid = {"C": [0.001, 1.0]}
    search = GridSearchCV(LogisticRegression(max_iter=300), grid, cv=cv, scoring=neg_top1_error_scorer).fit(X, y)
    accuracy = GridSearchCV(LogisticRegression(max_iter=300), grid, cv=cv, scoring="accuracy").fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], accuracy.cv_results_["mean_test_score"] - 1)
    assert search.best_params_ == accuracy.best_params_
    assert repr(neg_top5_error_scorer) == "make_top_k_error_scorer(k=5)"
    assert pickle.loads(pickle.dumps(neg_top5_error_scorer)).k == 5


# -- the estimator -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini_devkit(tmp_path_factory):
    root = make_imagenet_val(tmp_path_factory.mktemp("imagenet"), layout="devkit", classes=CLASSES, per_class=2)
    return load_imagenet_val(root)


@pytest.mark.slow
def test_classifier_is_the_weights_own_head(tmp_path, tv_vgg11, vgg11_file):
    # A 224x224 image: the centre view is the image itself, so torchvision's network on the
    # normalised pixels is the reference.
    pixels = np.random.RandomState(0).randint(0, 256, (224, 224, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    pre = Preprocessing(resize_size=224, crop_size=224)
    clf = VGGImageNetClassifier("vgg11", weights=vgg11_file, preprocessing=pre, precision="float32", device="cpu").fit()
    x = (torch.from_numpy(pixels).permute(2, 0, 1).float() / 255 - torch.tensor(pre.mean)[:, None, None]) / torch.tensor(pre.std)[
        :, None, None
    ]
    with torch.no_grad():
        expected = torch.log_softmax(tv_vgg11(x[None]), dim=1).numpy().astype(np.float64)
    scores = clf.decision_function([str(tmp_path / "a.png")])
    assert scores.shape == (1, 1000) and np.ptp(expected) > 1e-3
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert clf.predict([str(tmp_path / "a.png")]).tolist() == [int(expected.argmax())]


def test_classifier_surface(mini_devkit):
    # float32: autocast to bfloat16 would cast fc6's 400 MB of weights at every call.
    clf = VGGImageNetClassifier("vgg11", weights=None, random_state=0, preprocessing=SMALL, precision="float32")
    assert clone(clf).get_params() == clf.get_params()
    clf.fit(mini_devkit.paths, mini_devkit.target)
    assert clf.classes_.tolist() == list(range(1000)) and clf.class_names_[0] == "tench"
    proba = clf.predict_proba(mini_devkit.paths)
    assert proba.dtype == np.float64 and proba.shape == (6, 1000)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(clf.decision_function(mini_devkit.paths), np.log(proba))
    predicted = clf.predict(mini_devkit.paths)
    assert predicted.tolist() == proba.argmax(1).tolist()
    assert clf.score(mini_devkit.paths, mini_devkit.target) == pytest.approx(np.mean(predicted == mini_devkit.target))
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(mini_devkit.paths), proba)
    assert -neg_top5_error_scorer(clf, mini_devkit.paths, mini_devkit.target) == pytest.approx(
        top_k_error(mini_devkit.target, proba, k=5)
    )


@pytest.mark.slow
def test_fusion_averages_the_networks_posteriors(mini_devkit):
    from skvgg.imagenet import protocol_posteriors

    clf = VGGImageNetClassifier(["vgg11", "vgg13"], weights=None, random_state=0, preprocessing=SMALL).fit()
    assert clf.archs_ == ["vgg11", "vgg13"] and clf.weights_identity_.count("random:seed=") == 2
    indices = np.arange(len(mini_devkit.paths))
    parts = [
        protocol_posteriors(
            network, SMALL, mini_devkit.paths, indices, scales=None, flip=False, multi_crop=False, precision="auto",
            batch_size=8, num_workers=None, max_pixels=None,
        )
        for network in clf._get_networks()
    ]  # fmt: skip
    assert not np.allclose(parts[0], parts[1])
    np.testing.assert_allclose(clf.predict_proba(mini_devkit.paths), (parts[0] + parts[1]) / 2, rtol=1e-6)


def test_classifier_errors(mini_devkit):
    with pytest.raises(ValueError, match="no trained classifier"):
        VGGImageNetClassifier("vgg16", weights="VGG16_Weights.IMAGENET1K_FEATURES").fit()
    with pytest.raises(ValueError, match="multi_crop needs eval_scales"):
        VGGImageNetClassifier("vgg11", weights=None, multi_crop=True).fit()
    with pytest.raises(ValueError, match=r"y\[1\] = 1000 is not an ImageNet class index"):
        VGGImageNetClassifier("vgg11", weights=None).fit(None, [3, 1000])
    with pytest.raises(ValueError, match="entry 0 is 'tench'"):
        VGGImageNetClassifier("vgg11", weights=None).fit(None, ["tench"])
    with pytest.raises(ValueError, match="entry 1 is 2.5"):
        VGGImageNetClassifier("vgg11", weights=None).fit(None, np.array([1, 2.5, 3], dtype=object))
    assert VGGImageNetClassifier("vgg11", weights=None).fit(None, np.array([1, 2], dtype=object)).classes_.size == 1000
    with pytest.raises(ValueError, match="X has 6 images but y has 2 labels"):
        VGGImageNetClassifier("vgg11", weights=None).fit(mini_devkit.paths, [1, 2])


@pytest.mark.parametrize("name", list(IMAGENET_PROTOCOLS))
def test_each_protocols_views_are_the_classifiers(monkeypatch, name):
    """The views VGGImageNetClassifier evaluates under a protocol are those VGGClassifier evaluates with the same parameters."""
    import skvgg.classifier
    import skvgg.imagenet

    recorded = {}

    def recorder(owner):
        def fake(network, items, indices, plan, **kwargs):
            recorded[owner] = plan
            return np.full((len(indices), 1000), 1e-3, dtype=np.float32)

        return fake

    monkeypatch.setattr(skvgg.imagenet, "class_posteriors", recorder("imagenet"))
    monkeypatch.setattr(skvgg.classifier, "class_posteriors", recorder("classifier"))
    params = IMAGENET_PROTOCOLS[name].params()
    ours = VGGImageNetClassifier("vgg11", weights=None, random_state=0, **params).fit()
    theirs = VGGClassifier("vgg11", weights=None, **params)
    theirs.preprocessing_ = ours.preprocessings_[0]  # the parts of a fitted classifier that predicting reads
    theirs.classes_ = np.arange(1000)
    theirs._network = torch.nn.Linear(1, 1)  # handed to the recorder only (a module on the CPU, as the device resolves here)
    image = Image.fromarray(np.random.RandomState(1).randint(0, 256, (260, 300, 3), dtype=np.uint8))
    ours.predict_proba([np.asarray(image)])
    theirs.predict_proba([np.asarray(image)])
    from skvgg._pipeline.batches import plan_groups

    assert recorded["imagenet"] == recorded["classifier"]  # one typed plan (skvgg._pipeline.plan.ViewPlan)
    groups = {owner: plan_groups(plan, image) for owner, plan in recorded.items()}
    assert len(groups["imagenet"]) == len(groups["classifier"]) > 0
    views = 0
    for a, b in zip(groups["imagenet"], groups["classifier"]):
        assert a.dense == b.dense and len(a.views) == len(b.views)
        for view_a, view_b in zip(a.views, b.views):
            assert torch.equal(view_a, view_b)
        views += len(a.views)
    assert views == IMAGENET_PROTOCOLS[name].views_per_image()


# -- the harness ----------------------------------------------------------------------------------


def test_published_numbers_are_the_references():
    # torchvision's acc@1/acc@5 of IMAGENET1K_V1 (the reference's table), as errors.
    published = {"vgg11": (69.020, 88.628), "vgg13": (69.928, 89.246), "vgg16": (71.592, 90.382), "vgg19": (72.376, 90.876)}
    published |= {"vgg11_bn": (70.370, 89.810), "vgg16_bn": (73.360, 91.516), "vgg19_bn": (74.218, 91.842)}
    for arch, (acc1, acc5) in published.items():
        assert torchvision_imagenet_errors(arch) == pytest.approx((100 - acc1, 100 - acc5))
    assert torchvision_imagenet_errors("vgg16", "VGG16_Weights.IMAGENET1K_FEATURES") is None
    assert torchvision_imagenet_errors("vgg16", None) is None
    # The paper's tables: a sample of cells, each from its column.
    assert paper_imagenet_errors("dense-256", "A") == (29.6, 10.4, "Table 3, S=256")
    assert paper_imagenet_errors("dense-384", "C") == (27.3, 8.8, "Table 3, S in [256;512]")
    assert paper_imagenet_errors("multi-scale-384", "vgg19") == (26.7, 8.6, "Table 4, S=384")
    assert paper_imagenet_errors("multi-scale", "vgg16") == (24.8, 7.5, "Table 4, S in [256;512]")
    assert paper_imagenet_errors("multi-crop", "E") == (24.6, 7.4, "Table 5, S in [256;512]")
    assert paper_imagenet_errors("multi-scale", "vgg16+vgg19")[:2] == (24.0, 7.1)
    assert paper_imagenet_errors("center-crop", "vgg16") is None
    assert paper_imagenet_errors("dense-256", "vgg16_bn") is None
    assert {protocol for protocol, _ in TABLES_3_5} <= set(IMAGENET_PROTOCOLS)


@pytest.mark.slow
def test_run_imagenet_table_cache_and_fusion(tmp_path, mini_devkit, vgg11_file):
    cache = tmp_path / "cache"
    lines = []
    table = run_imagenet(
        mini_devkit.root.rsplit("/", 1)[0], arch=["vgg11", "vgg11+vgg13"], weights=None, protocols="center-crop",
        precision=["float32", "auto"], cache=cache, preprocessing=SMALL, report=lines.append,
    )  # fmt: skip
    assert table.shape[0] == 2 * 2 * 1  # networks x precisions x protocols
    assert table["network"].tolist() == ["vgg11", "vgg11", "vgg11+vgg13", "vgg11+vgg13"]
    assert table["precision"].tolist()[0] == "float32" and table["precision"].tolist()[1].endswith("(auto)")
    assert (table["images"] == 6).all() and (table["views_per_image"] == [1, 1, 2, 2]).all()
    # Random weights: chance-level errors (the real chance is 99.9 % top-1 and 99.5 % top-5).
    assert (table["top1_error"] >= 50).all() and (table["top5_error"] >= 50).all()
    clf = VGGImageNetClassifier("vgg11", weights=None, random_state=0, preprocessing=SMALL, precision="float32").fit()
    proba = clf.predict_proba(mini_devkit.paths)
    assert table["top1_error"][0] == pytest.approx(100 * top_k_error(mini_devkit.target, proba, k=1))
    assert table["top5_error"][0] == pytest.approx(100 * top_k_error(mini_devkit.target, proba, k=5))
    assert table["paper_top1_error"].isna().all() and table["torchvision_top1_error"].isna().all()
    assert (table["images_per_second"] > 0).all() and (table["cached"] == 0).all()
    assert len(lines) == 1 + 4 and "vgg11 float32 center-crop" in lines[1]
    again = run_imagenet(
        mini_devkit.root.rsplit("/", 1)[0], arch="vgg11+vgg13", weights=None, protocols=["center-crop"],
        precision="float32", cache=cache, preprocessing=SMALL, report=lines.append,
    )  # fmt: skip
    assert again["cached"].tolist() == [1.0]  # both members read from the cache
    assert again["top5_error"][0] == table["top5_error"][2] and again["seconds"][0] == table["seconds"][2]
    # One weights entry per arch entry: the same network with two weights is two rows.
    both = run_imagenet(
        mini_devkit.root.rsplit("/", 1)[0], arch=["vgg11", "vgg11"], weights=[None, str(vgg11_file)],
        protocols="center-crop", precision="float32", preprocessing=SMALL, report=lines.append,
    )  # fmt: skip
    assert both["weights"].tolist() == ["random", str(vgg11_file)]
    assert both["top1_error"][0] == table["top1_error"][0]
    file_clf = VGGImageNetClassifier("vgg11", weights=vgg11_file, preprocessing=SMALL, precision="float32").fit()
    expected = 100 * top_k_error(mini_devkit.target, file_clf.predict_proba(mini_devkit.paths), k=5)
    assert both["top5_error"][1] == pytest.approx(expected)


def test_run_imagenet_checks_before_reading(tmp_path):
    with pytest.raises(ValueError, match="Unknown ImageNet protocol 'dense-999'"):
        run_imagenet(tmp_path, protocols=["dense-999"])
    with pytest.raises(ValueError, match="precision 'int4' is not offered"):
        run_imagenet(tmp_path, precision="int4")
    with pytest.raises(ValueError, match="weights has 2 entries but arch has 1"):
        run_imagenet(tmp_path, arch="vgg16", weights=[None, "imagenet"])
    with pytest.raises(ValueError, match="fuses the same network twice"):
        run_imagenet(tmp_path, arch="vgg16+D")
    with pytest.raises(DatasetNotFoundError, match="ILSVRC2012_img_val.tar"):
        run_imagenet(tmp_path, weights=None)


@pytest.mark.slow
def test_run_imagenet_paper_protocol_rows(tmp_path):
    root = make_imagenet_val(tmp_path, layout="torchvision", classes=(5, 6), per_class=1, size=(64, 48))
    table = run_imagenet(root, arch=["vgg11"], weights=None, protocols=["dense-256"], precision="bfloat16", report=print)
    row = table.iloc[0]
    assert (row["protocol"], row["table"], row["views_per_image"]) == ("dense-256", "Table 3", 2)
    assert (row["paper_top1_error"], row["paper_top5_error"], row["paper_source"]) == (29.6, 10.4, "Table 3, S=256")
    assert row["top5_error"] >= 50  # random weights


@pytest.mark.slow
def test_combine_is_the_mean_of_dense_and_multi_crop(mini_devkit):
    """What run_imagenet relies on to compute "multi-crop+dense" from the other two protocols' posteriors."""
    paths = mini_devkit.paths[:2]
    common = dict(weights=None, random_state=0, preprocessing=SMALL, eval_scales=(224,), eval_flip=True, precision="float32")
    posteriors = {
        mode: VGGImageNetClassifier("vgg11", multi_crop=mode, **common).fit().predict_proba(paths)
        for mode in (False, True, "combine")
    }
    assert not np.allclose(posteriors[False], posteriors[True])
    np.testing.assert_allclose(posteriors["combine"], (posteriors[False] + posteriors[True]) / 2, rtol=1e-5, atol=1e-8)


def test_plot_imagenet_protocols_draws_each_row_and_the_papers_errors():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from skvgg.plotting import plot_imagenet_protocols

    table = pd.DataFrame(
        {
            "network": ["vgg16", "vgg16", "vgg16+vgg19"],
            "precision": ["float32"] * 3,
            "protocol": ["center-crop", "dense-256", "multi-scale"],
            "images_per_second": [100.0, 40.0, 9.0],
            "top5_error": [9.6, 9.0, 7.9],
            "paper_top5_error": [np.nan, 8.8, 7.1],
        }
    )
    ax = plot_imagenet_protocols(table, title="t")
    measured = [line for line in ax.lines if line.get_marker() == "o"]
    assert [list(line.get_ydata()) for line in measured] == [[9.6, 9.0], [7.9]]
    crosses = [line for line in ax.lines if line.get_marker() == "x" and len(line.get_xdata())]
    assert sorted(y for line in crosses for y in line.get_ydata()) == [7.1, 8.8]
    assert sorted(text.get_text() for text in ax.texts) == ["center-crop", "dense-256", "multi-scale"]
    assert ax.get_xscale() == "log" and ax.get_title() == "t" and "top-5" in ax.get_ylabel()
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="metric must be 'top1' or 'top5'"):
        plot_imagenet_protocols(table, metric="top3")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['top1_error'\]"):
        plot_imagenet_protocols(table, metric="top1")
