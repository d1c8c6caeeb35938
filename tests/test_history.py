"""History, the progress display and learning-curve plots."""
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def _data(n=4000):
    rng = np.random.default_rng(0)
    X = rng.random((n, 20))
    return X, (X[:, 0] > X[:, 1]).astype(int)


def test_live_progress_updates_within_the_epoch_and_changes_nothing(monkeypatch):
    X, y = _data()
    quiet = fastnn.Network([20, 16, 2], seed=0)
    quiet_history = quiet.fit(X, y, epochs=2, batch_size=1)
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", term)
    live = fastnn.Network([20, 16, 2], seed=0)
    live_history = live.fit(X, y, epochs=2, batch_size=1, verbose=True)
    out = term.getvalue()
    # the epoch runs in slices (the first of 2048 batches), with an update line after each
    assert out.count("\repoch 1/2 [") >= 1 and out.count("\repoch 2/2 [") >= 1
    assert "samples/s" in out and "s left" in out and "2,048/4,000" in out
    assert "epoch 1/2  loss" in out and "epoch 2/2  loss" in out
    for p, q in zip(quiet.weights + quiet.biases, live.weights + live.biases):
        assert np.array_equal(p, q)                               # slicing the epoch is exact
    assert live_history.train_loss == quiet_history.train_loss     # so is the summed loss


def test_one_line_per_epoch_when_not_a_terminal(capsys):
    X, y = _data(200)
    net = fastnn.Network([20, 4, 2], seed=0)
    net.fit(X, y, epochs=3, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert [l.split()[1] for l in lines[:3]] == ["1/3", "2/3", "3/3"]
    assert "\r" not in "".join(lines)
    assert lines[-1] == "completed 3 epochs"


def test_messages_count_epochs_in_the_singular_and_plural(capsys):
    X, y = _data(200)
    net = fastnn.Network([20, 4, 2], seed=0)
    assert net.fit(X, y, epochs=1).message == "completed 1 epoch"
    h = net.fit(X, y, epochs=5, tol=1e9, patience=1)       # no epoch after the first falls by 1e9
    assert h.message == "stopped after epoch 2: the training loss did not fall by more than tol=1e+09 for 1 epoch in a row"
    h = net.fit(X, y, epochs=5, tol=1e9, patience=2)
    assert h.message.endswith("for 2 epochs in a row") and len(h.train_loss) == 3


def test_history_to_dict_is_json_ready():
    X, y = _data(200)
    net = fastnn.Network([20, 4, 2], seed=0)
    h = net.fit(X, y, epochs=2, validation_fraction=0.25)
    d = json.loads(json.dumps(h.to_dict()))
    assert d["train_loss"] == h.train_loss and d["learning_rate"] == [3.0, 3.0]
    assert len(d["val_accuracy"]) == 2 and len(d["seconds"]) == 2


def test_plot_without_matplotlib_says_what_to_install(monkeypatch, tmp_path):
    X, y = _data(100)
    h = fastnn.Network([20, 4, 2], seed=0).fit(X, y, epochs=2)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"fastnn\[plot\]"):
        h.plot(tmp_path / "curves.png")


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is the optional 'plot' extra")
    X, y = _data(300)
    h = fastnn.Network([20, 4, 2], seed=0).fit(X, y, epochs=3, validation_fraction=0.2)
    path = h.plot(tmp_path / "curves.png")
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    # no side effects on the user's matplotlib: no pyplot imported (so no backend chosen), no figure left
    code = ("import sys, numpy as np, fastnn\n"
            "X = np.random.default_rng(0).random((50, 3)); y = np.arange(50) % 2\n"
            f"fastnn.Network([3, 2], seed=0).fit(X, y, epochs=2).plot({str(tmp_path / 'b.png')!r})\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert open(tmp_path / "b.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no epochs"):
        fastnn.History().plot(tmp_path / "empty.png")
    # a bytes file name and a binary file object, as matplotlib's savefig takes them; nothing else
    assert h.plot(bytes(tmp_path / "c.png")) == bytes(tmp_path / "c.png")
    assert open(tmp_path / "c.png", "rb").read() == data
    buffer = io.BytesIO()
    assert h.plot(buffer) is buffer and buffer.getvalue() == data
    with pytest.raises(TypeError, match="file name or a binary file object, got 3"):
        h.plot(3)


def test_plot_format_follows_the_extension(tmp_path):
    """As with matplotlib's savefig: curves.svg is an SVG, a name without an extension a PNG, and an
    extension matplotlib cannot write is refused before any file is made (it used to get PNG bytes)."""
    pytest.importorskip("matplotlib", reason="matplotlib is the optional 'plot' extra")
    X, y = _data(100)
    h = fastnn.Network([20, 4, 2], seed=0).fit(X, y, epochs=2)
    assert b"<svg" in open(h.plot(tmp_path / "c.svg"), "rb").read(1000)
    assert open(h.plot(tmp_path / "c.PDF"), "rb").read(5) == b"%PDF-"
    assert open(h.plot(tmp_path / "curves"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert open(h.plot(tmp_path / "c.v2", format="png"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    buffer = io.BytesIO()
    assert b"<svg" in h.plot(buffer, format="svg").getvalue()[:1000]
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match=r"cannot plot to .*c\.csv: matplotlib writes no \.csv pictures.*svg"):
        h.plot(tmp_path / "c.csv")
    with pytest.raises(ValueError, match="format 'bogus' is not one matplotlib writes"):
        h.plot(tmp_path / "c.png", format="bogus")
    with pytest.raises(TypeError, match="format must be a str"):
        h.plot(tmp_path / "c.png", format=3)
    assert sorted(os.listdir(tmp_path)) == before
