"""flush_subnormals=True against the exact default, on the MNIST default fit (scikit-learn's defaults).

Adam's L2 steps take the weights of the pixels that are 0 in every training digit down to subnormal
numbers (float32: within about 20 epochs; float64: after about 150, past this fit's 70 or so), and
some CPUs (Intel's) compute with them by a slow path. The script fits fastnn.MLPClassifier on the
first 20,000 shared MNIST digits with each setting, alternating, --repeats times (random states 0,
1, ...), in float32 and in float64, and prints each fit's epochs, time per epoch, accuracy on the
other 4,345 and how many of its weights are subnormal, then the ratio of the median times per epoch
(exact / flushed: above 1, flushing was faster) measured in this run.

    python bench/subnormals.py [--repeats 3] [--mnist ../shared/data/mnist]
"""
import argparse
import statistics
import time

import numpy as np

import fastnn

from seed import DEFAULT_MNIST, mnist_split, timed_fit


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    args = parser.parse_args()
    X_train, y_train, X_test, y_test = mnist_split(args.mnist)
    print(f"{'dtype':<8} {'flush':<6} {'seed':>4} {'epochs':>6} {'ms/epoch':>9} {'accuracy':>9} {'subnormal':>9}")
    per_epoch = {}
    for dtype in ("float32", "float64"):
        Xd = X_train.astype(dtype)
        for seed in range(args.repeats):
            for flush in (False, True):
                clf = fastnn.MLPClassifier(random_state=seed, flush_subnormals=flush)
                time.sleep(0.2)
                s = timed_fit(clf, Xd, y_train) / clf.n_iter_
                per_epoch.setdefault((dtype, flush), []).append(s)
                tiny = np.finfo(dtype).tiny
                sub = sum(int(np.sum((W != 0) & (np.abs(W) < tiny))) for W in clf.coefs_)
                print(f"{dtype:<8} {str(flush):<6} {seed:>4} {clf.n_iter_:>6} {1000 * s:>9.1f} "
                      f"{clf.score(X_test.astype(dtype), y_test):>9.4f} {sub:>9}", flush=True)
    for dtype in ("float32", "float64"):
        exact = statistics.median(per_epoch[dtype, False])
        flushed = statistics.median(per_epoch[dtype, True])
        print(f"{dtype}: median epoch exact / flushed = {exact / flushed:.2f}")


if __name__ == "__main__":
    main()
