"""Error metrics of predictions against references, as the papers report them."""
from __future__ import annotations

import numpy as np


def error_metrics(predicted, reference) -> dict[str, float]:
    """Mean absolute, root-mean-square, median absolute and maximum absolute errors, and the MSE.

    The EDNN paper reports the *median* absolute error (sec. 3.1, 3.2.2), CNNAS and the
    thesis the *mean* absolute error; all are returned so tables can name theirs.
    """
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    r = np.asarray(reference, dtype=np.float64).reshape(-1)
    if p.shape != r.shape:
        raise ValueError(f"mismatched array lengths: predicted={p.size}, reference={r.size}")
    if p.size == 0:
        raise ValueError("no predictions to score")
    err = p - r
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2))),
            "median_ae": float(np.median(np.abs(err))), "max_ae": float(np.max(np.abs(err))),
            "mse": float(np.mean(err**2))}
