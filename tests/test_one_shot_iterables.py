"""One-shot iterators are refused by name (fit then transform would read them twice); collections work."""

import io

import numpy as np
import pandas as pd
import pytest

from skvgg import Preprocessing, VGGClassifier, VGGFeaturizer
from skvgg.images import check_images

SMALL = Preprocessing(resize_size=40, crop_size=32)


def images(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, size=(36, 40, 3), dtype=np.uint8) for _ in range(n)]


ONE_SHOT = {
    "generator": (lambda xs: (x for x in xs), "generator"),
    "map": (lambda xs: map(np.asarray, xs), "map"),
    "iterator over a list": (lambda xs: iter(xs), "list_iterator"),
    "filter": (lambda xs: filter(lambda x: x is not None, xs), "filter"),
}


@pytest.mark.parametrize("kind", list(ONE_SHOT))
def test_check_images_refuses_one_shot_iterators_without_consuming_them(kind):
    make, type_name = ONE_SHOT[kind]
    source = images(3)
    X = make(source)
    with pytest.raises(TypeError, match=rf"X is a one-shot iterator \({type_name}\).*pass a list instead, e.g\. list\(X\)"):
        check_images(X)
    assert len(list(X)) == 3  # nothing was consumed: list(X) still has every image


def test_file_object_is_refused(tmp_path):
    listing = tmp_path / "paths.txt"
    listing.write_text("a.jpg\nb.jpg\n")
    with open(listing) as f, pytest.raises(TypeError, match=r"one-shot iterator \(_io.TextIOWrapper\)"):
        check_images(f)
    with pytest.raises(TypeError, match="one-shot iterator"):
        check_images(io.StringIO("a.jpg\n"))


class Reiterable:
    """A collection without __len__ or indexing whose every iter() starts afresh."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)


def test_collections_still_work():
    arrays = images(3)
    paths = ["/data/a.jpg", "/data/b.jpg"]
    for X in (arrays, tuple(arrays), Reiterable(arrays), {i: a for i, a in enumerate(arrays)}.values()):
        items = check_images(X)
        assert len(items) == 3 and all(item is a for item, a in zip(items, arrays))
    for X in (paths, np.array(paths, dtype=object), pd.Series(paths), pd.DataFrame({"path": paths})):
        assert check_images(X) == paths
    with pytest.raises(TypeError, match=r"X\[0\]"):
        check_images(range(3))  # re-iterable, but of integers: the item is named


@pytest.fixture
def featurizer(vgg11_file):
    return VGGFeaturizer(arch="vgg11", weights=vgg11_file, device="cpu", preprocessing=SMALL, layer="pool5")


@pytest.mark.parametrize("kind", list(ONE_SHOT))
def test_featurizer_refuses_one_shot_iterators(featurizer, kind):
    make, _ = ONE_SHOT[kind]
    source = images(3)
    for call in (featurizer.fit, featurizer.fit_transform):
        with pytest.raises(TypeError, match="one-shot iterator"):
            call(make(source))
    fitted = featurizer.fit()
    with pytest.raises(TypeError, match="one-shot iterator"):
        fitted.transform(make(source))
    np.testing.assert_array_equal(fitted.fit_transform(list(make(source))), fitted.transform(source))  # the advice works


@pytest.fixture(scope="module")
def fitted_classifier(vgg11_file):
    X, y = images(6), np.array([0, 1] * 3)
    clf = VGGClassifier(
        arch="vgg11", weights=vgg11_file, preprocessing=SMALL, max_epochs=1, batch_size=6,
        validation_fraction=None, random_state=0, device="cpu",
    )  # fmt: skip
    return clf.fit(X, y)


@pytest.mark.parametrize("kind", list(ONE_SHOT))
def test_classifier_refuses_one_shot_iterators(fitted_classifier, kind):
    make, _ = ONE_SHOT[kind]
    source, y = images(6, seed=1), np.array([0, 1] * 3)
    with pytest.raises(TypeError, match="one-shot iterator"):
        VGGClassifier().fit(make(source), y)  # refused before anything is loaded
    for method in ("predict", "predict_proba", "decision_function", "transform"):
        with pytest.raises(TypeError, match="one-shot iterator"):
            getattr(fitted_classifier, method)(make(source))
    with pytest.raises(TypeError, match="one-shot iterator"):
        fitted_classifier.score(make(source), y)
    # The advice works: list(X) is predicted as the collection it was made from.
    np.testing.assert_array_equal(fitted_classifier.predict(list(make(source))), fitted_classifier.predict(source))
