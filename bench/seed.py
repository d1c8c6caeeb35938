"""Seed workload: fastnn against a plain numpy matrix-form trainer, in one interleaved run.

Trains [784, 30, 10] sigmoid / quadratic loss, mini-batches of 10, eta 3.0 on
the first 20,000 shared MNIST digits, one epoch at a time, alternating
fastnn and numpy (fastnn._reference, the same math in numpy), and prints the
median samples/s of each and their ratio.

An epoch is timed as a user of each trainer pays for it: for numpy, the
permutation and the loop over mini-batches; for fastnn, the epoch that
``Network.fit`` times in ``History.seconds`` (permutation, the compiled
epoch, the finiteness check of the parameters). fit's one-off validation of
X at the start of each call is not part of an epoch.

    python bench/seed.py [--repeats 5] [--dtype float32] [--mnist ../shared/data/mnist]
"""
import argparse
import os
import statistics
import time
import warnings

import numpy as np

import fastnn
from fastnn import _reference as ref

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MNIST = os.path.join(HERE, "..", "..", "shared", "data", "mnist")
SIZES, BATCH, ETA = [784, 30, 10], 10, 3.0   # the seed workload (SEED.md), also bench/ab.py --workload seed
N_TRAIN = 20000   # the scikit-learn comparison's split: train on the first 20,000 digits, score on the rest
# --cores of bench/ab.py and bench/inputs.py: _core._set_near's mode for each (by the round trip, near, far)
NEAR_MODES = {"auto": -1, "near": 1, "far": 0}


def mnist_split(path, dtype=np.float64):
    """(X_train, y_train, X_test, y_test): the first N_TRAIN shared MNIST digits and the other 4,345."""
    X, y = fastnn.load_mnist(path, dtype=dtype)
    return X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]


def timed_fit(estimator, X, y):
    """Seconds estimator.fit(X, y) takes; scikit-learn's ConvergenceWarning (max_iter reached) silenced."""
    from sklearn.exceptions import ConvergenceWarning
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    return time.perf_counter() - t0


def numpy_epoch(weights, biases, X, Y, batch_size, eta, rng):
    """One epoch of the numpy trainer: shuffled mini-batches, fastnn._reference.train_batch."""
    order = rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        ref.train_batch(weights, biases, X[idx], Y[idx], learning_rate=eta)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved epochs per trainer (median taken)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    parser.add_argument("--n-train", type=int, default=20000)
    args = parser.parse_args()

    X, labels = fastnn.load_mnist(args.mnist, dtype=args.dtype)
    X, labels = X[:args.n_train], labels[:args.n_train]
    X = np.ascontiguousarray(X)
    Y = fastnn.one_hot(labels, 10, dtype=args.dtype)
    n = len(X)
    sizes, batch, eta = SIZES, BATCH, ETA

    net = fastnn.Network(sizes, dtype=args.dtype, seed=0)
    weights = [w.copy() for w in net.weights]
    biases = [b.copy() for b in net.biases]
    rng = np.random.default_rng(0)

    times = {"fastnn": [], "numpy": []}
    for _ in range(args.repeats):
        history = net.fit(X, Y, epochs=1, batch_size=batch, learning_rate=eta)
        times["fastnn"].append(history.seconds[0])
        t0 = time.perf_counter()
        numpy_epoch(weights, biases, X, Y, batch, eta, rng)
        times["numpy"].append(time.perf_counter() - t0)

    rate = {k: n / statistics.median(v) for k, v in times.items()}
    print(f"seed workload {sizes}, batch {batch}, eta {eta}, {args.dtype}, {n} MNIST digits, "
          f"median of {args.repeats} interleaved epochs")
    print(f"{'trainer':<8} {'samples/s':>12} {'ratio':>7}")
    for k in ("fastnn", "numpy"):
        print(f"{k:<8} {rate[k]:>12,.0f} {rate[k] / rate['numpy']:>6.2f}x")
    X_all, labels_all = fastnn.load_mnist(args.mnist, dtype=args.dtype)
    X_test, y_test = X_all[args.n_train:], labels_all[args.n_train:]
    if len(X_test):
        acc_numpy = np.mean(ref.forward(weights, biases, X_test)[1][-1].argmax(axis=1) == y_test)
        print(f"held-out accuracy after {args.repeats} epochs on {len(X_test)} digits: "
              f"fastnn {net.accuracy(X_test, y_test):.4f}, numpy {acc_numpy:.4f}")

if __name__ == "__main__":
    main()
