"""Layer 0 from the nonzero inputs only vs the dense kernels, on the shared MNIST digits (19% nonzero).

For each network and dtype, one-epoch fits with the sparse path forced off and
on alternate (median of --repeats), then predict on all digits the same way.
The script prints the speed-up of the sparse path (dense time / sparse time)
and checks that both end with bit-identical weights and predictions. It is
how the default density limits in fastnn/_core.pyx were chosen.

    python bench/sparse.py [--repeats 5] [--threads 1]
"""
import argparse
import statistics
import time

import numpy as np

import fastnn
from fastnn import _core
from seed import DEFAULT_MNIST

NETWORKS = {
    "seed": (dict(sizes=[784, 30, 10]), dict(batch_size=10, learning_rate=3.0)),
    "medium": (dict(sizes=[784, 256, 128, 10]), dict(batch_size=32, learning_rate=0.5)),
    "sklearn-default": (dict(sizes=[784, 100, 10], activation="relu", output_activation="softmax",
                             loss="cross_entropy", init="glorot"), dict(batch_size=200, optimizer="adam")),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    args = parser.parse_args()
    X32, labels = fastnn.load_mnist(args.mnist)
    print(f"{len(X32)} digits, {np.count_nonzero(X32) / X32.size:.1%} of the inputs nonzero; "
          f"{args.threads} thread(s)")
    print(f"{'network':<16} {'dtype':<8} {'train':>7} {'predict':>8}  identical")
    default = _core._set_sparse(0.0, 0.0, 0)
    try:
        for name, (net_kw, fit_kw) in NETWORKS.items():
            for dtype in ("float32", "float64"):
                X = X32.astype(dtype)
                train = {False: [], True: []}
                predict = {False: [], True: []}
                nets, outs = {}, {}
                for _ in range(args.repeats):
                    for on in (False, True):
                        _core._set_sparse(float(on), float(on), 0)
                        net = fastnn.Network(**net_kw, dtype=dtype, seed=0, n_threads=args.threads)
                        time.sleep(0.2)
                        train[on].append(net.fit(X, labels, epochs=1, **fit_kw).seconds[0])
                        time.sleep(0.2)
                        t = time.perf_counter()
                        outs[on] = net.predict(X)
                        predict[on].append(time.perf_counter() - t)
                        nets[on] = net
                same = (all(np.array_equal(p, q) for p, q in zip(nets[False].weights + nets[False].biases,
                                                                 nets[True].weights + nets[True].biases))
                        and np.array_equal(outs[False], outs[True]))
                speedup = [statistics.median(d[False]) / statistics.median(d[True]) for d in (train, predict)]
                print(f"{name:<16} {dtype:<8} {speedup[0]:>6.2f}x {speedup[1]:>7.2f}x  {same}", flush=True)
    finally:
        _core._set_sparse(*default)


if __name__ == "__main__":
    main()
