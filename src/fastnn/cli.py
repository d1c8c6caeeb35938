"""The command line: ``python -m fastnn train | evaluate | predict``.

Data files (``--data``, ``--val``):

- MNIST IDX: the ``*-images-idx3-ubyte[.gz]`` file (the labels file is found
  beside it), or a directory holding one pair of ``*-images-idx3-ubyte[.gz]``
  and ``*-labels-idx1-ubyte[.gz]`` (several pairs are refused: name the
  file). Pixels are scaled to [0, 1].
- ``.npz``: arrays ``X`` (n, features) and ``y`` (n,) integer labels
  (``y`` may be missing for ``predict``).
- ``.csv``: a header row, then numbers (quoted or not). The label column is the
  one named by ``--label``, else a column named ``label``, else the last column;
  for ``predict`` a file with exactly the model's number of inputs has no labels.

Features with NaN or infinity, and labels that are not whole numbers in
[0, 2**31), are refused naming the file.

Errors (a missing or malformed file, a bad option, an output that would
overwrite an input or another output) print one line starting with
``error:`` and exit with status 2; nothing is written.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
import warnings
import zipfile
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from .data import _load_idx_pair, _SeveralFiles, load_mnist
from .history import _n_epochs, _plot_format
from .modelfile import ModelFileError, _atomic_write, _written_in_place
from .network import _HIDDEN, _INITS, _LOSSES, _OUTPUT, Network, _finite
from .optim import OPTIMIZERS, SCHEDULES

Data = Tuple[np.ndarray, Optional[np.ndarray]]


class CliError(Exception):
    """A problem with the user's files or options: reported in one line, exit status 2."""


def load_data(path: str, *, label: Optional[str] = None,
              n_features: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """(X float64 (n, features), labels int64 (n,)) from an IDX directory/file, .npz or .csv."""
    X, y = _read(path, label, n_features, need_labels=True)
    assert y is not None      # (_read raises without labels)
    return X, y


def load_features(path: str, *, label: Optional[str] = None, n_features: Optional[int] = None) -> np.ndarray:
    """X float64 (n, features) from the same formats; labels, when the file has them, are dropped."""
    return _read(path, label, n_features, need_labels=False)[0]


def _read(path: str, label: Optional[str], n_features: Optional[int], need_labels: bool) -> Data:
    """(X, labels or None); a CliError for a missing, unreadable or malformed file."""
    if not os.path.exists(path):
        raise CliError(f"no such file or directory: {path}")
    lower = path.lower()
    y: Optional[np.ndarray]
    if os.path.isdir(path):
        try:
            X, y = load_mnist(path, kind=None, dtype=np.float64)
        except _SeveralFiles:
            raise CliError(f"{path} holds several MNIST file pairs; give the images file itself, "
                           f"e.g. {os.path.join(path, 't10k-images-idx3-ubyte.gz')}") from None
    elif "idx3-ubyte" in lower:
        X, y = _load_idx_file(path)
    elif lower.endswith(".npz"):
        X, y = _load_npz(path)
    elif lower.endswith(".csv"):
        X, y = _load_csv(path, label, n_features, need_labels)
    else:
        raise CliError(f"{path}: unknown data format; give an MNIST IDX directory or "
                       "*-images-idx3-ubyte[.gz] file, a .npz (arrays X and y) or a .csv")
    if X.ndim != 2 or X.shape[0] == 0:
        raise CliError(f"{path}: expected a 2-D table of samples, got shape {X.shape}")
    if not _finite(X):      # (the compiled scan, no temporary the size of X; where, only on failure)
        row, column = np.argwhere(~np.isfinite(X))[0]
        raise CliError(f"{path}: the features hold NaN or infinity ({X[row, column]} in sample {row + 1}, "
                       f"feature {column + 1})")
    if not need_labels:
        return X, None      # (predict: labels, if any, are left out unread)
    if y is None:
        raise CliError(f"{path} holds no labels")
    return X, _labels(y, path)


def _labels_beside(path: str) -> Tuple[str, str]:
    """The labels file of an IDX images file: its name with labels-idx1 for images-idx3, then the
    same with or without .gz."""
    directory, name = os.path.split(path)
    labels_path = os.path.join(directory, name.replace("images-idx3-ubyte", "labels-idx1-ubyte"))
    return labels_path, labels_path[:-3] if labels_path.endswith(".gz") else labels_path + ".gz"


def _load_idx_file(path: str) -> Data:
    labels_path, alt = _labels_beside(path)
    if "images-idx3-ubyte" not in os.path.basename(path) or not os.path.exists(labels_path):
        if not os.path.exists(alt):
            raise CliError(f"{path}: the labels file {os.path.basename(labels_path)} is not beside it")
        labels_path = alt
    return _load_idx_pair(path, labels_path, np.float64)


def _load_npz(path: str) -> Data:
    if not zipfile.is_zipfile(path):
        raise CliError(f"{path}: not a .npz archive (as written by numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "X" not in f.files:
                raise CliError(f"{path}: no array named X (found {', '.join(f.files) or 'none'})")
            X = np.asarray(f["X"])
            y = np.asarray(f["y"]) if "y" in f.files else None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CliError(f"{path}: not a readable .npz file ({exc})") from None
    if X.dtype.kind not in "biuf":
        raise CliError(f"{path}: X must hold numbers, got dtype {X.dtype}")
    return X.astype(np.float64, copy=False), y


def _load_csv(path: str, label: Optional[str], n_features: Optional[int], need_labels: bool) -> Data:
    try:
        # utf-8-sig: a byte-order mark (as spreadsheets write) is not part of the first column's name
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = [h.strip() for h in next(csv.reader([f.readline()]), [])]
            if not header:
                raise CliError(f"{path}: empty file (a header row is expected)")
            if all(_is_number(h) for h in header):
                # a file without a header would otherwise lose its first sample to the column names
                raise CliError(f"{path}: the first row holds only numbers; a header row of column names "
                               f"(such as x1,x2,label) is expected")
            # the label column, decided from the header before the table is read
            for name in (label, "label"):
                if name is not None and header.count(name) > 1:
                    raise CliError(f"{path}: {header.count(name)} columns are named {name!r}; "
                                   "the label column must be one")
            if label is not None:
                if label not in header:
                    raise CliError(f"{path}: no column named {label!r}")
                col: Optional[int] = header.index(label)
            elif "label" in header:
                col = header.index("label")
            elif not need_labels and n_features is not None and len(header) == n_features:
                col = None
            else:
                col = len(header) - 1
            with warnings.catch_warnings():
                # a header with no rows after it: reported below, not as numpy's warning
                warnings.simplefilter("ignore", UserWarning)
                table = np.loadtxt(f, delimiter=",", quotechar='"', ndmin=2, dtype=np.float64)
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: cannot read ({exc})") from None
    except ValueError as exc:
        raise CliError(f"{path}: not a numeric CSV table ({_csv_problem(path, header) or exc})") from None
    if table.shape[0] == 0:
        raise CliError(f"{path}: no rows after the header")
    if table.shape[1] != len(header):
        raise CliError(f"{path}: {table.shape[1]} columns per row but {len(header)} in the header")
    if col is None:
        return table, None
    return np.delete(table, col, axis=1), table[:, col]


def _csv_problem(path: str, header: list) -> Optional[str]:
    """What np.loadtxt could not read in a CSV file, by the file's line numbers (numpy's row numbers
    skip some lines and not others): the first line after the header with a field count other
    than the header's, or a field that is not a number. None when no such line is found. Read as
    np.loadtxt reads: blank lines and text after '#' are skipped."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            text = line.split("#", 1)[0]
            if n == 1 or not text.strip():
                continue
            fields = [v.strip() for v in next(csv.reader([text]), [])]
            if len(fields) != len(header):
                return f"line {n} has {len(fields)} fields, the header {len(header)}"
            for j, v in enumerate(fields):
                if not _is_number(v):
                    hint = "; fields are separated by commas" if (";" in v or "\t" in v) else ""
                    return f"line {n}, column {j + 1} ({header[j]}): {v!r} is not a number{hint}"
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_MAX_LABEL = 2 ** 31     # labels are class indices: a network with more outputs would not fit in memory


def _labels(y: np.ndarray, path: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise CliError(f"{path}: labels must be 1-D, got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise CliError(f"{path}: labels must be whole numbers (class indices)")
    elif y.dtype.kind not in "biu":
        raise CliError(f"{path}: labels must be integers, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise CliError(f"{path}: labels must be >= 0, found {int(y.min())}")
    if y.size and y.max() >= _MAX_LABEL:
        # (before the conversion to int64, which would wrap 1e300 or a uint64 around)
        largest = int(y.max()) if y.dtype.kind in "biu" else f"{y.max():.6g}"
        raise CliError(f"{path}: label {largest} is too large for a class index (at most {_MAX_LABEL - 1})")
    return y.astype(np.int64)


def _sizes(text: str) -> list:
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 784,100,10, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"need at least two layer widths, each >= 1, got {text!r}")
    return sizes


def _path(text: str) -> str:
    """An argparse type: a file or directory name, not empty (an empty one would name the working
    directory to some calls and no file to others)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def _integer(lowest: int) -> Callable[[str], int]:
    """An argparse type: an integer >= lowest (checked as the options are parsed, before any data
    is read)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = lowest - 1
        if value < lowest:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lowest}, got {text!r}")
        return value
    return parse


def _number(low: float, high: float = math.inf, *, above: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] (in (low, high] with above=True)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if above else value >= low) and value <= high):
            where = f"({low:g}, " if above else f"[{low:g}, "
            where += f"{high:g}]" if math.isfinite(high) else "inf)"
            raise argparse.ArgumentTypeError(f"expected a number in {where}, got {text!r}")
        return value
    return parse


def _check_shapes(X: np.ndarray, y: Optional[np.ndarray], sizes: Sequence[int], path: str) -> None:
    if X.shape[1] != sizes[0]:
        raise CliError(f"{path}: {X.shape[1]} features per sample, but the network takes {sizes[0]}")
    if y is not None and y.size and y.max() >= sizes[-1]:
        raise CliError(f"{path}: label {int(y.max())} needs at least {int(y.max()) + 1} outputs; "
                       f"the network has {sizes[-1]}")


def _input_files(path: str) -> list:
    """The files reading ``path`` reads: an IDX directory's IDX files, an IDX images file and its
    labels file, or the file itself."""
    if os.path.isdir(path):
        return [os.path.join(path, n) for n in os.listdir(path) if "-ubyte" in n]
    if "idx3-ubyte" in os.path.basename(path).lower():
        return [path, *_labels_beside(path)]
    return [path]


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)      # hard links
    except OSError:
        return False


def _check_outputs(outputs: dict, inputs: dict) -> None:
    """Refuse, before any work, an output that would overwrite an input or another output."""
    named = [(option, path) for option, path in outputs.items() if path]
    for i, (option, path) in enumerate(named):
        for other, other_path in named[:i]:
            if _same_file(path, other_path):
                raise CliError(f"{option} and {other} name the same file {path}")
        for source, source_path in inputs.items():
            if source_path and any(_same_file(path, f) for f in _input_files(source_path)):
                raise CliError(f"{option} {path} would overwrite the input of {source}; choose another file")


def _check_writable(path: str) -> None:
    """Fail before any work when the output cannot be written: a device or pipe (``/dev/stdout``)
    that is not writable, else a missing or read-only directory (of the file a symlink names:
    that file is the one replaced), or a path that names a directory."""
    if _written_in_place(path):
        if not os.access(path, os.W_OK):
            raise CliError(f"cannot write {path}: permission denied")
        return
    if os.path.isdir(path):
        raise CliError(f"cannot write {path}: it is a directory; name a file")
    directory = os.path.dirname(os.path.realpath(path))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise CliError(f"cannot write {path}: {directory} is a file, not a directory")
    if not os.path.isdir(directory):
        raise CliError(f"cannot write {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise CliError(f"cannot write {path}: directory {directory} is not writable")


def _check_label_option(label: Optional[str], *paths: Optional[str]) -> None:
    """--label names a CSV column: refuse it when no data file is a .csv (it would be ignored)."""
    if label is not None and not any(p and p.lower().endswith(".csv") for p in paths):
        raise CliError(f"--label names a column of a .csv file, and {' and '.join(p for p in paths if p)} "
                       "is not one")


def train(args: argparse.Namespace) -> int:
    sizes = args.sizes
    _check_outputs({"--save": args.save, "--plot": args.plot}, {"--data": args.data, "--val": args.val})
    for out in (args.save, args.plot):
        if out:
            _check_writable(out)
    _check_label_option(args.label, args.data, args.val)
    # the network first: a bad combination of options is refused before any data is read
    net = Network(sizes, activation=args.activation, output_activation=args.output_activation, loss=args.loss,
                  init=args.init, dtype=args.dtype, seed=args.seed, n_threads=args.threads,
                  flush_subnormals=args.flush_subnormals)
    X, y = load_data(args.data, label=args.label)
    _check_shapes(X, y, sizes, args.data)
    validation = None
    if args.val:
        Xv, yv = load_data(args.val, label=args.label)
        _check_shapes(Xv, yv, sizes, args.val)
        validation = (Xv, yv)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CliError("--plot needs matplotlib: pip install 'fastnn[plot]'") from None
        _plot_format(args.plot)     # the picture's format, from the extension: refused before training
    print(f"fastnn: training {sizes} ({args.dtype}) on {len(X)} samples from {args.data}"
          + (f"; validating on {len(validation[0])} from {args.val}" if validation else ""), flush=True)
    t0 = time.perf_counter()
    history = net.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                      optimizer=args.optimizer, momentum=args.momentum, l2=args.l2, lr_schedule=args.lr_schedule,
                      validation_data=validation, early_stopping=args.early_stopping, patience=args.patience,
                      tol=args.tol, verbose=True, asynchronous=args.asynchronous)
    seconds = time.perf_counter() - t0
    net.save(args.save)
    if args.plot:
        history.plot(args.plot)
    summary = (f"done: {_n_epochs(len(history.train_loss))} in {seconds:.1f} s; "
               f"train loss {history.train_loss[-1]:.4f}, train accuracy {net.accuracy(X, y):.4f}")
    if validation:
        summary += f"; validation accuracy {net.accuracy(*validation):.4f}"
    print(summary)
    print(f"saved {args.save}" + (f"; learning curves in {args.plot}" if args.plot else ""))
    return 0


def _load_model(path: str) -> Network:
    if not os.path.isfile(path):
        raise CliError(f"no such model file: {path}")
    return Network.load(path)


def evaluate(args: argparse.Namespace) -> int:
    _check_label_option(args.label, args.data)
    net = _load_model(args.model)
    X, y = load_data(args.data, label=args.label, n_features=net.sizes[0])
    _check_shapes(X, y, net.sizes, args.data)
    print(f"{args.data}: {len(X)} samples; loss {net.loss(X, y):.6f}; accuracy {net.accuracy(X, y):.4f}")
    return 0


def _is_stdout(path: str) -> bool:
    """Whether path is "-" or names the file standard output writes to (/dev/stdout)."""
    if path == "-":
        return True
    try:
        here, there = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def predict(args: argparse.Namespace) -> int:
    if args.out != "-":
        _check_outputs({"--out": args.out}, {"--model": args.model, "--data": args.data})
        _check_writable(args.out)
    if os.path.splitext(args.out)[1].lower() in (".npy", ".npz"):
        raise CliError(f"--out {args.out}: predict writes CSV text, which would not be a NumPy file; "
                       "name it .csv (or - for standard output)")
    to_stdout = _is_stdout(args.out)
    _check_label_option(args.label, args.data)
    net = _load_model(args.model)
    X = load_features(args.data, label=args.label, n_features=net.sizes[0])
    _check_shapes(X, None, net.sizes, args.data)
    out = net.predict(X)
    k = out.shape[1]
    predicted = out.argmax(axis=1) if k > 1 else out[:, 0]
    # every output exactly, in the fewest digits that read back to the same value: Python's
    # shortest repr for float64; 9 significant digits always read back to the same float32
    exact = repr if out.dtype == np.float64 else "{:.9g}".format

    def write(f):
        w = csv.writer(f)
        w.writerow(["prediction"] + [f"output_{j}" for j in range(k)])
        for p, row in zip(predicted, out.tolist()):
            w.writerow([p] + [exact(v) for v in row])

    try:
        if args.out == "-":
            try:
                write(sys.stdout)
                sys.stdout.flush()
            except BrokenPipeError:
                # the reader stopped reading (| head): quietly, as other tools end (Python's
                # documented way: standard output to devnull, so the exit's flush does not fail)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 1
        else:
            _atomic_write(args.out, write, text=True)
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {exc}") from None
    # on standard output the CSV stands alone: the summary goes to standard error
    print(f"wrote {len(X)} predictions to {'standard output' if args.out == '-' else args.out}",
          file=sys.stderr if to_stdout else sys.stdout)
    return 0


def add_commands(parser: argparse.ArgumentParser) -> None:
    """The train / evaluate / predict sub-commands of ``python -m fastnn``."""
    sub = parser.add_subparsers(dest="command", metavar="{train,evaluate,predict}")
    t = sub.add_parser("train", help="train a network on a data file and save it",
                       description="Train a network and save it (see python -m fastnn --help for data formats).")
    t.add_argument("--data", required=True, type=_path, help="training data: IDX directory or file, .npz or .csv")
    t.add_argument("--val", type=_path, help="validation data, evaluated after every epoch")
    t.add_argument("--sizes", required=True, type=_sizes, help="layer widths, e.g. 784,100,10")
    t.add_argument("--save", required=True, type=_path, metavar="MODEL", help="where to save the trained model (.fastnn)")
    t.add_argument("--plot", type=_path, metavar="IMAGE",
                   help="save learning curves to this picture, .png, .svg, .pdf, ... (needs matplotlib)")
    t.add_argument("--label", help="name of the label column of a CSV file")
    t.add_argument("--activation", default="sigmoid", choices=_HIDDEN, help="hidden activation (default sigmoid)")
    t.add_argument("--output-activation", default=None, choices=_OUTPUT,
                   help="output activation (default: the hidden one)")
    t.add_argument("--loss", default="quadratic", choices=_LOSSES, help="(default quadratic)")
    t.add_argument("--init", default="scaled", choices=_INITS, help="(default scaled)")
    t.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    t.add_argument("--seed", type=_integer(0), default=0)
    t.add_argument("--threads", type=_integer(1), default=None, help="threads (default: all cores)")
    t.add_argument("--asynchronous", action="store_true",
                   help="Hogwild: each thread trains on whole mini-batches at once (not reproducible)")
    t.add_argument("--flush-subnormals", action="store_true",
                   help="train with numbers below the smallest normal one computed as 0 (x86; "
                        "faster where the CPU handles them slowly, e.g. Intel's; not exact there)")
    # (Network.fit takes epochs=0, but a train command that trains nothing would save an untrained
    # model and have no loss to report)
    t.add_argument("--epochs", type=_integer(1), default=10, help="epochs to train, >= 1 (default 10)")
    t.add_argument("--batch-size", type=_integer(1), default=10)
    t.add_argument("--learning-rate", type=_number(0, above=True), default=None,
                   help="eta (default: the optimizer's)")
    t.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS, help="(default sgd)")
    t.add_argument("--momentum", type=_number(0, 1), default=0.9)
    t.add_argument("--l2", type=_number(0), default=0.0)
    t.add_argument("--lr-schedule", default="constant", choices=SCHEDULES, help="(default constant)")
    t.add_argument("--early-stopping", action="store_true",
                   help="stop when the validation loss stops falling (validating on --val, else on 10%% of --data)")
    t.add_argument("--patience", type=_integer(1), default=5)
    t.add_argument("--tol", type=_number(0), default=None)
    t.set_defaults(run=train)
    e = sub.add_parser("evaluate", help="loss and accuracy of a saved model on a data file")
    e.add_argument("--model", required=True, type=_path)
    e.add_argument("--data", required=True, type=_path)
    e.add_argument("--label", help="name of the label column of a CSV file")
    e.set_defaults(run=evaluate)
    p = sub.add_parser("predict", help="write a saved model's predictions to a CSV file")
    p.add_argument("--model", required=True, type=_path)
    p.add_argument("--data", required=True, type=_path)
    p.add_argument("--out", required=True, type=_path, help="CSV to write: prediction, then every output (- for standard output)")
    p.add_argument("--label", help="name of a label column of a CSV file to leave out")
    p.set_defaults(run=predict)


def run(args: argparse.Namespace) -> int:
    """Run a sub-command; problems with files or options become one line on stderr and status 2."""
    try:
        return args.run(args)
    except (CliError, ModelFileError, OSError, ValueError, TypeError, FloatingPointError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
