"""Data sets that ship inside installed packages: nothing is downloaded at run time.

Every data set comes back split into a training and a test part with a fixed seed (the same split for every
experiment, so their test metrics compare), standardized with the statistics of the training part only.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DATASETS = ("digits", "breast_cancer", "iris", "wine", "synthetic")
TEST_FRACTION = 0.25
SPLIT_SEED = 20240601
SYNTHETIC_FEATURES = 32
SYNTHETIC_CLASSES = 10
SYNTHETIC_DEFAULT_SAMPLES = 4000
SYNTHETIC_MIN_SAMPLES = 100
SYNTHETIC_MAX_SAMPLES = 500_000

# scikit-learn's loaders, by name. scikit-learn (with SciPy) takes over a second to import, so it is imported
# when a data set is first built, not by every process that imports this module (web, watcher, commands).
_SKLEARN_LOADERS = {
    "digits": "load_digits",
    "breast_cancer": "load_breast_cancer",
    "iris": "load_iris",
    "wine": "load_wine",
}


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self):
        return self.x_train.shape[1]


def dataset_load(name, *, synthetic_samples=SYNTHETIC_DEFAULT_SAMPLES):
    """The named data set, split and standardized. Arrays are read-only: they are shared through a cache."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}")
    if name != "synthetic":
        synthetic_samples = None
    elif not SYNTHETIC_MIN_SAMPLES <= synthetic_samples <= SYNTHETIC_MAX_SAMPLES:
        raise ValueError(
            f"a synthetic data set has between {SYNTHETIC_MIN_SAMPLES} and {SYNTHETIC_MAX_SAMPLES} samples"
        )
    return _dataset_cached(name, synthetic_samples)


def dataset_min_train_size(name, *, synthetic_samples=SYNTHETIC_DEFAULT_SAMPLES):
    """A lower bound of the training set's size (exact for the bundled sets) without building a synthetic one."""
    if name == "synthetic":
        # The stratified split rounds each class's test share, at most half a sample per class either way.
        return int(synthetic_samples * (1 - TEST_FRACTION)) - SYNTHETIC_CLASSES
    return len(dataset_load(name).y_train)


def dataset_n_classes(name):
    return SYNTHETIC_CLASSES if name == "synthetic" else dataset_load(name).n_classes


@lru_cache(maxsize=4)
def _dataset_cached(name, synthetic_samples):
    x, y = _raw(name, synthetic_samples)
    train_index, test_index = _split(y)
    x_train, x_test = x[train_index], x[test_index]
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0  # constant features (digits' blank corner pixels) stay constant instead of dividing by 0
    x_train = (x_train - mean) / std
    x_test = (x_test - mean) / std
    arrays = [x_train, y[train_index], x_test, y[test_index]]
    for array in arrays:
        array.flags.writeable = False
    return Dataset(name, *arrays, n_classes=int(y.max()) + 1)


def _raw(name, synthetic_samples):
    from sklearn import datasets as sklearn_datasets

    if name == "synthetic":
        x, y = sklearn_datasets.make_classification(
            n_samples=synthetic_samples,
            n_features=SYNTHETIC_FEATURES,
            n_informative=16,
            n_redundant=4,
            n_classes=SYNTHETIC_CLASSES,
            n_clusters_per_class=2,
            class_sep=1.5,
            random_state=SPLIT_SEED,
        )
    else:
        bunch = getattr(sklearn_datasets, _SKLEARN_LOADERS[name])()
        x, y = bunch.data, bunch.target
    return np.ascontiguousarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def _split(labels):
    """A stratified split: each class keeps its share in the test set."""
    rng = np.random.default_rng(SPLIT_SEED)
    test = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test.append(members[: int(round(len(members) * TEST_FRACTION))])
    test_index = np.sort(np.concatenate(test))
    train_mask = np.ones(len(labels), dtype=bool)
    train_mask[test_index] = False
    return np.flatnonzero(train_mask), test_index
