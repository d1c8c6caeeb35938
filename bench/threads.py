"""Thread scaling: samples/s with n_threads=1 and 2 on the workloads of bench/workloads.py.

Epochs with 1 and 2 threads alternate (median of --repeats); the script also
checks that both thread counts end with bit-identical weights. The last column
is fit(asynchronous=True) on 2 threads (Hogwild: each thread takes whole
mini-batches; not reproducible, so not in the weight check), against 1 thread.

    python bench/threads.py [--workloads wide medium] [--dtype float32] [--repeats 5]
"""
import argparse
import statistics
import time

import numpy as np

import fastnn
from workloads import DEFAULT_MNIST, WORKLOADS, load_data


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=["wide", "medium", "seed"], choices=list(WORKLOADS))
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    args = parser.parse_args()
    print(f"{'workload':<8} {'1 thread':>12} {'2 threads':>12} {'speedup':>8}  identical weights "
          f"{'2 async':>12} {'speedup':>8}")
    for name in args.workloads:
        spec = WORKLOADS[name]
        X, Y = load_data(spec, args.dtype, args.mnist)
        nets = {k: fastnn.Network(spec["sizes"], dtype=args.dtype, seed=0, init="scaled", n_threads=1 if k == 1 else 2)
                for k in (1, 2, "async")}
        times = {k: [] for k in nets}
        for _ in range(args.repeats):
            for k, net in nets.items():
                time.sleep(0.2)
                times[k].append(net.fit(X, Y, epochs=1, batch_size=spec["batch"], learning_rate=spec["eta"],
                                        shuffle=False, asynchronous=k == "async").seconds[0])
        rate = {k: len(X) / statistics.median(v) for k, v in times.items()}
        same = all(np.array_equal(p, q) for p, q in zip(nets[1].weights, nets[2].weights))
        print(f"{name:<8} {rate[1]:>12,.0f} {rate[2]:>12,.0f} {rate[2] / rate[1]:>7.2f}x  {str(same):<17} "
              f"{rate['async']:>12,.0f} {rate['async'] / rate[1]:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
