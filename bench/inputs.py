"""Does layer 0's cost follow its nonzeros or the size of its weights and Adam state?

scikit-learn's default network ([784, 100, 10], ReLU, Adam, batches of 200) is
fitted on the first 20,000 shared MNIST digits cut to their k inputs most often
nonzero, for each k given, the widths interleaved round by round. Layer 0 takes
its nonzeros by the lists at every width (the density limits are lifted for
the run), so only the number of nonzeros and the size of W, m1 and m2 change.
For each width the script prints the nonzeros per digit, each thread's share of
layer 0's W, m1 and m2 in bytes (half of them on two threads), the median ms
per epoch over the rounds, and that median as a ratio of the first width's.
784 and 400 inputs have about the same nonzeros (150 and 148 a digit) and
half the weights and state between them; at 200 and 100 inputs a thread's
share fits in a 512 KB L2, and their two epochs give the cost per nonzero
there, to set the full width's against. The fits run on THREADS threads
whatever the machine's cores (each thread with its share of layer 0's
panels).

    python bench/inputs.py [--widths 784,400,200,100] [--rounds 7] [--epochs 20] [--dtype float64]
                           [--cores near]
"""
import argparse
import statistics

import numpy as np

import fastnn
from fastnn import _core
from seed import DEFAULT_MNIST, NEAR_MODES, mnist_split, timed_fit

HIDDEN = 100   # scikit-learn's default hidden_layer_sizes, (100,)
THREADS = 2    # the fits' n_threads, and the threads that share layer 0's W, m1 and m2


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", default="784,400,200,100", help="the numbers of inputs kept, comma-separated")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--cores", default="near", choices=list(NEAR_MODES),
                        help="how the two threads run (_core._set_near), as in bench/ab.py")
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    args = parser.parse_args()
    try:
        widths = [int(w) for w in args.widths.split(",")]
    except ValueError:
        raise SystemExit(f"error: --widths must be integers separated by commas, got {args.widths!r}")
    if not widths or any(not 1 <= w <= 784 for w in widths) or args.rounds < 1 or args.epochs < 1:
        raise SystemExit("error: every width must be in 1 ... 784, and --rounds and --epochs at least 1")

    X, y, _, _ = mnist_split(args.mnist, dtype=np.dtype(args.dtype))
    # the inputs by how many digits have them nonzero, most first (ties by index)
    counts = np.count_nonzero(X, axis=0)
    order = np.argsort(-counts, kind="stable")
    # (all of them: X itself, not a copy)
    inputs = {w: X if w == X.shape[1] else np.ascontiguousarray(X[:, np.sort(order[:w])]) for w in widths}
    times = {w: [] for w in widths}
    old_near = _core._set_near(NEAR_MODES[args.cores])
    old_sparse = _core._set_sparse(1.01, 1.01, 8, 8)
    try:
        lists_before = _core._sparse_chunks()[0]
        for _ in range(args.rounds):
            for w in widths:
                est = fastnn.MLPClassifier(hidden_layer_sizes=(HIDDEN,), random_state=0, max_iter=args.epochs,
                                           tol=0, dtype=args.dtype, n_threads=THREADS)
                seconds = timed_fit(est, inputs[w], y)      # max_iter is reached, as asked: not warned
                times[w].append(seconds / est.n_iter_ * 1000)
        lists = _core._sparse_chunks()[0] - lists_before
    finally:
        _core._set_sparse(*old_sparse)
        _core._set_near(old_near)
    if lists == 0:
        raise SystemExit("error: layer 0 never took the lists; the comparison would not be of the sparse kernels")

    itemsize = np.dtype(args.dtype).itemsize
    print(f"{len(X)} digits, {args.dtype}, {args.rounds} rounds of {args.epochs} epochs per width, threads as on "
          f"{args.cores} cores; ms per epoch")
    print(f"{'inputs':>6} {'nonzeros/digit':>14} {'W,m1,m2/thread':>15} {'median ms':>10} {'ratio':>6}  rounds")
    first = statistics.median(times[widths[0]])
    for w in widths:
        nonzeros = counts[order[:w]].sum() / len(X)
        state = 3 * w * HIDDEN * itemsize / THREADS
        median = statistics.median(times[w])
        rounds = " ".join(f"{t:.1f}" for t in times[w])
        print(f"{w:>6} {nonzeros:>14.1f} {state / 1000:>12.0f} KB {median:>10.2f} {median / first:>6.3f}  {rounds}")


if __name__ == "__main__":
    main()
