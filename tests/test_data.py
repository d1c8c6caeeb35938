"""Data helpers: IDX loading, one-hot, built-in generated digits, the demo."""
import gzip
import struct
import subprocess
import sys

import numpy as np
import pytest

import fastnn


def _write_idx(path, array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    payload = header + array.astype(">u1" if type_code == 0x08 else array.dtype).tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_load_mnist_reads_idx(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    _write_idx(str(tmp_path / f"train-images-idx3-ubyte{suffix}"), images)
    _write_idx(str(tmp_path / f"train-labels-idx1-ubyte{suffix}"), labels)
    X, y = fastnn.load_mnist(tmp_path)
    assert X.shape == (7, 784) and X.dtype == np.float32
    np.testing.assert_allclose(X, images.reshape(7, 784) / 255, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert X.min() >= 0 and X.max() <= 1


def test_load_mnist_rejects_bad_files(tmp_path):
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    _write_idx(str(tmp_path / "train-images-idx3-ubyte"), images)
    _write_idx(str(tmp_path / "train-labels-idx1-ubyte"), np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match="3 images but 4 labels"):
        fastnn.load_mnist(tmp_path)
    with open(tmp_path / "train-labels-idx1-ubyte", "wb") as f:
        f.write(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")     # declares 9 labels, holds 3
    with pytest.raises(ValueError, match="declares"):
        fastnn.load_mnist(tmp_path)
    with open(tmp_path / "train-labels-idx1-ubyte", "wb") as f:
        f.write(b"PK\x03\x04garbage")
    with pytest.raises(ValueError, match="magic"):
        fastnn.load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError):
        fastnn.load_mnist(tmp_path / "missing")
    # a file where the directory belongs is named as such
    with pytest.raises(NotADirectoryError, match="the directory that holds the IDX files"):
        fastnn.load_mnist(tmp_path / "train-images-idx3-ubyte")


def test_pixels_need_a_floating_dtype(tmp_path):
    """load_mnist(dtype=np.int32) ended in numpy's UFuncTypeError from the scaling to [0, 1], and
    make_digits(dtype=np.int32) returned its pixels truncated to 0 (and a few 1)."""
    for dtype in (np.int32, "uint8", "nonsense"):
        with pytest.raises(TypeError, match="dtype must be a floating type"):
            fastnn.load_mnist(tmp_path, dtype=dtype)
        with pytest.raises(TypeError, match="dtype must be a floating type"):
            fastnn.make_digits(5, seed=0, dtype=dtype)
    assert fastnn.make_digits(5, seed=0, dtype=np.float16)[0].dtype == np.float16


def test_load_mnist_takes_a_bytes_path(tmp_path):
    _write_idx(str(tmp_path / "train-images-idx3-ubyte"), np.full((2, 28, 28), 255, dtype=np.uint8))
    _write_idx(str(tmp_path / "train-labels-idx1-ubyte"), np.array([1, 2], dtype=np.uint8))
    X, y = fastnn.load_mnist(bytes(tmp_path))
    assert X.shape == (2, 784) and np.all(X == 1) and y.tolist() == [1, 2]


def test_load_mnist_never_swaps_kinds(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    _write_idx(str(tmp_path / "t10k-images-idx3-ubyte"), images)
    _write_idx(str(tmp_path / "t10k-labels-idx1-ubyte"), np.array([3, 4], dtype=np.uint8))
    # asking for the training digits in a directory of test digits is an error, not a swap
    with pytest.raises(FileNotFoundError, match="no 'train-images-idx3-ubyte"):
        fastnn.load_mnist(tmp_path)
    assert fastnn.load_mnist(tmp_path, kind="t10k")[1].tolist() == [3, 4]
    assert fastnn.load_mnist(tmp_path, kind=None)[1].tolist() == [3, 4]
    with pytest.raises(TypeError, match="kind must be"):
        fastnn.load_mnist(tmp_path, kind=10)
    # a training pair beside it: each kind reads its own files; kind=None cannot choose
    _write_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), images[:1])
    _write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), np.array([5], dtype=np.uint8))
    assert fastnn.load_mnist(tmp_path)[1].tolist() == [5]
    assert fastnn.load_mnist(tmp_path, kind="t10k")[1].tolist() == [3, 4]
    with pytest.raises(ValueError, match="several .* pass kind= one of \\['t10k', 'train'\\]"):
        fastnn.load_mnist(tmp_path, kind=None)
    # one pair under another prefix (e.g. a renamed copy) is read whatever kind says
    other = tmp_path / "other"
    other.mkdir()
    _write_idx(str(other / "digits-images-idx3-ubyte"), images)
    _write_idx(str(other / "digits-labels-idx1-ubyte"), np.array([1, 2], dtype=np.uint8))
    assert fastnn.load_mnist(other)[1].tolist() == [1, 2]
    assert fastnn.load_mnist(other, kind="t10k")[1].tolist() == [1, 2]


def test_load_real_mnist(mnist):
    X, labels = mnist
    assert X.shape == (24345, 784) and labels.shape == (24345,)
    assert set(np.unique(labels)) == set(range(10))
    assert X.min() == 0 and X.max() == 1


def test_one_hot():
    Y = fastnn.one_hot(np.array([2, 0, 1]), 3)
    np.testing.assert_array_equal(Y, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match="out of range"):
        fastnn.one_hot(np.array([3]), 3)
    with pytest.raises(ValueError, match="out of range"):
        fastnn.one_hot(np.array([-1]), 3)
    assert fastnn.one_hot(np.array([], dtype=int), 3).shape == (0, 3)
    assert fastnn.one_hot([], 3).shape == (0, 3)          # numpy makes [] float64: was an IndexError
    for n_classes in (0, 3.0, True):
        with pytest.raises(ValueError, match="n_classes must be an integer >= 1"):
            fastnn.one_hot(np.array([0]), n_classes)


def test_make_digits_rejects_bad_arguments():
    for kw in ({"n": -1}, {"n": 2.5}, {"n": 3, "noise": -0.1}, {"n": 3, "noise": float("nan")},
               {"n": 3, "noise": float("inf")}):
        with pytest.raises(ValueError, match="must be"):
            fastnn.make_digits(**kw)
    with pytest.raises(ValueError, match="seed must be"):
        fastnn.make_digits(3, seed=-1)
    with pytest.raises(ValueError, match="seed must be"):
        list(fastnn.minibatches(np.ones((3, 1)), np.ones(3), 2, seed=-1))
    assert fastnn.make_digits(0)[0].shape == (0, 784)


def test_make_digits_is_learnable_and_reproducible():
    X, labels = fastnn.make_digits(6000, seed=1)
    X2, labels2 = fastnn.make_digits(6000, seed=1)
    assert np.array_equal(X, X2) and np.array_equal(labels, labels2)
    assert X.shape == (6000, 784) and X.min() >= 0 and X.max() <= 1
    assert set(np.unique(labels)) == set(range(10))
    net = fastnn.Network([784, 30, 10], dtype="float32", seed=0)
    net.fit(X[:5000], labels[:5000], epochs=10)
    assert net.accuracy(X[5000:], labels[5000:]) > 0.75    # chance is 0.1


def test_demo_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fastnn", "--epochs", "2"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "epoch 2/2" in result.stdout and "held-out accuracy" in result.stdout


def test_demo_mnist_reports_bad_directory(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fastnn", "--mnist", str(tmp_path / "nope")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 2 and "error:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--hidden", "0"], "argument --hidden: expected an integer >= 1, got '0'"),
    (["--seed", "-1"], "argument --seed: expected an integer >= 0, got '-1'"),
    (["--epochs", "-1"], "argument --epochs: expected an integer >= 0, got '-1'"),
    (["--batch-size", "0"], "argument --batch-size: expected an integer >= 1, got '0'"),
    (["--learning-rate", "nan"], "argument --learning-rate: expected a number in (0, inf), got 'nan'"),
])
def test_demo_reports_bad_options_in_one_line(tmp_path, args, message):
    """--hidden 0 used to end in a traceback from Network(), and --epochs -1 in an error after the
    demo had started: the demo's options are checked as they are parsed, as the commands' are, so
    nothing is read or printed before argparse's usage and its one error line (status 2)."""
    _write_idx(str(tmp_path / "train-images-idx3-ubyte"), np.zeros((12, 28, 28), dtype=np.uint8))
    _write_idx(str(tmp_path / "train-labels-idx1-ubyte"), np.arange(12, dtype=np.uint8) % 10)
    result = subprocess.run([sys.executable, "-m", "fastnn", "--mnist", str(tmp_path), "--epochs", "1", *args],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == f"python -m fastnn: error: {message}"
