"""bench/ab.py, the in-process A/B of two builds that README's comparisons come from."""
import os
import subprocess
import sys

import pytest

import fastnn
from conftest import MNIST_DIR, REPO, require

AB = os.path.join(REPO, "bench", "ab.py")


def _ab(*args):
    return subprocess.run([sys.executable, AB, *args], cwd=os.path.join(REPO, "bench"), capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("cores, threads", [("auto", None), ("far", None), ("auto", 1)])
def test_ab_finds_a_build_the_same_as_itself(mnist, cores, threads):
    """The installed build against itself: both import under names of their own, every round ends with
    the same weights, and each state with epochs in both gets a ratio; --cores far runs both builds'
    threads as on far cores, --threads 1 fits on one thread."""
    require("sklearn")
    build = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    more = [] if threads is None else ["--threads", str(threads)]
    r = _ab(build, build, "--rounds", "2", "--epochs", "2", "--cores", cores, "--mnist", MNIST_DIR, *more)
    assert r.returncode == 0, r.stderr
    assert f"threads as on {cores} cores" in r.stdout
    assert ("on all cores' threads" if threads is None else f"on {threads} thread(s)") in r.stdout
    assert "same weights in 2 of 2 rounds" in r.stdout
    assert f"A ({build}): " in r.stdout and f"B ({build}): " in r.stdout
    ratios = [line.split(": ")[1] for line in r.stdout.splitlines() if line.startswith("B / A, ")]
    assert len(ratios) == 2
    assert any(ratio != "no epochs in both" and float(ratio) > 0 for ratio in ratios)


def test_ab_runs_the_seed_workload(mnist):
    """--workload seed fits bench/seed.py's network ([784, 30, 10], batches of 10, eta 3.0) in both builds
    and says so; the installed build against itself ends every round with the same weights."""
    build = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    r = _ab(build, build, "--workload", "seed", "--dtype", "float32", "--rounds", "2", "--epochs", "1",
            "--mnist", MNIST_DIR)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("seed workload, float32, 2 rounds of 1 epochs per build"), r.stdout
    assert "same weights in 2 of 2 rounds" in r.stdout
    medians = [float(part.split()[1]) for line in r.stdout.splitlines() if line.startswith(("A (", "B ("))
               for part in line.split(": ", 1)[1].split(", ") if not part.split()[1] == "-"]
    assert medians and all(ms > 0 for ms in medians)


def test_ab_refuses_a_directory_without_a_build(tmp_path):
    r = _ab(str(tmp_path), str(tmp_path), "--rounds", "1")
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path} holds no fastnn package")


def test_predict_ab_finds_a_build_the_same_as_itself(mnist):
    """bench/predict_ab.py: the installed build against itself predicts the same outputs, and each build's
    median time per call and their ratio are printed."""
    build = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    r = subprocess.run([sys.executable, os.path.join(REPO, "bench", "predict_ab.py"), build, build, "--rows", "3",
                        "--rounds", "2", "--calls", "5", "--mnist", MNIST_DIR], cwd=os.path.join(REPO, "bench"),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("predict of 3 row(s) on [784, 100, 10] float64, 2 rounds of 5 calls"), r.stdout
    assert "same outputs: yes" in r.stdout
    times = [float(line.split(": ")[1]) for line in r.stdout.splitlines() if line.startswith(("A (", "B ("))]
    ratio = float(r.stdout.split("B / A: ")[1].split()[0])
    assert len(times) == 2 and all(t > 0 for t in times) and ratio > 0


def _inputs(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "bench", "inputs.py"), *args],
                          cwd=os.path.join(REPO, "bench"), capture_output=True, text=True, timeout=600)


def test_inputs_times_each_width_on_the_lists(mnist):
    """bench/inputs.py: a row per width with the digits' nonzeros in those inputs, each thread's share of W,
    m1 and m2, the median ms per epoch and its ratio to the first width's (1 for the first)."""
    require("sklearn")
    r = _inputs("--widths", "784,200", "--rounds", "1", "--epochs", "1", "--mnist", MNIST_DIR)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("20000 digits, float64, 1 rounds of 1 epochs per width, threads as on near cores")
    rows = [line.split() for line in r.stdout.splitlines()[2:]]
    assert [row[0] for row in rows] == ["784", "200"]
    nonzeros = [float(row[1]) for row in rows]
    assert 100 < nonzeros[1] < nonzeros[0] < 784 * 0.3       # fewer inputs, fewer nonzeros; MNIST is sparse
    assert [row[2:4] for row in rows] == [["941", "KB"], ["240", "KB"]]     # 3 * k * 100 * 8 bytes / 2 threads
    assert float(rows[0][4]) > 0 and float(rows[1][4]) > 0
    assert rows[0][5] == "1.000"
    assert float(rows[1][5]) == pytest.approx(float(rows[1][4]) / float(rows[0][4]), abs=0.002)


@pytest.mark.parametrize("args", [["--widths", "784,x"], ["--widths", "0"], ["--widths", "785"], ["--rounds", "0"]])
def test_inputs_refuses_bad_options(args):
    r = _inputs(*args, "--mnist", "/nonexistent")
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1].startswith("error: ")
