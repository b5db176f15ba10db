"""Resident memory of this process (Linux /proc), and its peak over a block of code.

The peak comes from VmHWM after resetting it (`echo 5 > /proc/self/clear_refs`), and
from a sampling thread as well, in case the kernel refuses the reset.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

MB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss() -> int | None:
    """Resident set size now, in bytes (None where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return None


def _high_water_mark() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


@dataclass
class PeakRss:
    """`with PeakRss() as peak: …` then peak.before, peak.peak (bytes) and peak.growth."""

    interval: float = 0.01
    before: int | None = None
    peak: int | None = None

    def __enter__(self) -> PeakRss:
        self.before = rss()
        self._hwm_reset = _reset_high_water_mark()
        self._sampled = self.before or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            now = rss() or 0
            self._sampled = max(self._sampled, now)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        hwm = _high_water_mark() if self._hwm_reset else None
        self.peak = max(self._sampled, hwm or 0, rss() or 0) or None

    @property
    def growth(self) -> int | None:
        return growth(self.before, self.peak)


def growth(before: int | None, peak: int | None) -> int | None:
    """Bytes the process grew by, or None where RSS cannot be read."""
    if before is None or peak is None:
        return None
    return peak - before
