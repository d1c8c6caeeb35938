"""fastnn: fully-connected neural networks trained by mini-batch SGD in compiled Cython kernels.

    >>> import fastnn
    >>> net = fastnn.Network([784, 30, 10], dtype="float32", seed=0)
    >>> history = net.fit(X, labels, epochs=30, batch_size=10, learning_rate=3.0)
    >>> net.predict(X_new)          # (n, 10) output activations
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._typing import PathLike, Seed
from .data import load_mnist, make_digits, minibatches, one_hot
from .history import History
from .modelfile import ModelFileError
from .network import Network
from . import recipes     # fastnn.recipes.SEED etc. after a bare `import fastnn`

if TYPE_CHECKING:     # for type checkers; at run time __getattr__ imports them on first use
    from .estimators import MLPClassifier, MLPRegressor


def load(path: PathLike, *, seed: Seed = None) -> Network:
    """Load a network saved with ``Network.save``; see :mod:`fastnn.modelfile` for the format.

    Loading an untrusted file never runs code. A malformed file raises
    :class:`ModelFileError` (a ValueError) before anything large is allocated.
    ``seed`` seeds the loaded network's shuffling generator.
    """
    return Network.load(path, seed=seed)


def build_info() -> dict[str, Any]:
    """What the installed kernels were compiled with, for bug reports and for checking a build.

    Returns a dict:

    - ``"openmp"``: whether OpenMP is compiled in (without it every call runs on one thread);
    - ``"bounds_checks"``: whether Cython's bounds checks are on (``FASTNN_DEBUG_CYTHON=1``),
      found by reading one past the end of a memoryview;
    - ``"sanitizer"``: ``"address"`` for a ``FASTNN_SANITIZE=address`` build, else None;
    - ``"compile_args"``: the compiler arguments setup.py chose (a tuple of str), e.g.
      ``-march=native`` unless the build was ``FASTNN_PORTABLE=1``.
    """
    from . import _core
    return _core._build_info()


__version__ = "0.1.0"

_ESTIMATORS = ("MLPClassifier", "MLPRegressor")


def __getattr__(name: str) -> Any:
    """fastnn.MLPClassifier / fastnn.MLPRegressor, imported on first use (they need scikit-learn)."""
    if name in _ESTIMATORS:
        try:
            from . import estimators
        except ImportError as e:
            if (e.name or "").split(".")[0] == "sklearn":
                raise ImportError(f"fastnn.{name} needs scikit-learn: pip install 'fastnn[sklearn]'") from e
            raise
        return getattr(estimators, name)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_ESTIMATORS))

__all__ = ["Network", "History", "load", "build_info", "ModelFileError", "minibatches", "load_mnist", "make_digits", "one_hot", "recipes",
           "__version__", "MLPClassifier", "MLPRegressor"]
