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


def energy_force_metrics(energy_pred, energy_ref, n_atoms, forces_pred=None, forces_ref=None,
                         stress_pred=None, stress_ref=None) -> dict[str, float]:
    """Per-key errors of energy (+ forces, stress) predictions, as thesis ch. 5 reports them.

    Args:
        energy_pred, energy_ref: ``(n_structures,)`` eV.
        n_atoms: ``(n_structures,)`` real atoms of each structure.
        forces_pred, forces_ref: ``(n_atoms_total, 3)`` eV/A, real atoms only (no padding).
        stress_pred, stress_ref: ``(n_structures, 3, 3)`` eV/A^3.

    Returns a flat dict: ``energy_mae``, ``energy_rmse`` (per structure, eV),
    ``energy_mae_per_atom``, ``energy_rmse_per_atom`` (of ``(E - E_hat) / N``, eV/atom),
    ``energy_mse``; with forces ``forces_mae``, ``forces_rmse``, ``forces_mse``
    (component-wise, pooled over every real atom and component, eV/A, as the thesis'
    tables) and ``forces_vector_mae`` (mean over atoms of ``|F_i - F_hat_i|``, the
    thesis' eq. after 5.7); with stress ``stress_mae``, ``stress_rmse`` (over the 9 components).
    """
    n = np.asarray(n_atoms, dtype=np.float64).reshape(-1)
    e = error_metrics(energy_pred, energy_ref)
    ep = np.asarray(energy_pred, dtype=np.float64).reshape(-1)
    er = np.asarray(energy_ref, dtype=np.float64).reshape(-1)
    if n.shape != ep.shape:
        raise ValueError(f"n_atoms has {n.size} entries for {ep.size} energies")
    per_atom = error_metrics(ep / n, er / n)
    out = {"energy_mae": e["mae"], "energy_rmse": e["rmse"], "energy_mse": e["mse"],
           "energy_mae_per_atom": per_atom["mae"], "energy_rmse_per_atom": per_atom["rmse"]}
    if forces_pred is not None:
        fp = np.asarray(forces_pred, dtype=np.float64).reshape(-1, 3)
        fr = np.asarray(forces_ref, dtype=np.float64).reshape(-1, 3)
        if len(fp) != n.sum():
            raise ValueError(f"{len(fp)} force rows for {int(n.sum())} atoms")
        f = error_metrics(fp, fr)
        out.update(forces_mae=f["mae"], forces_rmse=f["rmse"], forces_mse=f["mse"],
                   forces_vector_mae=float(np.mean(np.linalg.norm(fp - fr, axis=1))))
    if stress_pred is not None:
        s = error_metrics(stress_pred, stress_ref)
        out.update(stress_mae=s["mae"], stress_rmse=s["rmse"])
    return out
