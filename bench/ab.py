"""Two builds of fastnn against each other in one process (in-process A/B).

A and B are directories that each hold a built ``fastnn`` package: the ``src``
folder of a checkout after ``python setup.py build_ext --inplace``, or a
``pip install --target`` directory. Each is imported under a name of its own
(fastnn_a, fastnn_b), so both run in this process, on the same host state.

The script fits fastnn.MLPClassifier with scikit-learn's defaults on the first
20,000 shared MNIST digits (tol=0: no early stop), alternating fits of --epochs
epochs between A and B for --rounds rounds (A first in even rounds, B first in
odd ones), each fit from random_state=0. With --workload seed it fits the seed
workload of bench/seed.py instead (fastnn.Network([784, 30, 10], seed=0),
sigmoid and quadratic loss, mini-batches of 10, eta 3.0; --dtype float32 is
bench/seed.py's), to compare two builds on the math of SEED.md. Before each
epoch it times --trips round trips of a cache line between the two threads (``_core._round_trip``,
outside the epoch's time), since on a shared host the two cores are sometimes
near and sometimes far (bench/round_trip.py). It prints, per build, the median
epoch in ms of the epochs whose round trip was under --near ns ("near") and of
the others ("far"), B's median over A's in each, and whether every fit of A
ended with the same weights, bit for bit, as the fit of B in its round.
With --cores near or far, both builds run their two threads as on near or on
far cores whatever the round trip reads (_core._set_near), so that either way
can be measured on the host's current state. A build older than those two
functions can still be compared with --cores auto: the other build times the
round trips. --threads 1 fits on one thread (n_threads=1; the round trips are
still timed and binned).

    python bench/ab.py A B [--workload default] [--dtype float64] [--rounds 20] [--epochs 10] [--cores auto]
                       [--threads N] [--mnist ../shared/data/mnist]

For example, to compare a change with main:

    git worktree add /tmp/main main && (cd /tmp/main && python setup.py build_ext --inplace)
    python setup.py build_ext --inplace
    python bench/ab.py /tmp/main/src src
"""
import argparse
import importlib.util
import os
import statistics
import sys
import time
import warnings

import numpy as np

from seed import BATCH, DEFAULT_MNIST, ETA, NEAR_MODES, SIZES


def load_build(directory, name):
    """The fastnn package in directory (directory/fastnn/__init__.py), imported as `name`."""
    init = os.path.join(directory, "fastnn", "__init__.py")
    if not os.path.isfile(init):
        raise SystemExit(f"error: {directory} holds no fastnn package ({init} is missing)")
    spec = importlib.util.spec_from_file_location(name, init,
                                                  submodule_search_locations=[os.path.dirname(init)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="directory holding build A's fastnn package")
    parser.add_argument("b", help="directory holding build B's fastnn package")
    parser.add_argument("--workload", default="default", choices=["default", "seed"],
                        help="default: MLPClassifier with scikit-learn's defaults; seed: bench/seed.py's network")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--trips", type=int, default=500)
    parser.add_argument("--near", type=float, default=200.0, help="round trip (ns) under which cores count as near")
    parser.add_argument("--cores", default="auto", choices=list(NEAR_MODES),
                        help="how the two threads run (_core._set_near): as the round trip decides, or always "
                             "as on near or on far cores; the epochs are still binned by the round trip")
    parser.add_argument("--threads", type=int, default=None, help="n_threads of every fit (default: all cores)")
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    args = parser.parse_args()
    if args.rounds < 1 or args.epochs < 1:
        raise SystemExit("error: --rounds and --epochs must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise SystemExit("error: --threads must be at least 1")
    builds = {"A": load_build(args.a, "fastnn_a"), "B": load_build(args.b, "fastnn_b")}
    if args.workload == "default":
        from sklearn.exceptions import ConvergenceWarning
    X, y = builds["A"].load_mnist(args.mnist, dtype=args.dtype if args.workload == "seed" else np.float64)
    X, y = X[:20000], y[:20000]
    records = {label: [] for label in builds}
    cores = {label: sys.modules[fastnn.__name__ + "._core"] for label, fastnn in builds.items()}
    # the round trip is the host's, not the build's: a build older than _round_trip has it timed by the other
    timers = [core for core in cores.values() if hasattr(core, "_round_trip")]
    if not timers:
        raise SystemExit("error: neither build has _core._round_trip, which times the round trips")
    trip_core = {label: core if hasattr(core, "_round_trip") else timers[0] for label, core in cores.items()}
    for label, fastnn in builds.items():
        network, core = sys.modules[fastnn.__name__ + ".network"], cores[label]
        trip_core[label]._round_trip(1000)   # starts the OpenMP threads
        if hasattr(core, "_set_near"):
            core._set_near(NEAR_MODES[args.cores])
        elif args.cores != "auto":
            raise SystemExit(f"error: build {label} has no _core._set_near, so --cores {args.cores} cannot be set")
        run_epoch = network.Network._run_epoch

        def timed(net, *a, _run=run_epoch, _core=trip_core[label], _records=records[label], **k):
            trip = _core._round_trip(args.trips)
            t0 = time.perf_counter()
            out = _run(net, *a, **k)
            _records.append((trip, time.perf_counter() - t0))
            return out

        network.Network._run_epoch = timed
    same = 0
    for r in range(args.rounds):
        weights = {}
        for label in (("A", "B") if r % 2 == 0 else ("B", "A")):
            if args.workload == "seed":
                net = builds[label].Network(SIZES, dtype=args.dtype, seed=0, n_threads=args.threads)
                net.fit(X, y, epochs=args.epochs, batch_size=BATCH, learning_rate=ETA)
                weights[label] = net.weights + net.biases
                continue
            est = builds[label].MLPClassifier(random_state=0, max_iter=args.epochs, tol=0, dtype=args.dtype,
                                              n_threads=args.threads)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X, y)
            weights[label] = est.coefs_ + est.intercepts_
        same += all(np.array_equal(p, q) for p, q in zip(weights["A"], weights["B"]))
    threads = "all cores' threads" if args.threads is None else f"{args.threads} thread(s)"
    workload = "seed workload" if args.workload == "seed" else "MLPClassifier defaults"
    print(f"{workload}, {args.dtype}, {args.rounds} rounds of {args.epochs} epochs per build on {threads}, threads "
          f"as on {args.cores} cores; ms per epoch (median, epochs)")
    medians = {}
    for label, directory in ((k, getattr(args, k.lower())) for k in builds):
        parts = []
        for state, keep in (("near", lambda trip: trip < args.near), ("far", lambda trip: not trip < args.near)):
            ms = [1e3 * s for trip, s in records[label] if keep(trip)]
            medians[label, state] = statistics.median(ms) if ms else None
            parts.append(f"{state} {medians[label, state]:.1f} ({len(ms)})" if ms else f"{state} - (0)")
        print(f"{label} ({directory}): " + ", ".join(parts))
    for state in ("near", "far"):
        a, b = medians["A", state], medians["B", state]
        print(f"B / A, {state}: " + (f"{b / a:.3f}" if a and b else "no epochs in both"))
    print(f"same weights in {same} of {args.rounds} rounds")


if __name__ == "__main__":
    main()
