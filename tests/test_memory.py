"""fit makes no copy of a C-contiguous X in the network's dtype: peak memory stays near X's size."""
import json
import os
import subprocess
import sys

import pytest

CHILD = r"""
import json, sys
import numpy as np
import fastnn
rng = np.random.default_rng(0)
X = rng.random((100000, 784), dtype=np.float32)
labels = rng.integers(0, 10, 100000)
net = fastnn.Network([784, 30, 10], dtype="float32", seed=0)
net.fit(X[:1000], labels[:1000], epochs=1)


def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024


results = {}
for name, data in (("float32", X), ("float64", None)):
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                                    # reset the peak to the current RSS
    before = status("VmRSS")
    if data is None:                                    # a float64 X must be converted: a copy shows
        net.fit(X.astype(np.float64), labels, epochs=1)
    else:
        net.fit(data, labels, epochs=1)
    results[name] = status("VmHWM") - before
print(json.dumps({"x_bytes": X.nbytes, **results}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc to reset peak RSS")
def test_fit_does_not_copy_x():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    # the model, its batch buffers, the one-hot targets (4 MB) and the permutation (0.8 MB)
    assert r["float32"] <= 0.05 * r["x_bytes"] + 8 * 2 ** 20, r
    assert r["float64"] >= r["x_bytes"], r           # the measure does see a copy
