"""What a study says: summary statistics, sensitivities (standardised regression), the figure."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def numeric_columns(frame: Any, columns: Sequence[str]) -> list[str]:
    """The design columns that are numbers and vary (sensitivities are defined for them)."""
    out = []
    for name in columns:
        values = frame[name]
        if values.dtype.kind in "biuf" and values.dtype.kind != "b" and values.nunique() > 1:
            out.append(name)
    return out


def sensitivity(frame: Any, columns: Sequence[str], qoi: Sequence[str]) -> Any:
    """Standardised regression coefficients of each QoI on the numeric design columns, over
    the completed runs, and the R^2 of that linear fit (near 1: the SRCs explain the QoI; the
    squared SRCs then sum to about R^2, each one a share of the variance for independent
    inputs). A DataFrame: one row per QoI, a column per parameter, plus r2 and runs."""
    import pandas as pd

    xs = numeric_columns(frame, columns)
    ok = frame[frame["status"] == "completed"]
    rows = {}
    for label in qoi:
        y = ok[label].to_numpy(dtype=float)
        keep = np.isfinite(y)
        row: dict[str, float] = dict.fromkeys(xs, np.nan)
        row["r2"], row["runs"] = np.nan, int(keep.sum())
        if xs and keep.sum() > len(xs) + 1 and np.std(y[keep]) > 0:
            x = ok[xs].to_numpy(dtype=float)[keep]
            yk = y[keep]
            xz = (x - x.mean(axis=0)) / x.std(axis=0)
            yz = (yk - yk.mean()) / yk.std()
            coef, *_ = np.linalg.lstsq(np.column_stack([xz, np.ones(len(yz))]), yz, rcond=None)
            fit = xz @ coef[:-1] + coef[-1]
            row.update(dict(zip(xs, coef[:-1], strict=True)))
            row["r2"] = float(1.0 - np.sum((yz - fit) ** 2) / np.sum(yz**2))
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def summary(frame: Any, qoi: Sequence[str]) -> Any:
    """Per QoI over the completed runs: count, mean, std, min, 5 %, median, 95 %, max."""
    import pandas as pd

    ok = frame[frame["status"] == "completed"]
    rows = {}
    for label in qoi:
        v = ok[label].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            rows[label] = {"runs": 0}
            continue
        p5, p50, p95 = np.percentile(v, [5, 50, 95])
        rows[label] = {
            "runs": len(v),
            "mean": v.mean(),
            "std": v.std(ddof=1) if len(v) > 1 else 0.0,
            "min": v.min(),
            "p5": p5,
            "median": p50,
            "p95": p95,
            "max": v.max(),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_study(
    frame: Any, columns: Sequence[str], qoi: Sequence[str], path: str | os.PathLike[str]
) -> Path:
    """A PNG: the scatter matrix of design parameters (columns) against QoIs (rows), failed
    runs marked, and each QoI's standardised regression coefficients as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = numeric_columns(frame, columns) or list(columns)[:1]
    labels = list(qoi) or []
    n_rows, n_cols = max(1, len(labels)), len(xs) + 1
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.0 * n_cols, 2.6 * n_rows), squeeze=False, layout="constrained"
    )
    ok = frame["status"] == "completed"
    src = sensitivity(frame, columns, labels) if labels else None
    for r, label in enumerate(labels):
        for c, name in enumerate(xs):
            ax = axes[r][c]
            x = frame[name]
            if x.dtype.kind not in "biuf":
                x = x.astype("category").cat.codes
            ax.scatter(x[ok], frame.loc[ok, label], s=8, alpha=0.6)
            if (~ok).any():
                ax.scatter(x[~ok], np.zeros((~ok).sum()), s=14, marker="x", color="red")
            if r == n_rows - 1:
                ax.set_xlabel(name)
            if c == 0:
                ax.set_ylabel(label)
        ax = axes[r][-1]
        if src is not None and xs:
            values = [src.loc[label].get(name, np.nan) for name in xs]
            ax.barh(xs, np.nan_to_num(values))
            ax.axvline(0, color="black", linewidth=0.5)
            ax.set_title(f"SRC (R² {src.loc[label, 'r2']:.2f})", fontsize=9)
    if not labels:
        axes[0][0].text(0.5, 0.5, "no quantities of interest", ha="center")
    target = Path(path)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


__all__ = ["numeric_columns", "plot_study", "sensitivity", "summary"]
