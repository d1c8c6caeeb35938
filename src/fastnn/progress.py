"""Progress display for Network.fit(verbose=True)."""
import sys
import time

__all__ = ["Progress"]


class Progress:
    """Shows training progress on ``stream``.

    On a terminal, a line that updates within each epoch (a bar, samples done,
    samples/s, time left) and is then replaced by the epoch's summary line;
    elsewhere (a file, a pipe, a notebook log) only the one summary line per epoch.
    """

    def __init__(self, epochs, n, stream=None, interval=0.2):
        self.stream = sys.stdout if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())
        self.epochs, self.n, self.interval = epochs, n, interval
        self.width = 0

    def start_epoch(self, epoch):
        self.epoch, self.t0 = epoch, time.perf_counter()

    def update(self, done):
        """Called between slices of the epoch with the number of samples done so far."""
        if not self.live:
            return
        elapsed = time.perf_counter() - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.n - done) / rate if rate > 0 else float("nan")
        filled = int(20 * done / self.n)
        bar = "=" * filled + (">" if filled < 20 else "") + " " * max(0, 19 - filled)
        self._write(f"\repoch {self.epoch}/{self.epochs} [{bar}] {done:,}/{self.n:,}  "
                    f"{rate:,.0f} samples/s  {left:.1f}s left")

    def end_epoch(self, line):
        if self.live:
            self._write("\r" + " " * self.width + "\r")
        print(line, file=self.stream, flush=True)
        self.width = 0

    def message(self, line):
        print(line, file=self.stream, flush=True)

    def _write(self, text):
        self.width = max(self.width, len(text))
        self.stream.write(text)
        self.stream.flush()
