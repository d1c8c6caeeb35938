"""The fastnn model file: a small, versioned, pickle-free format.

Layout (all integers little-endian)::

    offset  size  content
    0       8     magic b"\\x89FASTNN\\n"
    8       4     format version (uint32), currently 1
    12      4     header length H in bytes (uint32, at most 65536)
    16      H     header: UTF-8 JSON object, see below
    16+H    P*k   the parameters theta, little-endian float32 (k = 4) or float64 (k = 8),
                  layer by layer [W1 (n_out x n_in, row-major), b1, W2, b2, ...]

The header holds "sizes" (list of int), "dtype" ("float32" | "float64"),
"activation", "output_activation", "loss", "init", "n_params" (P) and
"crc32" (of the parameter bytes). Nothing in a file is ever executed:
loading parses JSON and copies numbers. Every check (magic, version,
header size and fields, parameter count against the file size, checksum)
runs before any large allocation; a file that fails one raises
:class:`ModelFileError` (a ValueError) saying which.

Saving is atomic: the file is written to a temporary file in the same
directory, flushed to disk (fsync) and renamed over the target, so a crash
leaves either the old file or the new one, never half of one. The file gets
the mode ``open()`` would give it (an existing file's, else 0o666 less the
umask); as with ``open()``, a symlink is followed, and a pipe or device
(``/dev/stdout``) is written in place.
"""
from __future__ import annotations

import errno
import json
import os
import secrets
import stat
import struct
import zlib
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._typing import PathLike

if TYPE_CHECKING:
    from .network import Network

__all__ = ["ModelFileError", "save", "read", "MAGIC", "FORMAT_VERSION"]

MAGIC = b"\x89FASTNN\n"
FORMAT_VERSION = 1
MAX_HEADER = 65536
_PREFIX = struct.Struct("<8sII")
_FIELDS = ("sizes", "dtype", "activation", "output_activation", "loss", "init", "n_params", "crc32")


class ModelFileError(ValueError):
    """A file is not a valid fastnn model file (wrong magic, version, header, size or checksum)."""


def _n_params(sizes):
    return sum(sizes[l + 1] * sizes[l] + sizes[l + 1] for l in range(len(sizes) - 1))


def save(net: Network, path: PathLike) -> str:
    """Write ``net`` to ``path`` atomically (see the module docstring). Returns ``path`` as a str."""
    path = os.fsdecode(path)
    snapshot = net._snapshot()
    net._check_parameters(snapshot)     # read() refuses such a file: never write one
    theta = np.ascontiguousarray(snapshot, dtype=net.dtype.newbyteorder("<"))
    payload = theta.tobytes()
    header = json.dumps({
        "format": "fastnn", "sizes": list(net.sizes), "dtype": net.dtype.name,
        "activation": net.activation, "output_activation": net.output_activation,
        "loss": net.loss_name, "init": net._init, "n_params": int(theta.size),
        "crc32": zlib.crc32(payload),
    }, sort_keys=True).encode("utf-8")

    def write(f):
        f.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(header)))
        f.write(header)
        f.write(payload)

    try:
        _atomic_write(path, write)
    except OSError as exc:
        where = f" to {path}" if path else ""
        raise OSError(exc.errno, f"cannot save the model{where}: {exc.strerror or exc}", path) from exc
    return path


def _atomic_write(path: str, write: Callable[[Any], None], *, text: bool = False) -> None:
    """Call ``write(f)`` on a new file in ``path``'s directory, fsync it, and rename it over ``path``.

    A crash leaves the old file or the new one, never half of one. Like ``open(path, "w")``:
    a symlink is followed (the file it names is replaced, the link kept), and the file gets the
    existing file's mode, else 0o666 less the umask (``tempfile.mkstemp`` would make it 0o600).
    A path that exists and is not a regular file (``/dev/stdout``, a FIFO, ``/dev/null``) is
    written in place: renaming over it would replace the device or pipe. ``text``: ``f`` is a
    text file (newline=""). Raises OSError, before making any file for an empty path or a
    directory; the temporary file is removed on any error.
    """
    if not path:    # os.path.realpath("") is the working directory: no file to write
        raise FileNotFoundError(errno.ENOENT, "the path is empty", path)
    if _written_in_place(path):
        with open(path, "w", newline="", encoding="utf-8") if text else open(path, "wb") as f:
            write(f)
        return
    if os.path.isdir(path):     # as open(path, "w") would refuse it, not after writing a whole file
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    path = os.path.realpath(path)     # through symlinks: the file they name is the one replaced
    directory = os.path.dirname(path)
    base = "." + os.path.basename(path) + "."
    fd: int | None = None
    tmp: str | None = None
    for _ in range(100):
        tmp = os.path.join(directory, base + secrets.token_hex(6) + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)   # the umask applies
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary file name", directory)
    try:
        if mode is not None:
            os.chmod(tmp, stat.S_IMODE(mode))
        with (os.fdopen(fd, "w", newline="", encoding="utf-8") if text else os.fdopen(fd, "wb")) as f:
            fd = None
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_directory(directory)
    finally:
        if fd is not None:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _written_in_place(path: str) -> bool:
    """Whether ``path`` exists and is neither a regular file nor a directory (a device or a pipe,
    such as /dev/stdout): _atomic_write writes into it instead of renaming a new file over it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _fsync_directory(directory):
    """Make the rename durable where the platform allows it (POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _bad(path, why):
    return ModelFileError(f"{path}: not a valid fastnn model file: {why}")


def read(path: PathLike) -> tuple[dict[str, Any], np.ndarray]:
    """(header dict, theta array) from a model file, fully validated; see load()."""
    path = os.fsdecode(path)
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        prefix = f.read(_PREFIX.size)
        if len(prefix) < _PREFIX.size:
            raise _bad(path, f"only {len(prefix)} bytes, shorter than the {_PREFIX.size}-byte prefix")
        magic, version, header_len = _PREFIX.unpack(prefix)
        if magic != MAGIC:
            raise _bad(path, "wrong magic number (not written by fastnn.Network.save)")
        if version != FORMAT_VERSION:
            raise _bad(path, f"format version {version}; this fastnn reads version {FORMAT_VERSION}")
        if header_len > MAX_HEADER:
            raise _bad(path, f"header of {header_len} bytes declared, more than the {MAX_HEADER} allowed")
        if _PREFIX.size + header_len > file_size:
            raise _bad(path, f"truncated: the header needs {header_len} bytes, the file ends before")
        try:
            header = json.loads(f.read(header_len).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _bad(path, f"header is not valid JSON ({exc})") from None
        _check_header(path, header)
        itemsize = np.dtype(header["dtype"]).itemsize
        expected = header["n_params"] * itemsize
        remaining = file_size - _PREFIX.size - header_len
        if remaining != expected:
            raise _bad(path, f"{header['n_params']} parameters need {expected} bytes, the file holds {remaining}"
                       + (" (truncated)" if remaining < expected else ""))
        payload = f.read(expected)
    if len(payload) != expected:
        raise _bad(path, "the file changed while it was read")
    if zlib.crc32(payload) != header["crc32"]:
        raise _bad(path, "checksum mismatch: the parameters are corrupted")
    theta = np.frombuffer(payload, dtype=np.dtype(header["dtype"]).newbyteorder("<"))
    return header, theta.astype(header["dtype"])


def _check_header(path, header):
    if not isinstance(header, dict):
        raise _bad(path, "header is not a JSON object")
    missing = [k for k in _FIELDS if k not in header]
    if missing:
        raise _bad(path, f"header lacks {', '.join(missing)}")
    sizes = header["sizes"]
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 2 ** 31 for s in sizes)):
        raise _bad(path, f"sizes must be a list of at least 2 positive integers, got {sizes!r}")
    if header["dtype"] not in ("float32", "float64"):
        raise _bad(path, f"dtype must be 'float32' or 'float64', got {header['dtype']!r}")
    for key in ("activation", "output_activation", "loss", "init"):
        if not isinstance(header[key], str):
            raise _bad(path, f"{key} must be a string, got {header[key]!r}")
    n = header["n_params"]
    if not isinstance(n, int) or isinstance(n, bool) or n != _n_params(sizes):
        raise _bad(path, f"n_params {n!r} does not match sizes {sizes} ({_n_params(sizes)} parameters)")
    if not isinstance(header["crc32"], int):
        raise _bad(path, "crc32 must be an integer")
