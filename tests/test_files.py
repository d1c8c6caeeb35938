"""Model files (fastnn.modelfile), pickling and copying."""
import copy
import json
import os
import pickle
import re
import stat
import struct
import threading

import numpy as np
import pytest

import fastnn
from fastnn import modelfile

CONFIGS = [
    dict(sizes=[4, 3, 2], dtype="float64"),
    dict(sizes=[7, 5, 6, 3], dtype="float32", activation="relu", output_activation="softmax",
         loss="cross_entropy", init="he"),
    dict(sizes=[3, 1], dtype="float64", activation="tanh", output_activation="identity", init="glorot"),
    dict(sizes=[5, 4, 2], dtype="float64", activation="relu", output_activation="exp", loss="poisson"),
]


def _small(**kw):
    kw = dict(CONFIGS[0], **kw)
    return fastnn.Network(kw.pop("sizes"), seed=0, **kw)


@pytest.mark.parametrize("config", CONFIGS)
def test_save_load_round_trip(tmp_path, config):
    config = dict(config)
    net = fastnn.Network(config.pop("sizes"), seed=1, **config)
    X = np.random.default_rng(0).random((5, net.sizes[0]))
    path = net.save(tmp_path / "model.fastnn")
    loaded = fastnn.load(path, seed=2)   # seeded: the shuffled order below is the same in every run
    assert repr(loaded) == repr(net)
    assert loaded.dtype == net.dtype
    for p, q in zip(net.weights + net.biases, loaded.weights + loaded.biases):
        assert p.dtype == q.dtype and np.array_equal(p, q)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert os.listdir(tmp_path) == ["model.fastnn"]          # no temporary file left
    # a loaded network trains (at a small rate: with the exp output and the Poisson loss
    # the default 3.0 diverges in some shuffled orders, and fit then refuses the epoch)
    loaded.fit(X, np.zeros(5, dtype=int), epochs=1, batch_size=2, learning_rate=0.1)
    assert not np.array_equal(loaded.weights[-1], net.weights[-1])


def test_bytes_paths_save_and_load(tmp_path):
    net = _small()
    path = bytes(tmp_path / "m.fastnn")
    assert net.save(path) == str(tmp_path / "m.fastnn")         # os.fsdecode'd, as the docstring says
    loaded = fastnn.load(path)
    assert all(np.array_equal(p, q) for p, q in zip(net.weights + net.biases, loaded.weights + loaded.biases))
    open(tmp_path / "bad", "wb").write(b"x" * 40)
    with pytest.raises(modelfile.ModelFileError, match="^" + re.escape(str(tmp_path / "bad")) + ": not a valid"):
        fastnn.load(bytes(tmp_path / "bad"))


def test_save_follows_symlinks_and_writes_pipes_in_place(tmp_path):
    """Saving through a symlink replaces the file it names and keeps the link (as open() does); a
    path that is a FIFO (or a device: /dev/stdout, /dev/null) is written in place, where renaming a
    new file over it used to replace the pipe or device itself."""
    net = _small()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "v1.fastnn").write_bytes(b"old")
    link = tmp_path / "current.fastnn"
    link.symlink_to(os.path.join("models", "v1.fastnn"))
    net.save(link)
    assert link.is_symlink() and os.readlink(link) == os.path.join("models", "v1.fastnn")
    assert np.array_equal(fastnn.load(tmp_path / "models" / "v1.fastnn")._theta, net._theta)
    assert sorted(os.listdir(tmp_path)) == ["current.fastnn", "models"]
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()), daemon=True)
    reader.start()
    net.save(fifo)
    reader.join(timeout=60)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received and received[0][:8] == modelfile.MAGIC
    (tmp_path / "copy.fastnn").write_bytes(received[0])
    assert np.array_equal(fastnn.load(tmp_path / "copy.fastnn")._theta, net._theta)


def test_file_layout_is_as_documented(tmp_path):
    net = _small()
    path = net.save(tmp_path / "m.fastnn")
    data = open(path, "rb").read()
    magic, version, hlen = struct.unpack("<8sII", data[:16])
    assert magic == modelfile.MAGIC and version == 1
    header = json.loads(data[16:16 + hlen])
    assert header["sizes"] == [4, 3, 2] and header["n_params"] == 4 * 3 + 3 + 3 * 2 + 2
    theta = np.frombuffer(data[16 + hlen:], dtype="<f8")
    np.testing.assert_array_equal(theta[:12].reshape(3, 4), net.weights[0])
    np.testing.assert_array_equal(theta[12:15], net.biases[0])


def test_pickle_and_copies_are_independent():
    net = _small(sizes=[5, 4, 3], activation="tanh")
    X = np.random.default_rng(1).random((6, 5))
    for clone in (pickle.loads(pickle.dumps(net)), copy.copy(net), copy.deepcopy(net)):
        assert repr(clone) == repr(net)
        np.testing.assert_array_equal(clone.predict(X), net.predict(X))
        clone.weights[0][...] = 0
        assert not np.all(net.weights[0] == 0)
    # an n_threads set by hand travels too; None stays "every core" of the machine unpickling
    net.n_threads = 1
    assert all(c.n_threads == 1 for c in (pickle.loads(pickle.dumps(net)), copy.copy(net), copy.deepcopy(net)))
    net.n_threads = None
    assert pickle.loads(pickle.dumps(net))._n_threads_asked is None
    # the shuffling generator state travels too: the same training gives the same result
    a, b = copy.deepcopy(net), pickle.loads(pickle.dumps(net))
    y = np.array([0, 1, 2, 0, 1, 2])
    a.fit(X, y, epochs=2, batch_size=2)
    b.fit(X, y, epochs=2, batch_size=2)
    assert np.array_equal(a.weights[0], b.weights[0])


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_partial_fit_continues_after_pickle_and_copy(optimizer):
    """The optimizer's state (velocity, Adam moments, step count) travels with the network: it used to
    be dropped, so partial_fit after a pickle or a copy started the moments afresh."""
    rng = np.random.default_rng(2)
    X, y = rng.random((40, 5)), rng.integers(0, 3, 40)
    net = _small(sizes=[5, 4, 3])
    settings = dict(optimizer=optimizer, learning_rate=0.05, batch_size=8)
    net.partial_fit(X, y, **settings)
    copies = [pickle.loads(pickle.dumps(net)), copy.copy(net), copy.deepcopy(net)]
    net.partial_fit(X, y, **settings)
    for other in copies:
        other.partial_fit(X, y, **settings)
        assert np.array_equal(other._theta, net._theta)
    if optimizer != "sgd":     # the copies' state is their own
        assert not np.shares_memory(copies[0]._opt.m1 if optimizer == "adam" else copies[0]._opt.v,
                                    net._opt.m1 if optimizer == "adam" else net._opt.v)


def test_truncated_file_at_every_offset(tmp_path):
    path = _small().save(tmp_path / "m.fastnn")
    data = open(path, "rb").read()
    cut = tmp_path / "cut.fastnn"
    for n in range(len(data)):
        cut.write_bytes(data[:n])
        with pytest.raises(fastnn.ModelFileError):
            fastnn.load(cut)


def test_random_bytes_and_other_files(tmp_path):
    rng = np.random.default_rng(2)
    bad = tmp_path / "bad.fastnn"
    for size in (0, 3, 16, 100, 5000):
        bad.write_bytes(rng.bytes(size))
        with pytest.raises(fastnn.ModelFileError, match="magic|prefix"):
            fastnn.load(bad)
    bad.write_bytes(pickle.dumps({"evil": "payload"}))
    with pytest.raises(fastnn.ModelFileError, match="magic"):
        fastnn.load(bad)


def _forge(tmp_path, header, payload=b"", version=1, hlen=None):
    body = json.dumps(header).encode()
    path = tmp_path / "forged.fastnn"
    path.write_bytes(struct.pack("<8sII", modelfile.MAGIC, version, len(body) if hlen is None else hlen)
                     + body + payload)
    return path


def _good_header(net, payload):
    import zlib
    return {"sizes": list(net.sizes), "dtype": net.dtype.name, "activation": "sigmoid",
            "output_activation": "sigmoid", "loss": "quadratic", "init": "normal",
            "n_params": net.n_params, "crc32": zlib.crc32(payload)}


def test_forged_headers_are_rejected(tmp_path):
    net = _small()
    payload = net._theta.astype("<f8").tobytes()
    good = _good_header(net, payload)
    assert np.array_equal(fastnn.load(_forge(tmp_path, good, payload)).weights[0], net.weights[0])
    cases = [
        (dict(good, sizes=[4, 3, 3]), "n_params"),                           # inconsistent shapes
        (dict(good, sizes=[4, 0, 2]), "sizes"),
        (dict(good, sizes="4,3,2"), "sizes"),
        (dict(good, dtype="float16"), "dtype"),
        (dict(good, activation="softsign"), "activation"),
        (dict(good, loss=3), "loss"),
        ({k: v for k, v in good.items() if k != "crc32"}, "crc32"),
        (dict(good, crc32=good["crc32"] ^ 1), "checksum"),
        (dict(good, sizes=[100000, 100000, 100000], n_params=100000 * 100000 * 2 + 200000), "need"),
    ]
    for header, match in cases:
        with pytest.raises(fastnn.ModelFileError, match=match):
            fastnn.load(_forge(tmp_path, header, payload))
    with pytest.raises(fastnn.ModelFileError, match="version 2"):
        fastnn.load(_forge(tmp_path, good, payload, version=2))
    with pytest.raises(fastnn.ModelFileError, match="header of"):
        fastnn.load(_forge(tmp_path, good, payload, hlen=2 ** 31))
    with pytest.raises(fastnn.ModelFileError, match="JSON"):
        p = tmp_path / "j.fastnn"
        p.write_bytes(struct.pack("<8sII", modelfile.MAGIC, 1, 5) + b"{oops" + payload)
        fastnn.load(p)
    nan_payload = np.full(net.n_params, np.nan).astype("<f8").tobytes()
    with pytest.raises(fastnn.ModelFileError, match="NaN"):
        fastnn.load(_forge(tmp_path, _good_header(net, nan_payload), nan_payload))


def test_save_errors_name_the_path_and_keep_the_old_model(tmp_path, monkeypatch):
    net = _small()
    with pytest.raises(OSError, match="missing"):
        net.save(tmp_path / "missing" / "m.fastnn")
    target = tmp_path / "m.fastnn"
    net.save(target)
    other = _small(sizes=[4, 5, 2])

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="m.fastnn"):
        other.save(target)
    monkeypatch.undo()
    assert fastnn.load(target).sizes == (4, 3, 2)          # the old model is intact
    assert os.listdir(tmp_path) == ["m.fastnn"]             # and no temporary file is left


def test_save_into_read_only_directory(tmp_path, monkeypatch):
    """A directory that refuses new files (simulated: CI runs as root, which ignores permissions)."""
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(OSError, match="cannot save the model to .*ro.fastnn: Permission denied"):
        _small().save(tmp_path / "ro.fastnn")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_save_to_a_directory_or_an_empty_path_is_refused(tmp_path, monkeypatch):
    """An empty path is refused before any file is made (it used to make a temporary file beside the
    working directory); a directory is never replaced, and no temporary file is left."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    made = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: made.append(path) or real_open(path, *a, **k))
    with pytest.raises(FileNotFoundError, match="the path is empty"):
        _small().save("")
    assert made == []
    monkeypatch.undo()
    with pytest.raises(IsADirectoryError, match="cannot save the model to .*work"):
        _small().save(tmp_path / "work")
    assert os.listdir(tmp_path) == ["work"] and os.listdir(tmp_path / "work") == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_saved_files_get_the_mode_open_would_give(tmp_path):
    """A new model file gets 0o666 less the umask, as open() would (it used to be 0o600, the
    temporary file's mode); saving over a file keeps that file's mode."""
    old = os.umask(0o022)
    try:
        _small().save(tmp_path / "a.fastnn")
        os.umask(0o077)
        _small().save(tmp_path / "b.fastnn")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.fastnn").st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "b.fastnn").st_mode & 0o777 == 0o600
    os.chmod(tmp_path / "a.fastnn", 0o640)
    _small(sizes=[4, 5, 2]).save(tmp_path / "a.fastnn")
    assert os.stat(tmp_path / "a.fastnn").st_mode & 0o777 == 0o640
    assert fastnn.load(tmp_path / "a.fastnn").sizes == (4, 5, 2)
    assert sorted(os.listdir(tmp_path)) == ["a.fastnn", "b.fastnn"]
