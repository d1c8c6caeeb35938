"""fastnn.MLPClassifier against scikit-learn's on a sparse X (scipy CSR), as text features are.

X: --rows rows of --features features, --nnz nonzeros per row at random columns (values in
(0.01, 1.01)), 5 classes; the estimators' default parameters but hidden_layer_sizes=(--hidden,)
and max_iter=--epochs. Each repeat fits and predicts once with each library, alternating, each
in a fresh Python process, and reads that process's peak resident memory (its whole life: Python,
the libraries and X, then the fit and predict). Printed: each library's median peak, and the
ratios of the median fit and predict times; also that both reached the same accuracy on X and the
same number of epochs.

    python bench/sparse_input.py [--repeats 3] [--rows 5000] [--features 100000] [--nnz 30]
"""
import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, warnings
import numpy as np
from scipy import sparse
lib, n, d, k, hidden, epochs = sys.argv[1], *map(int, sys.argv[2:7])
rng = np.random.default_rng(0)
cols = np.sort(rng.choice(d, size=(n, k)), axis=1)
X = sparse.csr_matrix((rng.random(n * k) + 0.01, cols.ravel(), np.arange(0, n * k + 1, k)), shape=(n, d))
X.sum_duplicates()
y = rng.integers(0, 5, n)
if lib == "fastnn":
    from fastnn import MLPClassifier
else:
    from sklearn.neural_network import MLPClassifier
warnings.simplefilter("ignore")
t0 = time.perf_counter()
est = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=epochs, random_state=0).fit(X, y)
fit = time.perf_counter() - t0
t0 = time.perf_counter()
predicted = est.predict(X)
predict = time.perf_counter() - t0
accuracy = float((predicted == y).mean())
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "fit_s": fit,
                  "predict_s": predict, "accuracy": accuracy, "epochs": est.n_iter_,
                  "dense_mb": n * d * 8 / 2 ** 20}))
"""


def run(lib, args):
    out = subprocess.run([sys.executable, "-c", CHILD, lib, str(args.rows), str(args.features), str(args.nnz),
                          str(args.hidden), str(args.epochs)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--features", type=int, default=100_000)
    parser.add_argument("--nnz", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    results = {"fastnn": [], "sklearn": []}
    for _ in range(args.repeats):
        for lib in results:
            results[lib].append(run(lib, args))
    first = results["fastnn"][0]
    print(f"X: {args.rows} x {args.features} CSR, {args.nnz} nonzeros a row ({first['dense_mb']:.0f} MB dense); "
          f"hidden ({args.hidden},), {args.epochs} epochs; {args.repeats} repeats, alternating")
    med = {lib: {key: statistics.median(r[key] for r in rs) for key in ("peak_mb", "fit_s", "predict_s")}
           for lib, rs in results.items()}
    for lib, rs in results.items():
        print(f"{lib:<8} peak {med[lib]['peak_mb']:7.0f} MB  accuracy {rs[0]['accuracy']:.4f}  "
              f"epochs {rs[0]['epochs']}")
    same = all(f["accuracy"] == s["accuracy"] and f["epochs"] == s["epochs"]
               for f, s in zip(results["fastnn"], results["sklearn"]))
    print(f"fastnn's peak / scikit-learn's: {med['fastnn']['peak_mb'] / med['sklearn']['peak_mb']:.2f}; "
          f"fit {med['sklearn']['fit_s'] / med['fastnn']['fit_s']:.2f}x and predict "
          f"{med['sklearn']['predict_s'] / med['fastnn']['predict_s']:.3g}x as fast as scikit-learn's; "
          f"same accuracy and epochs: {same}")


if __name__ == "__main__":
    main()
