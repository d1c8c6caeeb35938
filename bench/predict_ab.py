"""Small predictions of two builds against each other in one process (in-process A/B).

A and B are directories that each hold a built ``fastnn`` package, as for
bench/ab.py (which this script takes its loading from). Each build makes
``fastnn.Network([784, 100, 10], seed=0)`` in float64, and the script times
``net.predict`` on the first --rows shared MNIST digits, --calls calls at a
time, alternating A and B for --rounds rounds (A first in even rounds, B first
in odd ones). It prints each build's median µs per call, B's median over A's,
and whether both builds predicted the same outputs, bit for bit.

    python bench/predict_ab.py A B [--rows 1] [--rounds 30] [--calls 1000] [--mnist ../shared/data/mnist]
"""
import argparse
import statistics
import time

import numpy as np

from ab import load_build
from seed import DEFAULT_MNIST


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="directory holding build A's fastnn package")
    parser.add_argument("b", help="directory holding build B's fastnn package")
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    args = parser.parse_args()
    if min(args.rows, args.rounds, args.calls) < 1:
        raise SystemExit("error: --rows, --rounds and --calls must be at least 1")
    builds = {"A": load_build(args.a, "fastnn_a"), "B": load_build(args.b, "fastnn_b")}
    X = builds["A"].load_mnist(args.mnist, dtype=np.float64)[0][:args.rows]
    nets = {label: fastnn.Network([784, 100, 10], seed=0) for label, fastnn in builds.items()}
    same = np.array_equal(nets["A"].predict(X), nets["B"].predict(X))
    per_call = {label: [] for label in builds}
    for r in range(args.rounds):
        for label in (("A", "B") if r % 2 == 0 else ("B", "A")):
            predict = nets[label].predict
            t0 = time.perf_counter()
            for _ in range(args.calls):
                predict(X)
            per_call[label].append((time.perf_counter() - t0) / args.calls * 1e6)
    print(f"predict of {len(X)} row(s) on [784, 100, 10] float64, {args.rounds} rounds of {args.calls} calls "
          "per build; µs per call (median)")
    for label in builds:
        print(f"{label} ({getattr(args, label.lower())}): {statistics.median(per_call[label]):.1f}")
    ratio = statistics.median(per_call["B"]) / statistics.median(per_call["A"])
    print(f"B / A: {ratio:.3f}")
    print(f"same outputs: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
