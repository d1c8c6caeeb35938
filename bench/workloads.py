"""fastnn against a numpy matrix-form trainer (and PyTorch, scikit-learn when installed) on issue 4's workloads.

Workloads (sigmoid layers, quadratic loss, shuffled mini-batches):
  seed    [784, 30, 10],           batch 10,  eta 3.0, the shared MNIST digits (20,000)
  medium  [784, 256, 128, 10],     batch 32,  eta 0.5, the shared MNIST digits (20,000)
  wide    [1024, 1024, 1024, 10],  batch 256, eta 0.5, 8,192 random samples

For each workload and dtype, epochs of the trainers alternate (median of
--repeats), and predict on 10,000 samples is timed against numpy's forward
pass. PyTorch runs the same network (nn.Linear + nn.Sigmoid, SGD) on all
cores; scikit-learn's MLPRegressor (solver "sgd", no momentum, logistic
hidden layers) has a linear output layer, the nearest it offers, runs one
partial_fit pass per epoch, and uses learning rate 0.01 (its linear output
diverges at the workloads' rates); only its speed is compared. Every line prints samples/s and the ratio to numpy measured in the same
run. fastnn's epoch is the one fit times in History.seconds. "fastnn async" is
fit(asynchronous=True) on all cores (Hogwild: each thread trains on whole
mini-batches at once; not reproducible), from the same starting weights.

Before each timed section the script sleeps 0.2 s: OpenBLAS's worker threads
(numpy) and OpenMP's (fastnn) keep spinning for a while after a call, and on
a 2-core machine a spinning thread of one library slows the next timed call
of the other.

    python bench/workloads.py [--workloads seed medium wide] [--dtypes float32 float64] [--repeats 5]
"""
import argparse
import os
import statistics
import time

import numpy as np

import fastnn
from fastnn import _reference as ref

from seed import DEFAULT_MNIST, numpy_epoch
WORKLOADS = {
    "seed": dict(sizes=[784, 30, 10], batch=10, eta=3.0, data="mnist"),
    "medium": dict(sizes=[784, 256, 128, 10], batch=32, eta=0.5, data="mnist"),
    "wide": dict(sizes=[1024, 1024, 1024, 10], batch=256, eta=0.5, data="random"),
}


def load_data(spec, dtype, mnist_dir):
    if spec["data"] == "mnist":
        X, labels = fastnn.load_mnist(mnist_dir, dtype=dtype)
        X, labels = X[:20000], labels[:20000]
    else:
        rng = np.random.default_rng(0)
        X = rng.random((8192, spec["sizes"][0])).astype(dtype)
        labels = rng.integers(0, spec["sizes"][-1], 8192)
    return np.ascontiguousarray(X), fastnn.one_hot(labels, spec["sizes"][-1], dtype=dtype)


def torch_trainer(sizes, weights, biases, dtype):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    tdtype = torch.float32 if dtype == "float32" else torch.float64
    layers = []
    for W, b in zip(weights, biases):
        lin = torch.nn.Linear(W.shape[1], W.shape[0]).to(tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.Sigmoid()]
    model = torch.nn.Sequential(*layers)

    def epoch(X, Y, batch, eta, rng):
        opt = torch.optim.SGD(model.parameters(), lr=eta)
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
        order = torch.from_numpy(rng.permutation(len(X)))
        for start in range(0, len(X), batch):
            idx = order[start:start + batch]
            xb, yb = Xt[idx], Yt[idx]
            opt.zero_grad()
            loss = 0.5 * ((model(xb) - yb) ** 2).sum() / len(idx)
            loss.backward()
            opt.step()
    return epoch


def sklearn_trainer(sizes, batch, eta):
    try:
        from sklearn.neural_network import MLPRegressor
    except ImportError:
        return None
    model = MLPRegressor(hidden_layer_sizes=tuple(sizes[1:-1]), activation="logistic", solver="sgd",
                         # a rate at which its linear output stays finite: only its speed is compared
                         batch_size=batch, learning_rate_init=0.01, momentum=0.0, nesterovs_momentum=False,
                         alpha=0.0, shuffle=True, random_state=0)

    def epoch(X, Y, batch, eta, rng):
        model.partial_fit(X, Y)
    return epoch


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    args = parser.parse_args()
    print(f"{'workload':<8} {'dtype':<8} {'what':<19} {'samples/s':>12} {'vs numpy':>9} {'vs torch':>9}")
    for name in args.workloads:
        spec = WORKLOADS[name]
        for dtype in args.dtypes:
            X, Y = load_data(spec, dtype, args.mnist)
            net = fastnn.Network(spec["sizes"], dtype=dtype, seed=0, init="scaled")
            net_async = fastnn.Network(spec["sizes"], dtype=dtype, seed=0, init="scaled")
            weights = [w.copy() for w in net.weights]
            biases = [b.copy() for b in net.biases]
            others = {"torch": torch_trainer(spec["sizes"], weights, biases, dtype),
                      "sklearn": sklearn_trainer(spec["sizes"], spec["batch"], spec["eta"])}
            others = {k: v for k, v in others.items() if v is not None}
            rng = np.random.default_rng(0)
            times = {"fastnn": [], "fastnn async": [], "numpy": [], **{k: [] for k in others}}
            for _ in range(args.repeats):
                for k, model, asynchronous in (("fastnn", net, False), ("fastnn async", net_async, True)):
                    time.sleep(0.2)
                    h = model.fit(X, Y, epochs=1, batch_size=spec["batch"], learning_rate=spec["eta"],
                                  asynchronous=asynchronous)
                    times[k].append(h.seconds[0])
                time.sleep(0.2)
                t0 = time.perf_counter()
                numpy_epoch(weights, biases, X, Y, spec["batch"], spec["eta"], rng)
                times["numpy"].append(time.perf_counter() - t0)
                for k, epoch in others.items():
                    time.sleep(0.2)
                    t0 = time.perf_counter()
                    epoch(X, Y, spec["batch"], spec["eta"], rng)
                    times[k].append(time.perf_counter() - t0)
            rate = {k: len(X) / statistics.median(v) for k, v in times.items()}
            for k in times:
                vs_torch = f"{rate[k] / rate['torch']:>8.2f}x" if "torch" in rate else ""
                print(f"{name:<8} {dtype:<8} {'train ' + k:<19} {rate[k]:>12,.0f} {rate[k] / rate['numpy']:>8.2f}x "
                      f"{vs_torch}", flush=True)
            Xp = np.ascontiguousarray(np.resize(X, (10000, X.shape[1])))
            pt = {"fastnn": [], "numpy": []}
            for _ in range(args.repeats):
                time.sleep(0.2)
                t0 = time.perf_counter()
                net.predict(Xp)
                pt["fastnn"].append(time.perf_counter() - t0)
                time.sleep(0.2)
                t0 = time.perf_counter()
                ref.forward(weights, biases, Xp)
                pt["numpy"].append(time.perf_counter() - t0)
            prate = {k: 10000 / statistics.median(v) for k, v in pt.items()}
            for k in pt:
                print(f"{name:<8} {dtype:<8} {'predict ' + k:<19} {prate[k]:>12,.0f} "
                      f"{prate[k] / prate['numpy']:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
