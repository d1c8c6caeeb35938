"""Scale and memory: samples/s of the seed network at 10^4, 10^5 and 10^6 samples, and peak RSS.

Synthetic seed-shaped data ([784, 30, 10], batch 10, float32, uniform pixels,
random labels). Each size runs in its own subprocess (Linux: it reads
/proc/self/status), which also reports X's size and how far the peak RSS
during fit rose above the RSS just before it (the peak is reset first): fit
must not copy a C-contiguous X of the network's dtype.

    python bench/scale_memory.py [--sizes 10000 100000 1000000] [--epochs 2]
"""
import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys, time
import numpy as np
import fastnn
n, epochs = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
X = np.empty((n, 784), dtype=np.float32)
for start in range(0, n, 100000):                 # fill in parts: no float64 temporary of X's size
    X[start:start + 100000] = rng.random((min(100000, n - start), 784), dtype=np.float32)
labels = rng.integers(0, 10, n)
net = fastnn.Network([784, 30, 10], dtype="float32", seed=0)
net.fit(X[:1000], labels[:1000], epochs=1)         # warm up: code and pages of the kernels


def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024


with open("/proc/self/clear_refs", "w") as f:       # reset the peak (VmHWM) to the current RSS
    f.write("5")
before = status("VmRSS")
h = net.fit(X, labels, epochs=epochs)
after = status("VmHWM")
print(json.dumps({"n": n, "samples_per_s": n / min(h.seconds), "x_bytes": X.nbytes,
                  "peak_before": before, "peak_after": after}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000, 1000000])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(args.epochs)], capture_output=True,
                             text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    best = max(r["samples_per_s"] for r in results)
    print(f"{'samples':>9} {'samples/s':>12} {'vs fastest':>10} {'X MiB':>8} {'peak RSS growth in fit MiB':>27}")
    for r in results:
        growth = (r["peak_after"] - r["peak_before"]) / 2 ** 20
        print(f"{r['n']:>9,} {r['samples_per_s']:>12,.0f} {r['samples_per_s'] / best:>9.2f}x "
              f"{r['x_bytes'] / 2 ** 20:>8,.0f} {growth:>27,.1f}")


if __name__ == "__main__":
    main()
