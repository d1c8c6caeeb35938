"""python -m fastnn train / evaluate / predict on IDX, .npz and .csv data; one-line errors."""
import csv
import gzip
import importlib.util
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import fastnn


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastnn", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The same 600 generated digits as .npz, .csv (label column 'label' in the middle) and gzipped IDX."""
    d = tmp_path_factory.mktemp("cli")
    X, y = fastnn.make_digits(600, seed=0)
    np.savez(d / "digits.npz", X=X, y=y)
    np.savez(d / "unlabelled.npz", X=X[:7])
    header = [f"p{i}" for i in range(392)] + ["label"] + [f"p{i}" for i in range(392, 784)]
    with open(d / "digits.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row, label in zip(X, y):
            w.writerow([f"{v:.17g}" for v in row[:392]] + [label] + [f"{v:.17g}" for v in row[392:]])
    pixels = np.round(X * 255).astype(np.uint8).reshape(600, 28, 28)
    (d / "idx").mkdir()
    with gzip.open(d / "idx" / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 600, 28, 28) + pixels.tobytes())
    with gzip.open(d / "idx" / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, 600) + y.astype(np.uint8).tobytes())
    return d, X, y


def test_train_evaluate_predict_round_trip(data):
    d, X, y = data
    r = _run("train", "--data", "digits.npz", "--val", "digits.csv", "--sizes", "784,30,10", "--epochs", "3",
             "--learning-rate", "3", "--save", "m.fastnn", cwd=d)
    assert r.returncode == 0, r.stderr
    assert "epoch 3/3" in r.stdout and "validation accuracy" in r.stdout and "saved m.fastnn" in r.stdout
    assert "completed 3 epochs" in r.stdout and "done: 3 epochs in" in r.stdout
    net = fastnn.load(d / "m.fastnn")
    assert net.sizes == (784, 30, 10) or list(net.sizes) == [784, 30, 10]
    accuracy = net.accuracy(X, y)
    for source in ("digits.npz", "digits.csv", "idx", os.path.join("idx", "train-images-idx3-ubyte.gz")):
        r = _run("evaluate", "--model", "m.fastnn", "--data", source, cwd=d)
        assert r.returncode == 0, r.stderr
        reported = float(r.stdout.split("accuracy")[1])
        # IDX pixels are rounded to bytes; the others hold the same values as X
        assert reported == pytest.approx(accuracy, abs=0.02 if "idx" in source else 1e-4)
    r = _run("predict", "--model", "m.fastnn", "--data", "digits.csv", "--out", "p.csv", cwd=d)
    assert r.returncode == 0, r.stderr
    with open(d / "p.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["prediction"] + [f"output_{j}" for j in range(10)]
    out = np.array([[float(v) for v in row[1:]] for row in rows[1:]])
    np.testing.assert_allclose(out, net.predict(X), rtol=1e-6)
    assert [int(row[0]) for row in rows[1:]] == list(net.predict(X).argmax(axis=1))
    r = _run("predict", "--model", "m.fastnn", "--data", "unlabelled.npz", "--out", "q.csv", cwd=d)
    assert r.returncode == 0 and len(open(d / "q.csv").read().splitlines()) == 8


def test_predict_to_standard_output_and_through_a_symlink(data):
    """--out - writes the CSV alone on standard output (the summary on standard error); a symlink
    is followed, as open() follows it: the file it names gets the predictions, the link stays."""
    d, X, _ = data
    if not (d / "m.fastnn").exists():
        fastnn.Network([784, 30, 10]).save(d / "m.fastnn")
    expected = fastnn.load(d / "m.fastnn").predict(X[:7])
    r = _run("predict", "--model", "m.fastnn", "--data", "unlabelled.npz", "--out", "-", cwd=d)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(r.stdout.splitlines()))
    assert rows[0][0] == "prediction" and len(rows) == 8
    np.testing.assert_allclose([[float(v) for v in row[1:]] for row in rows[1:]], expected, rtol=1e-6)
    assert r.stderr.strip() == "wrote 7 predictions to standard output"
    assert not (d / "-").exists()
    (d / "out").mkdir(exist_ok=True)
    (d / "out" / "p.csv").write_text("old")
    link = d / "latest.csv"
    if not link.is_symlink():
        link.symlink_to(os.path.join("out", "p.csv"))
    r = _run("predict", "--model", "m.fastnn", "--data", "unlabelled.npz", "--out", "latest.csv", cwd=d)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == os.path.join("out", "p.csv")
    assert (d / "out" / "p.csv").read_text().startswith("prediction,")


def test_csv_fields_may_be_quoted(tmp_path):
    """Quoted numbers ("0.5", as csv.QUOTE_ALL and some spreadsheets write them) are numbers."""
    X, y = fastnn.make_digits(40, seed=1)
    with open(tmp_path / "quoted.csv", "w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        w.writerow([f"p{i}" for i in range(784)] + ["label"])
        for row, label in zip(X, y):
            w.writerow([f"{v:.17g}" for v in row] + [label])
    net = fastnn.Network([784, 10], seed=0)
    net.save(tmp_path / "m.fastnn")
    r = _run("evaluate", "--model", "m.fastnn", "--data", "quoted.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.split("accuracy")[1]) == pytest.approx(net.accuracy(X, y), abs=1e-4)


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    """A CSV saved with a UTF-8 byte-order mark (as spreadsheets write "CSV UTF-8") whose first
    column is "label": that column is the labels. It was named "\ufefflabel", so the last column
    became the labels."""
    X = np.random.default_rng(0).integers(0, 3, (30, 3)).astype(float)    # whole numbers: labels too
    y = np.arange(30) % 3
    with open(tmp_path / "bom.csv", "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(["label", "x1", "x2", "x3"])
        w.writerows([[label, *row] for label, row in zip(y, X.astype(int))])
    net = fastnn.Network([3, 3], seed=0)
    net.save(tmp_path / "m.fastnn")
    r = _run("evaluate", "--model", "m.fastnn", "--data", "bom.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.split("accuracy")[1]) == pytest.approx(net.accuracy(X, y), abs=1e-4)
    assert net.accuracy(X, y) != net.accuracy(np.c_[y, X[:, :2]], X[:, 2].astype(int))


def test_predict_to_a_closed_pipe_ends_quietly(tmp_path):
    """`predict --out - | head -1`: once the reader stops, predict ends with status 1 and no message."""
    fastnn.Network([3, 2], seed=0).save(tmp_path / "small.fastnn")
    np.savez(tmp_path / "many.npz", X=np.random.default_rng(0).random((30000, 3)))   # ~1 MB of CSV
    proc = subprocess.Popen([sys.executable, "-m", "fastnn", "predict", "--model", "small.fastnn",
                             "--data", "many.npz", "--out", "-"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"prediction,")
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=300) == 1 and stderr == b""


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_out", [1, 3])
def test_predict_writes_every_output_exactly(tmp_path, dtype, n_out):
    """Each output in the CSV reads back to the network's own value, bit for bit, in its dtype
    (they were written with 9 significant digits, which loses a float64's last 8); with one
    output, the prediction column is that output, also exact."""
    net = fastnn.Network([4, 5, n_out], seed=0, dtype=dtype)
    net.save(tmp_path / "m.fastnn")
    X = np.random.default_rng(1).standard_normal((50, 4)) * 3
    np.savez(tmp_path / "x.npz", X=X)
    r = _run("predict", "--model", "m.fastnn", "--data", "x.npz", "--out", "p.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "p.csv") as f:
        rows = list(csv.reader(f))[1:]
    expected = fastnn.load(tmp_path / "m.fastnn").predict(X)
    assert expected.dtype == dtype
    written = np.array([row[1:] for row in rows], dtype=dtype)    # numpy parses each as its dtype
    assert np.array_equal(written, expected)
    if n_out == 1:
        assert np.array_equal(np.array([row[0] for row in rows], dtype=dtype), expected[:, 0])
    else:
        assert [int(row[0]) for row in rows] == list(expected.argmax(axis=1))
    if dtype == np.float64:   # the old 9 digits would not have read back
        assert not np.array_equal(np.array([f"{v:.9g}" for v in expected.ravel()], dtype=dtype),
                                  expected.ravel())


@pytest.mark.parametrize("threads", ["1", "2"])
def test_train_asynchronous(data, threads):
    """--asynchronous trains (Hogwild on 2 threads); on 1 thread it is the ordinary training, bit for bit."""
    d, X, y = data
    common = ["train", "--data", "digits.npz", "--sizes", "784,30,10", "--epochs", "10", "--learning-rate", "1",
              "--threads", threads]
    r = _run(*common, "--asynchronous", "--save", f"async{threads}.fastnn", cwd=d)
    assert r.returncode == 0, r.stderr
    hogwild = fastnn.load(d / f"async{threads}.fastnn")
    assert hogwild.accuracy(X, y) > 0.4            # 0.61-0.67 in 12 runs on 2 threads; chance is 0.1
    if threads == "1":
        assert _run(*common, "--save", "serial.fastnn", cwd=d).returncode == 0
        serial = fastnn.load(d / "serial.fastnn")
        for p, q in zip(serial.weights + serial.biases, hogwild.weights + hogwild.biases):
            assert np.array_equal(p, q)


def test_train_one_epoch_says_epoch(data):
    d, _, _ = data
    r = _run("train", "--data", "digits.npz", "--sizes", "784,10", "--epochs", "1", "--save", "one.fastnn", cwd=d)
    assert r.returncode == 0, r.stderr
    assert "completed 1 epoch\n" in r.stdout and "done: 1 epoch in " in r.stdout


def test_train_with_plot(data):
    pytest.importorskip("matplotlib")
    d, _, _ = data
    r = _run("train", "--data", "digits.npz", "--sizes", "784,10", "--epochs", "2", "--save", "p.fastnn",
             "--plot", "curves.png", cwd=d)
    assert r.returncode == 0, r.stderr
    assert open(d / "curves.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    # the format follows the extension, as with matplotlib's savefig
    r = _run("train", "--data", "digits.npz", "--sizes", "784,10", "--epochs", "1", "--save", "p.fastnn",
             "--plot", "curves.svg", cwd=d)
    assert r.returncode == 0, r.stderr
    assert b"<svg" in open(d / "curves.svg", "rb").read(1000)


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "missing.npz", "--sizes", "784,10", "--save", "x.fastnn"], "no such file"),
    (["train", "--data", "bad.npz", "--sizes", "784,10", "--save", "x.fastnn"], "not a .npz archive"),
    (["train", "--data", "bad.csv", "--sizes", "1,2", "--save", "x.fastnn"],
     "bad.csv: not a numeric CSV table (line 2, column 2 (b): 'x' is not a number)"),
    # by the file's lines (numpy's rows skip blank lines, not comments), not numpy's advice on usecols
    (["train", "--data", "ragged.csv", "--sizes", "2,2", "--save", "x.fastnn"],
     "ragged.csv: not a numeric CSV table (line 5 has 2 fields, the header 3)"),
    (["train", "--data", "semicolons.csv", "--sizes", "2,2", "--save", "x.fastnn"],
     "line 2, column 1 (x;y;label): '1;2;0' is not a number; fields are separated by commas"),
    (["train", "--data", "header_only.csv", "--sizes", "1,2", "--save", "x.fastnn"], "no rows after the header"),
    (["train", "--data", "headerless.csv", "--sizes", "1,2", "--save", "x.fastnn"], "a header row of column names"),
    (["train", "--data", "digits.npz", "--sizes", "100,10", "--save", "x.fastnn"], "784 features"),
    (["train", "--data", "digits.npz", "--sizes", "784,5", "--save", "x.fastnn"], "needs at least 10 outputs"),
    (["train", "--data", "digits.npz", "--sizes", "784,10", "--save", "x.fastnn", "--optimizer", "foo"],
     "argument --optimizer: invalid choice: 'foo'"),
    # options are checked as they are parsed, before any data is read (missing.npz is never opened)
    (["train", "--data", "missing.npz", "--sizes", "784,10", "--save", "x.fastnn", "--batch-size", "0"],
     "argument --batch-size: expected an integer >= 1, got '0'"),
    (["train", "--data", "missing.npz", "--sizes", "784,10", "--save", "x.fastnn", "--learning-rate", "nan"],
     "argument --learning-rate: expected a number in (0, inf), got 'nan'"),
    (["train", "--data", "missing.npz", "--sizes", "784,10", "--save", "x.fastnn", "--momentum", "1.5"],
     "argument --momentum: expected a number in [0, 1], got '1.5'"),
    (["train", "--data", "missing.npz", "--sizes", "784,10", "--save", "x.fastnn", "--threads", "0"],
     "argument --threads: expected an integer >= 1, got '0'"),
    (["train", "--data", "missing.npz", "--sizes", "784,10", "--save", "x.fastnn", "--activation", "softmax"],
     "argument --activation: invalid choice: 'softmax'"),
    (["train", "--data", "missing.npz", "--sizes", "784,10", "--save", "x.fastnn", "--loss", "poisson"],
     "loss='poisson' needs output_activation 'exp'"),
    (["train", "--data", "digits.npz", "--sizes", "784,10", "--save", "x.fastnn", "--label", "y"],
     "--label names a column of a .csv file, and digits.npz is not one"),
    (["evaluate", "--model", "m.fastnn", "--data", "idx", "--label", "y"],
     "--label names a column of a .csv file, and idx is not one"),
    (["train", "--data", "digits.npz", "--sizes", "784,10", "--save", "no/such/dir/x.fastnn"], "does not exist"),
    (["train", "--data", "digits.txt", "--sizes", "784,10", "--save", "x.fastnn"], "unknown data format"),
    (["evaluate", "--model", "truncated.fastnn", "--data", "digits.npz"], "not a valid fastnn model file"),
    (["evaluate", "--model", "missing.fastnn", "--data", "digits.npz"], "no such model file"),
    (["predict", "--model", "m.fastnn", "--data", "digits.npz", "--out", "no/such/dir/p.csv"], "does not exist"),
    # refused before training, not after it
    pytest.param(["train", "--data", "digits.npz", "--sizes", "784,10", "--save", "x.fastnn", "--plot", "curves.csv"],
                 "cannot plot to curves.csv: matplotlib writes no .csv pictures",
                 marks=pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                          reason="the format is checked with matplotlib, the 'plot' extra")),
    (["train", "--data", "digits.npz", "--sizes", "784,10", "--save", "idx"], "cannot write idx: it is a directory"),
    (["train", "--data", "digits.npz", "--sizes", "784,10", "--save", "x.fastnn", "--plot", "."],
     "cannot write .: it is a directory"),
    (["predict", "--model", "m.fastnn", "--data", "digits.npz", "--out", "idx/"], "it is a directory"),
    (["train", "--data", "digits.npz", "--sizes", "784,10", "--save", "digits.npz/x.fastnn"],
     "digits.npz is a file, not a directory"),
    (["train", "--data", "digits.npz", "--sizes", "784,x", "--save", "x.fastnn"], "expected comma-separated integers"),
    (["evaluate", "--model", "m.fastnn", "--data", "both"], "holds several MNIST file pairs"),
    # an output never overwrites an input or another output
    (["predict", "--model", "m.fastnn", "--data", "digits.npz", "--out", "digits.npz"],
     "--out digits.npz would overwrite the input of --data"),
    (["predict", "--model", "m.fastnn", "--data", "digits.npz", "--out", "./m.fastnn"],
     "--out ./m.fastnn would overwrite the input of --model"),
    (["predict", "--model", "m.fastnn", "--data", "idx/train-images-idx3-ubyte.gz",
      "--out", "idx/train-labels-idx1-ubyte.gz"], "would overwrite the input of --data"),
    (["predict", "--model", "m.fastnn", "--data", "idx", "--out", "idx/train-images-idx3-ubyte.gz"],
     "would overwrite the input of --data"),
    (["train", "--data", "digits.npz", "--sizes", "784,10", "--save", "digits.npz"],
     "--save digits.npz would overwrite the input of --data"),
    (["train", "--data", "digits.npz", "--val", "digits.csv", "--sizes", "784,10", "--save", "digits.csv"],
     "would overwrite the input of --val"),
    (["train", "--data", "digits.npz", "--sizes", "784,10", "--save", "x.png", "--plot", "x.png"],
     "--plot and --save name the same file x.png"),
    (["train", "--data", "two_labels.csv", "--sizes", "1,2", "--save", "x.fastnn"],
     "2 columns are named 'label'"),
    (["train", "--data", "infinite.csv", "--sizes", "2,2", "--save", "x.fastnn"],
     "infinite.csv: the features hold NaN or infinity (inf in sample 2, feature 1)"),
    (["predict", "--model", "m.fastnn", "--data", "nan.npz", "--out", "x.csv"],
     "nan.npz: the features hold NaN or infinity (nan in sample 1, feature 784)"),
    (["train", "--data", "huge_label.csv", "--sizes", "1,2", "--save", "x.fastnn"],
     "label 1e+300 is too large for a class index"),
    (["train", "--data", "huge_label.npz", "--sizes", "1,2", "--save", "x.fastnn"],
     "label 9223372036854775808 is too large for a class index"),
    (["predict", "--model", "m.fastnn", "--data", "digits.npz", "--out", "p.npy"],
     "predict writes CSV text, which would not be a NumPy file"),
    (["train", "--data", "digits.npz", "--sizes", "784,10", "--save", "x.fastnn", "--epochs", "0"],
     "expected an integer >= 1, got '0'"),
    (["train", "--data", "digits.npz", "--sizes", "784,10", "--save", "x.fastnn", "--epochs", "two"],
     "expected an integer >= 1, got 'two'"),
    (["train", "--data", "digits.npz", "--sizes", "784,10", "--save", ""], "argument --save: expected a path"),
    (["train", "--data", "", "--sizes", "784,10", "--save", "x.fastnn"], "argument --data: expected a path"),
    (["predict", "--model", "m.fastnn", "--data", "digits.npz", "--out", ""], "argument --out: expected a path"),
    (["evaluate", "--model", "", "--data", "digits.npz"], "argument --model: expected a path"),
])
def test_errors_are_one_line_with_status_2_and_write_nothing(data, args, message):
    d, _, _ = data
    (d / "bad.npz").write_text("garbage")
    (d / "bad.csv").write_text("a,b\n1,x\n")
    (d / "ragged.csv").write_text("x,y,label\n1,2,0\n\n# a comment\n3,1\n")
    (d / "semicolons.csv").write_text("x;y;label\n1;2;0\n")
    (d / "header_only.csv").write_text("a,label\n")
    (d / "headerless.csv").write_text("0.5,1\n0.25,0\n")
    (d / "digits.txt").write_text("1 2 3\n")
    (d / "two_labels.csv").write_text("label,label\n1,0\n0,1\n")
    (d / "infinite.csv").write_text("x,y,label\n1,2,0\ninf,3,1\n")
    (d / "huge_label.csv").write_text("x,label\n1,0\n0,1e300\n")
    np.savez(d / "huge_label.npz", X=np.ones((2, 1)), y=np.array([0, 2 ** 63], dtype=np.uint64))
    np.savez(d / "nan.npz", X=np.concatenate([np.zeros((1, 783)), [[np.nan]]], axis=1))
    if not (d / "both").exists():     # a training and a test pair in one directory
        (d / "both").mkdir()
        for name in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"):
            for kind in ("train", "t10k"):
                (d / "both" / f"{kind}-{name}").write_bytes((d / "idx" / f"train-{name}").read_bytes())
    if not (d / "m.fastnn").exists():
        fastnn.Network([784, 30, 10]).save(d / "m.fastnn")
    (d / "truncated.fastnn").write_bytes((d / "m.fastnn").read_bytes()[:500])
    def contents():
        return {p: p.read_bytes() for p in [*d.iterdir(), *(d / "idx").iterdir()] if p.is_file()}
    before = contents()
    r = _run(*args, cwd=d)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    if "expected" not in message and "invalid choice" not in message:   # argparse prints its usage first
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert contents() == before      # nothing written, nothing overwritten


def test_no_arguments_still_runs_the_demo():
    r = subprocess.run([sys.executable, "-m", "fastnn", "--epochs", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "held-out accuracy" in r.stdout


def test_the_mnist_example_runs(mnist):
    """examples/mnist.py on the shared digits (2 epochs)."""
    from conftest import MNIST_DIR, REPO
    r = subprocess.run([sys.executable, os.path.join(REPO, "examples", "mnist.py"), MNIST_DIR, "--epochs", "2"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    accuracy = float(r.stdout.split("held-out accuracy ")[1].split()[0])
    assert accuracy > 0.9
    assert "identical predictions" in r.stdout


@pytest.mark.parametrize("args, match", [
    (["{missing}"], "MNIST directory not found"),
    (["{empty}"], "no '*-images-idx3-ubyte[.gz]' file"),
    (["{empty}", "--epochs", "0"], "--epochs must be >= 1"),
])
def test_the_mnist_example_refuses_bad_arguments_in_one_line(tmp_path, args, match):
    """A wrong directory or epoch count: argparse's usage and one error line, status 2, no traceback."""
    from conftest import REPO
    args = [a.format(missing=tmp_path / "missing", empty=tmp_path) for a in args]
    r = subprocess.run([sys.executable, os.path.join(REPO, "examples", "mnist.py"), *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert match in r.stderr.strip().splitlines()[-1]


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
def test_ctrl_c_during_train_exits_130_and_keeps_an_existing_model(tmp_path):
    """Ctrl-C while `train` runs: status 130, one `error: interrupted` line, and no model written:
    a file already at --save (an earlier model, say) is left as it was, not replaced by a network
    stopped part-way."""
    import signal
    X, y = fastnn.make_digits(2000, seed=0)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    (tmp_path / "m.fastnn").write_bytes(b"an earlier model")
    proc = subprocess.Popen([sys.executable, "-m", "fastnn", "train", "--data", "d.npz", "--sizes", "784,30,10",
                             "--epochs", "100000", "--save", "m.fastnn"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:          # wait until training is under way
            if line.startswith("epoch 2/"):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["error: interrupted"]
    assert (tmp_path / "m.fastnn").read_bytes() == b"an earlier model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "m.fastnn"]     # no temporary left
