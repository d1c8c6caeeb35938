"""README's examples run as written: its Python blocks (on a slice of the shared digits, so they
take seconds) and its command-line block (on small generated files), so README cannot drift from
the API. What each example's comments promise is checked too."""
import ast
import importlib.util
import inspect
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from conftest import REPO, require

README = os.path.join(REPO, "README.md")


def _readme():
    with open(README, encoding="utf-8") as f:
        return f.read()


def _blocks(language):
    """The README's fenced code blocks in ``language``, in order."""
    return re.findall(r"^```%s\n(.*?)^```$" % language, _readme(), flags=re.S | re.M)


def _python_block(starting):
    """The one Python block whose first line starts with ``starting``."""
    found = [code for code in _blocks("python") if code.startswith(starting)]
    assert len(found) == 1, f"README has {len(found)} Python blocks starting with {starting!r}"
    return found[0]


def _run(code, namespace, name):
    exec(compile(code, f"<README: {name}>", "exec"), namespace)


@pytest.fixture
def small_mnist(mnist, monkeypatch):
    """fastnn.load_mnist, when README's example calls it, gives the first 2,200 shared digits:
    the example's 20,000 for training and the rest for validation become 2,000 and 200."""
    X, labels = mnist
    calls = []

    def load_mnist(path, *args, **kwargs):
        calls.append(path)
        return X[:2200], labels[:2200]

    monkeypatch.setattr(fastnn, "load_mnist", load_mnist)
    return calls


def test_the_python_examples_run_and_keep_their_comments_promises(small_mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                      # the example saves digits.fastnn here
    first = _python_block("import fastnn\n")
    assert "X[:20000]" in first and "X[20000:]" in first
    first = first.replace("20000", "2000")           # the training slice of the 2,200 digits
    namespace = {}
    _run(first, namespace, "the first example")
    assert small_mnist == ["path/to/mnist"]
    X, net, history = namespace["X"], namespace["net"], namespace["history"]
    # "X (n, 784) float32 in [0, 1]"
    assert X.shape == (2200, 784) and X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1
    # it printed the accuracy and why training stopped
    printed = capsys.readouterr().out.strip().splitlines()[-1].split(maxsplit=1)
    assert float(printed[0]) == net.accuracy(X[2000:], namespace["labels"][2000:]) > 0.5
    assert printed[1] == history.stop_reason
    assert len(history.val_loss) == 10 and len(history.train_loss) == 10
    # "(5, 10), rows sum to 1"
    probabilities = namespace["probabilities"]
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    # the saved and loaded network predicts as the trained one, bit for bit
    assert np.array_equal(namespace["same"].predict(X[:5]), probabilities)

    # SEED.md's network trained by a loop of train_batch calls, on the same digits
    loop = _python_block("net = fastnn.Network([784, 30, 10], seed=0)")
    _run(loop, namespace, "the train_batch loop")
    seed_net = namespace["net"]
    assert seed_net.sizes == (784, 30, 10) and seed_net is not net
    assert seed_net.accuracy(X, namespace["labels"]) > 0.8


def test_the_import_swap_example_runs(mnist):
    require("sklearn")
    X, labels = mnist
    code = _python_block("# from sklearn.neural_network import MLPClassifier\n")
    namespace = {"X_train": X[:1000], "y_train": labels[:1000], "X_test": X[1000:1500], "y_test": labels[1000:1500]}
    _run(code, namespace, "the import swap")
    clf = namespace["clf"]
    assert type(clf) is fastnn.MLPClassifier
    assert clf.score(X[1000:1500], labels[1000:1500]) > 0.8
    assert clf.predict_proba(X[1000:1500]).shape == (500, 10)
    assert len(clf.loss_curve_) == clf.n_iter_ and [w.shape for w in clf.coefs_] == [(784, 100), (100, 10)]


def _commands():
    """README's `python -m fastnn` command lines (a trailing backslash continues a line)."""
    commands = []
    for code in _blocks("bash"):
        for line in code.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:3] == ["python", "-m", "fastnn"] and len(words) > 3:
                commands.append(words)
    return commands


def test_the_command_line_examples_run(tmp_path):
    """train, evaluate and predict, as README writes them, on small files of the names it uses."""
    commands = _commands()
    assert [c[3] for c in commands] == ["train", "evaluate", "predict"]
    plot = "--plot" in commands[0]
    if plot and importlib.util.find_spec("matplotlib") is None:
        # (the optional plot extra; CI runs this test again once it is installed)
        i = commands[0].index("--plot")
        del commands[0][i:i + 2]
        plot = False
    rng = np.random.default_rng(0)

    def digits(n):      # 784 features in [0, 1]; the label is which tenth of them is brightest
        X = rng.random((n, 784)) * 0.5      # (easier than make_digits: 300 rows train to > 0.9)
        y = rng.integers(0, 10, n)
        for i, k in enumerate(y):
            X[i, 78 * k:78 * (k + 1)] += 0.5
        return X, y

    for name in ("train.csv", "val.csv", "new.csv"):
        X, y = digits(300)
        header = ",".join([f"x{j}" for j in range(784)] + ["label"])
        np.savetxt(tmp_path / name, np.column_stack([X, y]), delimiter=",", header=header, comments="",
                   fmt=["%.4f"] * 784 + ["%d"])
    X, y = digits(300)
    np.savez(tmp_path / "test.npz", X=X, y=y)

    outputs = []
    for words in commands:
        r = subprocess.run([sys.executable, *words[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{shlex.join(words)}\n{r.stderr}"
        outputs.append(r.stdout + r.stderr)
    for name in ("model.fastnn", "predictions.csv") + (("curves.png",) if plot else ()):
        assert (tmp_path / name).stat().st_size > 0, name
    model = fastnn.load(tmp_path / "model.fastnn")
    assert model.sizes == (784, 100, 10)
    # evaluate prints the model's accuracy on test.npz
    accuracy = model.accuracy(X, y)
    assert accuracy > 0.9
    assert f"accuracy {accuracy:.4f}" in outputs[1], outputs[1]
    # predict writes, for each row of new.csv, the predicted class and the outputs
    X_new = np.loadtxt(tmp_path / "new.csv", delimiter=",", skiprows=1)[:, :784]
    out = model.predict(X_new)
    # (each output is written as the shortest text that reads back as the same number of out's dtype)
    written = np.loadtxt(tmp_path / "predictions.csv", delimiter=",", skiprows=1, dtype=out.dtype)
    assert written.shape == (300, 11)
    assert np.array_equal(written[:, 1:], out)
    assert np.array_equal(written[:, 0], out.argmax(axis=1))


def _api_table():
    """README's API table as (first cell, second cell) pairs."""
    text = _readme()
    table = text[text.index("| name | what it does |"):]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ", 1)]
        rows.append((cells[0], cells[1]))
    return rows


def _resolve(name):
    """The object README's name stands for: Network, net.<attribute>, fastnn.<path>, History.<method>."""
    if name.startswith("net."):
        return getattr(fastnn.Network, name[len("net."):])
    obj = fastnn
    for part in name.split(".")[1 if name.startswith("fastnn.") else 0:]:
        obj = getattr(obj, part)
    return obj


def _check_signature(text):
    """README's ``name(params)`` against the real signature: the same parameters in the same order,
    each keyword-only or not as written, with the same defaults; a trailing ``...`` stands for
    the rest."""
    name, params = re.fullmatch(r"([\w.]+)\((.*)\)", text).groups()
    obj = _resolve(name)
    partial = params.endswith("...")
    if partial:
        params = params[:-3].rstrip(", ")
    written = ast.parse(f"def f({params}): pass").body[0].args
    actual = [p for p in inspect.signature(obj).parameters.values() if p.name != "self"]
    positional = [a.arg for a in written.posonlyargs + written.args]
    keyword = [a.arg for a in written.kwonlyargs]
    names = positional + keyword
    assert names == [p.name for p in actual][:len(names)], text
    if not partial:
        assert len(names) == len(actual), f"{text} leaves out parameters of {name}"
    defaults = dict(zip(positional[len(positional) - len(written.defaults):], written.defaults))
    defaults.update({a: d for a, d in zip(keyword, written.kw_defaults) if d is not None})
    for arg, p in zip(names, actual):
        assert (arg in keyword) == (p.kind is inspect.Parameter.KEYWORD_ONLY), f"{text}: {arg}"
        if arg in defaults:
            node = defaults[arg]
            want = node.id if isinstance(node, ast.Name) else ast.literal_eval(node)
            got = getattr(p.default, "__name__", p.default) if isinstance(node, ast.Name) else p.default
            assert p.default is not inspect.Parameter.empty and got == want, f"{text}: {arg}={p.default!r}"
        else:
            assert p.default is inspect.Parameter.empty, f"{text}: README gives {arg} no default"


def test_the_api_table_names_what_exists_with_its_signature():
    checked = []
    net = fastnn.Network([3, 2])
    for first, second in _api_table():
        names = re.findall(r"`([^`]+)`", first)
        if first == "`History`":     # its methods are named in the second cell
            names = [f"History.{m}" for m in re.findall(r"`(\w+\(.*?\))`", second)]
        for name in names:
            if "(" in name:
                _check_signature(name)
            elif name.startswith("net."):
                getattr(net, name[len("net."):])
            else:
                _resolve(name)
            checked.append(name)
    assert len(checked) >= 30 and "Network" in checked[0]
    # and each fastnn.<name> is there after `import fastnn` alone (in a fresh interpreter: other
    # tests import submodules, which makes them attributes of the package)
    dotted = sorted({n.split("(")[0] for n in checked if n.startswith("fastnn.")})
    code = "import fastnn\n" + "".join(f"{n}\n" for n in dotted)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "fastnn.recipes.SEED" in dotted
