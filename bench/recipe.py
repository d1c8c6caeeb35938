"""Accuracy and training time of fastnn.recipes on the shared MNIST digits.

Trains each recipe on the first 20,000 digits (its fit and finish, timed
together) and scores it on the other 4,345, for each seed given, and prints
accuracy and training seconds, then each recipe's median training time as a
ratio to SEED's, measured in the same run.

    python bench/recipe.py [--seeds 0 1 2] [--mnist ../shared/data/mnist]
"""
import argparse
import statistics
import time

from fastnn import recipes

from seed import DEFAULT_MNIST, mnist_split


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    args = parser.parse_args()
    X_train, y_train, X_test, y_test = mnist_split(args.mnist, dtype="float32")
    print(f"train on {len(X_train)} shared MNIST digits, score on the other {len(X_test)}")
    print(f"{'recipe':<12} {'seed':>4} {'accuracy':>9} {'train s':>8}")
    seconds_of = {}
    for name in ("SEED", "MNIST_BEST"):
        recipe = getattr(recipes, name)
        seconds_of[name] = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            net = recipes.train(recipe, X_train, y_train, seed=seed)
            seconds = time.perf_counter() - t0
            seconds_of[name].append(seconds)
            print(f"{name:<12} {seed:>4} {net.accuracy(X_test, y_test):>9.4f} {seconds:>8.2f}", flush=True)
    reference = statistics.median(seconds_of["SEED"])
    for name, seconds in seconds_of.items():
        print(f"{name}: median training time {statistics.median(seconds) / reference:.2f}x SEED's")


if __name__ == "__main__":
    main()
