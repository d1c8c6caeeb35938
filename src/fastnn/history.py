"""History: what happened during Network.fit, epoch by epoch."""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from ._typing import PathLike

__all__ = ["History"]


def _n_epochs(n: int) -> str:
    """'1 epoch', '3 epochs': a count of epochs for the messages fit and the command line print."""
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _plot_format(target: Any, format: str | None = None) -> str:
    """The picture format History.plot writes to ``target`` (a file name or a file object): ``format``
    if given, else the file name's extension, else "png". Raises ValueError for a format
    matplotlib cannot write, naming those it can. Needs matplotlib."""
    from matplotlib.backend_bases import FigureCanvasBase
    supported = sorted(FigureCanvasBase.get_supported_filetypes())
    if format is not None:
        if not isinstance(format, str):
            raise TypeError(f"format must be a str such as 'png', got {format!r}")
        if format.lower() not in supported:
            raise ValueError(f"format {format!r} is not one matplotlib writes; use one of {', '.join(supported)}")
        return format.lower()
    extension = os.path.splitext(target)[1][1:] if isinstance(target, str) else ""
    if not extension:
        return "png"
    if extension.lower() not in supported:
        raise ValueError(f"cannot plot to {target}: matplotlib writes no .{extension} pictures; name the file "
                         f"with one of the extensions {', '.join(supported)} (or none, for a PNG)")
    return extension.lower()


class History:
    """What happened during ``Network.fit``, one entry per completed epoch.

    Attributes
    ----------
    train_loss : list of float
        Mean training loss of each epoch, each sample's loss measured during
        the epoch just before its mini-batch's update (as scikit-learn's
        ``loss_curve_``).
    val_loss, val_accuracy : list of float
        Loss and accuracy on the validation data after each epoch; empty when
        there is none. Accuracy is recorded when the validation targets are
        class labels (1-D integers or one-hot rows).
    learning_rate : list of float
        The learning rate (or normalized step) used in each epoch.
    seconds : list of float
        Wall-clock seconds of each epoch (training and validation).
    best_epoch : int or None
        With early stopping, the epoch (1-based) whose parameters the network
        kept (the lowest validation loss); otherwise None.
    stop_reason : str
        Why training stopped: "max_epochs", "tol" (the monitored loss did not
        fall by more than ``tol`` for ``patience`` epochs in a row),
        "early_stopping" (the same, on the validation loss, with
        ``early_stopping=True``) or "callback" (a callback returned True).
    message : str
        The same, said in a sentence.
    """

    def __init__(self) -> None:
        self.train_loss: list[float] = []
        self.val_loss: list[float] = []
        self.val_accuracy: list[float] = []
        self.learning_rate: list[float] = []
        self.seconds: list[float] = []
        self.best_epoch: int | None = None
        self.stop_reason: str | None = None
        self.message: str = ""

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    def __len__(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict[str, Any]:
        """The history as a dict of plain Python lists, numbers and strings (JSON-ready)."""
        return {
            "train_loss": [float(x) for x in self.train_loss],
            "val_loss": [float(x) for x in self.val_loss],
            "val_accuracy": [float(x) for x in self.val_accuracy],
            "learning_rate": [float(x) for x in self.learning_rate],
            "seconds": [float(x) for x in self.seconds],
            "best_epoch": self.best_epoch,
            "stop_reason": self.stop_reason,
            "message": self.message,
        }

    def plot(self, path: PathLike | BinaryIO, *, format: str | None = None) -> PathLike | BinaryIO:
        """Write a picture of the learning curves (loss, and accuracy when recorded) to ``path``.

        ``path``: a file name, or a binary file object open for writing (``io.BytesIO``).
        ``format``: one of matplotlib's ("png", "svg", "pdf", ...); by default the file name's
        extension (``curves.svg`` is an SVG), and PNG for a name without one or a file object.
        A format matplotlib cannot write (``curves.csv``) raises ValueError before anything is
        written; ``format="png"`` writes a PNG whatever the name. Needs matplotlib
        (``pip install 'fastnn[plot]'``); without it, raises ImportError saying so. Returns ``path``.
        """
        if isinstance(path, (str, bytes, os.PathLike)):
            target: Any = os.fsdecode(path)
        elif callable(getattr(path, "write", None)):
            target = path
        else:
            raise TypeError(f"path must be a file name or a binary file object, got {path!r}")
        try:
            # a Figure of its own, not pyplot: no backend chosen, no global figure left open
            from matplotlib.figure import Figure
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install 'fastnn[plot]' "
                              "(or pip install matplotlib)") from None
        format = _plot_format(target, format)
        if not self.train_loss:
            raise ValueError("nothing to plot: the history has no epochs")
        epochs = range(1, len(self.train_loss) + 1)
        panels = 2 if self.val_accuracy else 1
        fig = Figure(figsize=(5.5 * panels, 4))
        axes = fig.subplots(1, panels, squeeze=False)
        ax = axes[0][0]
        ax.plot(epochs, self.train_loss, label="training loss")
        if self.val_loss:
            ax.plot(epochs, self.val_loss, label="validation loss")
        if self.best_epoch:
            ax.axvline(self.best_epoch, color="grey", linestyle=":", label="best epoch")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.legend()
        if self.val_accuracy:
            ax = axes[0][1]
            ax.plot(epochs, self.val_accuracy, color="tab:green")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("validation accuracy")
        fig.tight_layout()
        fig.savefig(target, format=format)
        return path

    def __repr__(self) -> str:
        last = f", train_loss={self.train_loss[-1]:.6g}" if self.train_loss else ""
        return f"History(epochs={self.epochs}{last}, stop_reason={self.stop_reason!r})"
