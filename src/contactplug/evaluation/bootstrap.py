"""Percentile-bootstrap confidence intervals over proteins (seeded), and how the reports
print a figure."""

from __future__ import annotations

import numpy as np


def bootstrap_ci(values, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float, int]:
    """(mean, low, high, n): percentile 95% interval of the mean, NaNs dropped, seeded."""
    x = np.asarray([v for v in values if not np.isnan(v)], dtype=np.float64)
    if len(x) == 0:
        return (np.nan, np.nan, np.nan, 0)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return (float(x.mean()), float(low), float(high), len(x))


def fmt_number(x, digits: int = 3) -> str:
    """A figure to `digits` places; n/a for None or NaN."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)
