"""Data helpers: shuffled mini-batches, one-hot targets, MNIST IDX files, built-in digits."""
from __future__ import annotations

import errno
import gzip
import os
import struct
from typing import Iterator

import numpy as np

from ._typing import ArrayLike, DTypeLike, FloatArray, IntArray, PathLike, Seed

__all__ = ["minibatches", "one_hot", "load_mnist", "make_digits"]


def epoch_order(rng, n, shuffle=True):
    """The row order of one epoch: a permutation of range(n) drawn from ``rng``.

    Shared by :func:`minibatches` and ``Network.fit`` so that both draw
    mini-batches the same way. Returns an int array of shape (n,).
    """
    if shuffle:
        return rng.permutation(n).astype(np.intp, copy=False)
    return np.arange(n, dtype=np.intp)


def _rng(seed):
    """numpy.random.default_rng(seed), with an error that names ``seed`` when numpy refuses it."""
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"seed must be None, a non-negative integer or a numpy.random.Generator, "
                        f"got {seed!r} ({exc})") from None


def _check_floating(dtype):
    """Refuse a dtype that cannot hold pixel values in [0, 1] (an integer type would truncate them)."""
    try:
        floating = np.issubdtype(np.dtype(dtype), np.floating)
    except TypeError:
        floating = False
    if not floating:
        raise TypeError(f"dtype must be a floating type such as np.float32 (pixel values lie in [0, 1]), "
                        f"got {dtype!r}")


def _check_batch_size(batch_size):
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be a positive integer, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    return int(batch_size)


def minibatches(X: ArrayLike, Y: ArrayLike, batch_size: int, *,
                seed: Seed = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Iterate over shuffled mini-batches ``(X_batch, Y_batch)`` covering every sample once.

    Parameters
    ----------
    X : array-like, shape (n, n_features)
    Y : array-like, shape (n, n_outputs) or (n,)
        Targets or labels; rows are drawn with the same indices as X.
    batch_size : int
        Rows per batch; the last batch holds the remaining ``n % batch_size``
        rows when batch_size does not divide n.
    seed : int, numpy.random.Generator or None
        Seeds the shuffle: the same seed gives the same order. Each call with
        a Generator draws a fresh order from it (a new epoch).

    Yields
    ------
    (X_batch, Y_batch) : copies of the selected rows, in shuffled order.
    """
    X = _array(X, "X")
    Y = _array(Y, "Y")
    if X.ndim == 0 or Y.ndim == 0:
        raise ValueError("X and Y must be arrays of samples (one row per sample)")
    if len(X) != len(Y):
        raise ValueError(f"X and Y have different numbers of rows: {len(X)} != {len(Y)}")
    batch_size = _check_batch_size(batch_size)
    order = epoch_order(_rng(seed), len(X))
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], Y[idx]


def _check_unmasked(A, name):
    """ValueError if A is a numpy masked array with masked entries (the values under the mask would
    be used), naming it ``name``."""
    n_masked = int(np.ma.count_masked(A)) if isinstance(A, np.ma.MaskedArray) else 0
    if n_masked:
        raise ValueError(f"{name} is a masked array with {n_masked} masked "
                         f"entr{'y' if n_masked == 1 else 'ies'}; fastnn would use the values under "
                         f"the mask: fill them ({name}.filled(value)) or drop those rows")


def _array(A, name):
    """np.asarray(A), with two exceptions. A masked array with masked entries is refused: numpy's
    conversion would silently use the values under the mask (one without masked entries is its
    data). A pandas DataFrame or Series whose columns all hold numbers or booleans but that numpy
    makes an object array (bool beside float columns, pandas' nullable Float64 / Int64 / boolean)
    becomes float64, its missing values NaN (refused by the callers' finiteness checks)."""
    if isinstance(A, np.ma.MaskedArray):
        _check_unmasked(A, name)
        return np.asarray(A.data)
    converted = np.asarray(A)
    dtypes = getattr(A, "dtypes", None)
    if converted.dtype == object and dtypes is not None and callable(getattr(A, "to_numpy", None)):
        columns = list(dtypes) if hasattr(dtypes, "__iter__") else [dtypes]
        if columns and all(getattr(dt, "kind", "O") in "biuf" for dt in columns):
            return np.asarray(A.to_numpy(dtype=np.float64, na_value=np.nan))
    return converted


def _check_label_range(labels, n, why=""):
    """Raise ValueError naming the first integer label outside [0, n); ``why`` says where n comes from."""
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        bad = labels[(labels < 0) | (labels >= n)][0]
        raise ValueError(f"label {bad} is out of range: {why}labels must lie in [0, {n})")


def one_hot(labels: ArrayLike, n_classes: int, dtype: DTypeLike = np.float64) -> np.ndarray:
    """Targets of shape (n, n_classes) with a 1 in column ``labels[i]`` of row i.

    ``labels`` must be integers in [0, n_classes).
    """
    if isinstance(n_classes, (bool, np.bool_)) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be an integer >= 1, got {n_classes!r}")
    return _one_hot(labels, n_classes, dtype)


def _one_hot(labels, n_classes, dtype, why=""):
    """one_hot for a checked n_classes; ``why`` says where n_classes comes from in a label's range error."""
    labels = _array(labels, "labels")
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(
            f"labels must be integers, got dtype {labels.dtype}; "
            "pass integer class labels or 2-D targets of shape (n, n_outputs)")
    _check_label_range(labels, n_classes, why)
    Y = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    if labels.size:        # (an empty list of labels is float64 in numpy: no row to set)
        Y[np.arange(labels.shape[0]), labels] = 1
    return Y


# ---------------------------------------------------------------------------
# MNIST IDX files

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_idx(path):
    """Read one IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(">" + "I" * ndim, data[4:header])
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: header declares shape {shape} ({expected} bytes of data) "
            f"but the file holds {len(data) - header}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


_KINDS = ("train", "t10k")


class _SeveralFiles(ValueError):
    """A directory holds several files that could be the one asked for."""


def _find(directory, suffix, kind):
    """The one ``<prefix><suffix>[.gz]`` file in ``directory``: the prefix ``kind`` if given and
    present; else the only such file, unless it is MNIST's other kind (never a silent swap)."""
    def prefix(name):
        return name[:-3 - len(suffix)] if name.endswith(".gz") else name[:-len(suffix)]
    names = sorted(os.listdir(directory))
    hits = [n for n in names if n.endswith(suffix) or n.endswith(suffix + ".gz")]
    if not hits:
        raise FileNotFoundError(f"no '*{suffix}[.gz]' file in {directory}")
    if kind is not None:
        mine = [n for n in hits if prefix(n) == kind]
        if mine:
            hits = mine
        elif any(prefix(n) in _KINDS for n in hits):
            raise FileNotFoundError(f"no '{kind}{suffix}[.gz]' file in {directory} (it holds {hits})")
    if len(hits) > 1:
        raise _SeveralFiles(f"several '*{suffix}[.gz]' files in {directory}: {hits}; "
                            f"pass kind= one of {sorted(set(map(prefix, hits)))}")
    return os.path.join(directory, hits[0])


def load_mnist(directory: PathLike, *, kind: str | None = "train",
               dtype: DTypeLike = np.float32) -> tuple[FloatArray, IntArray]:
    """Load MNIST-format digits from ``directory``.

    Reads ``<kind>-images-idx3-ubyte[.gz]`` and ``<kind>-labels-idx1-ubyte[.gz]``
    (``kind`` is "train" or "t10k", or the prefix of other MNIST-format files).
    When no file has that prefix, the only pair present is read whatever its
    prefix, except MNIST's other kind: asking for "t10k" in a directory of
    "train" files raises FileNotFoundError. ``kind=None`` reads the only pair
    present, whatever its prefix.

    Returns
    -------
    X : ndarray, shape (n, rows * cols), ``dtype``, pixels scaled to [0, 1]
    labels : ndarray of int64, shape (n,)
    """
    if kind is not None and (not isinstance(kind, str) or not kind):
        raise TypeError(f"kind must be a non-empty string such as 'train' or 't10k', or None; got {kind!r}")
    _check_floating(dtype)
    directory = os.fsdecode(directory)
    if not os.path.isdir(directory):
        if os.path.exists(directory):
            raise NotADirectoryError(errno.ENOTDIR, "load_mnist needs the directory that holds the IDX files, "
                                     "not a file", directory)
        raise FileNotFoundError(f"MNIST directory not found: {directory}")
    return _load_idx_pair(_find(directory, "-images-idx3-ubyte", kind),
                          _find(directory, "-labels-idx1-ubyte", kind), dtype)


def _load_idx_pair(images_path, labels_path, dtype):
    """(X (n, rows * cols) of ``dtype`` scaled to [0, 1], labels int64 (n,)) from an IDX images
    file and its labels file."""
    images = _read_idx(images_path)
    labels = _read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"expected images of 3 and labels of 1 dimension, got {images.shape}, {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels in "
                         f"{os.path.dirname(images_path) or '.'}")
    X = images.reshape(images.shape[0], -1).astype(dtype)
    X /= 255
    return X, labels.astype(np.int64)


# ---------------------------------------------------------------------------
# Built-in generated data: seven-segment digits drawn on a 28 x 28 canvas

# Segments a..g of a seven-segment display as (row0, col0, row1, col1) lines.
_SEGMENTS = {
    "a": (4, 9, 4, 18), "b": (4, 18, 13, 18), "c": (13, 18, 23, 18), "d": (23, 9, 23, 18),
    "e": (13, 9, 23, 9), "f": (4, 9, 13, 9), "g": (13, 9, 13, 18),
}
_DIGIT_SEGMENTS = ["abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg"]


def make_digits(n: int, *, seed: Seed = None, noise: float = 0.35,
                dtype: DTypeLike = np.float32) -> tuple[FloatArray, IntArray]:
    """Generate ``n`` noisy seven-segment digits shaped like MNIST (no download needed).

    Each sample is a 28 x 28 image (flattened to 784 values in [0, 1]) of the
    digit's segments, shifted by up to 3 pixels, with segment thickness and
    brightness varied, a random missing segment now and then, and uniform
    noise of amplitude ``noise``.

    Returns
    -------
    X : ndarray, shape (n, 784), ``dtype``
    labels : ndarray of int64, shape (n,)
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    if isinstance(noise, (bool, np.bool_)) or not isinstance(noise, (int, float, np.integer, np.floating)) \
            or not 0 <= noise < np.inf:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    _check_floating(dtype)
    rng = _rng(seed)
    labels = rng.integers(0, 10, size=n)
    X = np.zeros((n, 28, 28), dtype=np.float64)
    shifts = rng.integers(-3, 4, size=(n, 2))
    thick = rng.integers(1, 3, size=n)
    bright = rng.uniform(0.6, 1.0, size=n)
    drop = rng.random(n) < 0.1
    for i in range(n):
        segs = _DIGIT_SEGMENTS[labels[i]]
        if drop[i] and len(segs) > 2:
            k = rng.integers(len(segs))
            segs = segs[:k] + segs[k + 1:]
        dr, dc = shifts[i]
        t = thick[i]
        for s in segs:
            r0, c0, r1, c1 = _SEGMENTS[s]
            X[i, r0 + dr:r1 + dr + t, c0 + dc:c1 + dc + t] = bright[i]
    X = X.reshape(n, 784)
    X += noise * rng.random(X.shape)
    np.clip(X, 0.0, 1.0, out=X)
    return X.astype(dtype), labels.astype(np.int64)
