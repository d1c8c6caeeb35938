"""Fits at once from Python threads: with more threads than cores, how thread 0's wait for thread
1's share of the first layer's forward pass (a flag it spins on, then yields between checks)
compares with an OpenMP barrier there.

fastnn.MLPClassifier with scikit-learn's default parameters on the first 20,000 shared MNIST
digits, --epochs epochs (tol=0), n_threads=2. Each round runs --fits fits at once from Python
threads (2 * --fits threads on the machine's cores), once with the flag and once with the barrier
(_core._set_forward_flag), alternating; the script prints each round's seconds until all fits are
done, the medians over --repeats rounds and their ratio (barrier / flag: above 1 means the flag is
faster). It also checks that the fits' weights are the same either way.

    python bench/at_once.py [--fits 2] [--epochs 8] [--repeats 5] [--mnist ../shared/data/mnist]
"""
import argparse
import statistics
import threading
import time
import warnings

import numpy as np

import fastnn
from fastnn import _core

from seed import DEFAULT_MNIST


def _round(X, y, fits, epochs):
    """Seconds until `fits` fits started at once from Python threads are all done, and their weights."""
    weights = [None] * fits

    def fit(i):
        est = fastnn.MLPClassifier(random_state=i, max_iter=epochs, tol=0, n_threads=2)
        est.fit(X, y)
        weights[i] = est.coefs_ + est.intercepts_

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(fits)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, weights


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fits", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    args = parser.parse_args()
    # the fits stop at --epochs on purpose (filters set once: catch_warnings is not thread-safe)
    warnings.filterwarnings("ignore", message="Stochastic Optimizer: Maximum iterations")
    X, y = fastnn.load_mnist(args.mnist, dtype=np.float64)
    X, y = X[:20000], y[:20000]
    old = _core._set_forward_flag(1)
    seconds = {"flag": [], "barrier": []}
    same = True
    try:
        _round(X, y, args.fits, 1)    # warm-up: threads, caches, the lists' first allocation
        print(f"{args.fits} fits at once, {args.epochs} epochs each, 2 threads each")
        print(f"{'round':>5} {'flag s':>8} {'barrier s':>10}")
        for r in range(args.repeats):
            weights = {}
            for name, on in (("flag", 1), ("barrier", 0)):
                _core._set_forward_flag(on)
                s, weights[name] = _round(X, y, args.fits, args.epochs)
                seconds[name].append(s)
            same = same and all(np.array_equal(a, b) for w1, w2 in zip(weights["flag"], weights["barrier"])
                                for a, b in zip(w1, w2))
            print(f"{r:>5} {seconds['flag'][-1]:>8.2f} {seconds['barrier'][-1]:>10.2f}", flush=True)
    finally:
        _core._set_forward_flag(old)
    flag, barrier = statistics.median(seconds["flag"]), statistics.median(seconds["barrier"])
    print(f"medians: flag {flag:.2f} s, barrier {barrier:.2f} s; barrier / flag = {barrier / flag:.2f}; "
          f"identical weights: {same}")


if __name__ == "__main__":
    main()
