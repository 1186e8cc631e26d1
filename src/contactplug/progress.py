"""Progress people can see, in a terminal and in a log.

On a terminal: a tqdm bar, erased when done. Anywhere else (a pipe, a log file, a Nextflow
task, PyMOL's output): a plain line at every tenth of the work (done/total, rate, ETA).
Either way a last line gives the total and the time it took. Lines are INFO records of the
`contactplug` logger, so `-q` silences them and the PyMOL plugin routes them into its own
feedback; the bar is drawn only when that logger would show them.

Standard library only (tqdm is used when importable): this module travels with the plugin.
"""

from __future__ import annotations

import logging
import math
import sys
import time

log = logging.getLogger("contactplug")


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Count `total` units of work (`unit`: forwards, proteins) under a name (`what`).

    >>> with Progress(1801, "jacobian 1TEN_A", "forwards") as bar:
    ...     bar.update(20)
    """

    def __init__(
        self,
        total: int,
        what: str,
        unit: str = "forwards",
        enabled: bool = True,
        steps: int = 10,
        stream=None,
    ) -> None:
        self.total, self.what, self.unit, self.steps = int(total), what, unit, steps
        self.done = 0
        self.enabled = bool(enabled) and self.total > 0 and log.isEnabledFor(logging.INFO)
        self._start = time.perf_counter()
        self._next_step = 1
        self._bar = None
        stream = sys.stderr if stream is None else stream
        if self.enabled and _is_terminal(stream):
            try:
                from tqdm import tqdm
            except ImportError:  # PyMOL's Python without tqdm: plain lines
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=self.total, desc=what, unit=unit, leave=False, file=stream)

    def rate(self) -> float:
        elapsed = time.perf_counter() - self._start
        return self.done / elapsed if elapsed > 0 else math.inf

    def update(self, n: int = 1) -> None:
        if not self.enabled:
            return
        self.done = min(self.total, self.done + n)
        if self._bar is not None:
            self._bar.update(n)
            return
        if self.done >= self.total:
            return  # the last line comes from close()
        step = self.done * self.steps // self.total
        if step >= self._next_step:
            self._next_step = step + 1
            rate = self.rate()
            eta = (self.total - self.done) / rate if rate > 0 else math.inf
            log.info(
                "%s: %d/%d %s (%d %%), %.1f %s/s, ETA %s",
                self.what,
                self.done,
                self.total,
                self.unit,
                100 * self.done // self.total,
                rate,
                self.unit,
                _duration(eta) if math.isfinite(eta) else "unknown",
            )

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elapsed = time.perf_counter() - self._start
        per = f", {self.done / elapsed:.1f} {self.unit}/s" if elapsed > 0 else ""
        log.info("%s: %d %s in %s%s", self.what, self.done, self.unit, _duration(elapsed), per)
        self.enabled = False  # close once

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        elif self._bar is not None:  # an error: erase the bar, print no total
            self._bar.close()
            self._bar = None
