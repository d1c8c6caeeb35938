"""fastnn's two-thread epochs against the time a cache line takes between the two cores.

On a shared host the round trip of one cache line between two cores is not
constant: on the machine of 2026-12-03 it was about 60 ns for a few seconds,
then several hundred ns for a few seconds. This script fits
fastnn.MLPClassifier with scikit-learn's defaults on the first 20,000 shared
MNIST digits for --epochs epochs (tol=0: no early stop), first on one thread,
then on two, and before each epoch times --trips round trips
(fastnn._core._round_trip, about 1-20 ms, outside the epoch's time). It prints
each epoch, then, per thread count, the median epoch time of the epochs whose
round trip was short (under --short ns) and of those whose round trip was
long (over --long ns). The epochs are timed around the compiled epoch
(Network._run_epoch), as the estimator runs it.

    python bench/round_trip.py [--epochs 80] [--dtype float64] [--mnist ../shared/data/mnist]
"""
import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

import fastnn
from fastnn import _core
from fastnn import network

from seed import DEFAULT_MNIST


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--trips", type=int, default=20000)
    parser.add_argument("--short", type=float, default=120.0)
    parser.add_argument("--long", type=float, default=250.0)
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    args = parser.parse_args()
    X, y = fastnn.load_mnist(args.mnist, dtype=np.float64)
    X, y = X[:20000], y[:20000]
    _core._round_trip(1000)   # starts the OpenMP threads
    run_epoch = network.Network._run_epoch
    records = []

    def timed(net, *a, **k):
        trip = _core._round_trip(args.trips)
        t0 = time.perf_counter()
        out = run_epoch(net, *a, **k)
        records.append((net.n_threads, trip, time.perf_counter() - t0))
        return out

    network.Network._run_epoch = timed
    try:
        for threads in (1, 2):
            est = fastnn.MLPClassifier(random_state=0, max_iter=args.epochs, tol=0, n_threads=threads,
                                       dtype=args.dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X, y)
    finally:
        network.Network._run_epoch = run_epoch
    print(f"{'threads':>7} {'trip ns':>8} {'epoch ms':>9}")
    for threads, trip, seconds in records:
        print(f"{threads:>7} {trip:>8.0f} {1e3 * seconds:>9.1f}")
    print(f"{args.dtype}, {args.epochs} epochs per thread count:")
    for threads in (1, 2):
        parts = []
        for name, keep in ((f"round trip under {args.short:.0f} ns", lambda trip: trip < args.short),
                           (f"over {args.long:.0f} ns", lambda trip: trip > args.long)):
            ms = [1e3 * s for n, trip, s in records if n == threads and keep(trip)]
            parts.append(f"{name}: {statistics.median(ms):.1f} ms ({len(ms)} epochs)" if ms
                         else f"{name}: no epochs")
        print(f"{threads} thread{'s' if threads > 1 else ''}: median epoch, " + "; ".join(parts))


if __name__ == "__main__":
    main()
