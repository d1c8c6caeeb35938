"""fastnn.MLPClassifier against sklearn.neural_network.MLPClassifier on the shared MNIST digits.

Both estimators get scikit-learn's default parameters (hidden_layer_sizes=(100,),
relu, adam, alpha=1e-4, batch_size=min(200, n), max_iter=200, tol=1e-4,
n_iter_no_change=10) and the same random_state, train on the first 20,000
digits (float64 pixels in [0, 1]) and are scored on the other 4,345.
"fastnn" computes in the data's float64, as scikit-learn does; "fastnn32" is
the same estimator with dtype="float32"; "sklearn32" is scikit-learn given the
same digits as float32 (it then computes in float32), the like-for-like
reference for fastnn32. The fits alternate for --repeats rounds, each with a
new random_state; the script prints each fit's accuracy, epochs and seconds,
then the accuracy differences and the median speed ratios measured in this run,
and the ratio of each one's fastest fit per epoch (the machine is shared: a
run slowed by a noisy neighbour moves the medians, the fastest fits less).
The ratios have three decimals: with two, 4.996x printed as 5.00x.
Before each fastnn fit it times the round trip of a cache line between its two
OpenMP threads (fastnn._core._round_trip, printed as "trip ns"): on a shared
host the two cores are at times far apart (several hundred ns), and fastnn's
two-thread epochs are then slower.

    python bench/sklearn_mnist.py [--repeats 1] [--mnist ../shared/data/mnist]
"""
import argparse
import statistics
import time

import numpy as np
from sklearn.neural_network import MLPClassifier as SklearnMLP

import fastnn
from fastnn import _core

from seed import DEFAULT_MNIST, mnist_split, timed_fit


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    args = parser.parse_args()
    X_train, y_train, X_test, y_test = mnist_split(args.mnist)
    print(f"train on {len(X_train)} shared MNIST digits, score on the other {len(X_test)}; default parameters")
    print(f"{'estimator':<10} {'seed':>4} {'accuracy':>9} {'epochs':>6} {'seconds':>8} {'s/epoch':>8} {'trip ns':>8}")
    X_train32, X_test32 = X_train.astype(np.float32), X_test.astype(np.float32)
    names = ("fastnn", "fastnn32", "sklearn", "sklearn32")
    seconds = {name: [] for name in names}
    per_epoch = {name: [] for name in names}
    accuracy = {name: [] for name in names}
    for seed in range(args.repeats):
        for name, make, X_fit, X_score in (
                ("fastnn", lambda s: fastnn.MLPClassifier(random_state=s), X_train, X_test),
                ("fastnn32", lambda s: fastnn.MLPClassifier(random_state=s, dtype="float32"), X_train, X_test),
                ("sklearn", lambda s: SklearnMLP(random_state=s), X_train, X_test),
                ("sklearn32", lambda s: SklearnMLP(random_state=s), X_train32, X_test32)):
            time.sleep(0.2)  # let the other library's worker threads settle
            trip = f"{_core._round_trip():.0f}" if name.startswith("fastnn") else "-"
            est = make(seed)
            s = timed_fit(est, X_fit, y_train)
            acc = est.score(X_score, y_test)
            seconds[name].append(s)
            per_epoch[name].append(s / est.n_iter_)
            accuracy[name].append(acc)
            print(f"{name:<10} {seed:>4} {acc:>9.4f} {est.n_iter_:>6} {s:>8.2f} {s / est.n_iter_:>8.3f} {trip:>8}",
                  flush=True)
    for name, ref in (("fastnn", "sklearn"), ("fastnn32", "sklearn"), ("fastnn32", "sklearn32")):
        diff = 100 * (statistics.mean(accuracy[name]) - statistics.mean(accuracy[ref]))
        ratio = statistics.median(seconds[ref]) / statistics.median(seconds[name])
        best = min(per_epoch[ref]) / min(per_epoch[name])
        print(f"{name}: accuracy - {ref}'s = {diff:+.2f} points; fit {ratio:.3f}x as fast as {ref} "
              f"(fastest epochs: {best:.3f}x)")


if __name__ == "__main__":
    main()
