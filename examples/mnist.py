"""Train a digit classifier on MNIST with fastnn, score it, save it and load it back.

    python examples/mnist.py DIR [--epochs 10]

DIR holds MNIST IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]),
e.g. ../shared/data/mnist beside a fastnn checkout. Five sixths of the digits train
the network; the rest are held out for scoring.
"""
import argparse
import os
import tempfile
import warnings

import numpy as np

import fastnn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", help="directory of MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=10, help="epochs to train (>= 1; default 10)")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    try:
        X, labels = fastnn.load_mnist(args.directory)      # X: (n, 784) float32 in [0, 1]
    except (OSError, ValueError) as exc:                   # no such directory, no IDX files, a bad file
        parser.error(str(exc))
    n_test = len(X) // 6
    X_train, y_train, X_test, y_test = X[:-n_test], labels[:-n_test], X[-n_test:], labels[-n_test:]

    net = fastnn.Network([784, 100, 10], activation="relu", output_activation="softmax",
                         loss="cross_entropy", init="he", seed=0)
    history = net.fit(X_train, y_train, epochs=args.epochs, batch_size=64, optimizer="momentum",
                      learning_rate=0.1, l2=1e-4, validation_data=(X_test, y_test), verbose=True)
    print(f"held-out accuracy {net.accuracy(X_test, y_test):.4f} after {len(history.train_loss)} epochs "
          f"({sum(history.seconds):.1f} s of training)")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mnist.fastnn")
        net.save(path)
        again = fastnn.load(path)
        assert np.array_equal(again.predict(X_test), net.predict(X_test))
        print(f"saved and reloaded {path}: identical predictions")

    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import cross_val_score
    except ImportError:
        print("scikit-learn is not installed: skipping the estimator part (pip install 'fastnn[sklearn]')")
        return
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(100,), max_iter=args.epochs, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)   # a few epochs only, on purpose
        scores = cross_val_score(clf, X_train[:6000], y_train[:6000], cv=3)
    print(f"fastnn.MLPClassifier, 3-fold cross-validation on 6,000 digits: {scores.mean():.4f}")


if __name__ == "__main__":
    main()
