"""Per-element energy references and output scaling for the atom-wise readout (thesis sec. 3.4).

The readout of SchNet and DTNN (:class:`tfatoms.layers.AtomwiseReadout`) predicts::

    E = sum_i (e_sigma * E_hat_i + e_mu + ref[Z_i])

so a saved model gives total energies in eV from the atoms alone. ``ref`` is a
table of per-element energies: the free-atom energies where a dataset ships
them (QM9, thesis App. A.1: the network then learns only the interaction
part), otherwise the least-squares fit of :func:`fit_atom_refs` to the
training energies (the composition-only linear model ``E ~ sum_Z n_Z ref_Z``).
``e_mu`` and ``e_sigma`` are the mean and standard deviation of the per-atom
energy left after the references (thesis sec. 3.4, :func:`per_atom_scaling`),
which starts training at the per-atom mean predictor.

Units: energies in, references and scaling out, all in eV (any unit works, it
is carried through unchanged; the package uses eV).
"""
from __future__ import annotations

import numpy as np

from tfatoms._validation import positive_int

_MAX_ELEMENT = 118

__all__ = ["composition_matrix", "fit_atom_refs", "per_atom_scaling", "reference_energies"]


def _structures(numbers_per_structure, max_z: int) -> list[np.ndarray]:
    out = []
    for s, numbers in enumerate(numbers_per_structure):
        z = np.asarray(numbers)
        if z.ndim != 1 or z.size == 0:
            raise ValueError(f"structure {s}: atomic numbers must be a non-empty 1-D sequence, got shape {z.shape}")
        if not np.issubdtype(z.dtype, np.integer):
            if not np.all(np.isfinite(z)) or not np.all(z == np.round(z)):
                raise ValueError(f"structure {s}: atomic numbers must be integers, got {z!r}")
            z = z.astype(np.int64)
        bad = (z < 1) | (z > max_z)
        if bad.any():
            raise ValueError(f"structure {s}: atomic number {int(z[np.argmax(bad)])} is outside 1..max_z = {max_z}")
        out.append(z.astype(np.int64))
    if not out:
        raise ValueError("no structures given")
    return out


def _energies(energies, n_structures: int) -> np.ndarray:
    e = np.asarray(energies, dtype=np.float64)
    if e.ndim != 1 or len(e) != n_structures:
        raise ValueError(f"energies must be 1-D with one value per structure ({n_structures}), got shape {e.shape}")
    if not np.all(np.isfinite(e)):
        s = int(np.argmax(~np.isfinite(e)))
        raise ValueError(f"structure {s}: energy {e[s]!r} is not finite")
    return e


def composition_matrix(numbers_per_structure, max_z: int = 100) -> np.ndarray:
    """``C[s, Z]`` = number of atoms of element ``Z`` in structure ``s``, shape ``(n_structures, max_z + 1)``."""
    max_z = positive_int(max_z, "max_z")
    structures = _structures(numbers_per_structure, max_z)
    return np.stack([np.bincount(z, minlength=max_z + 1) for z in structures]).astype(np.float64)


def fit_atom_refs(numbers_per_structure, energies, max_z: int = 100) -> np.ndarray:
    """Per-element reference energies fitted by least squares, indexed by ``Z``.

    Solves ``min_ref || C ref - E ||_2`` with ``np.linalg.lstsq`` on the
    composition matrix ``C[s, Z]`` (:func:`composition_matrix`) restricted to the
    elements present; elements absent from every structure get exactly 0.
    Where the compositions do not determine the references (one stoichiometry,
    as in an MD17 trajectory, or elements always in the same ratio), the
    minimum-norm solution is returned: it still fits each structure's energy
    as well as any, which is all the readout needs.

    Args:
        numbers_per_structure: one sequence of atomic numbers (1..``max_z``) per structure.
        energies: ``(n_structures,)`` total energies, eV.
        max_z: largest atomic number of the model (its embedding has ``max_z + 1`` rows).

    Returns:
        ``(max_z + 1,)`` float64, eV per atom of each element (entry 0 unused, 0), to pass
        as ``element_references`` to :class:`~tfatoms.models.SchNet` / :class:`~tfatoms.models.DTNN`.
    """
    counts = composition_matrix(numbers_per_structure, max_z)
    e = _energies(energies, len(counts))
    present = np.flatnonzero(counts.sum(axis=0) > 0)
    solution, *_ = np.linalg.lstsq(counts[:, present], e, rcond=None)
    refs = np.zeros(counts.shape[1])
    refs[present] = solution
    return refs


def reference_energies(numbers_per_structure, atom_refs) -> np.ndarray:
    """``sum_i ref[Z_i]`` of each structure, ``(n_structures,)``, in the units of ``atom_refs`` (eV)."""
    refs = np.asarray(atom_refs, dtype=np.float64)
    if refs.ndim != 1 or len(refs) < 2 or not np.all(np.isfinite(refs)):
        raise ValueError(f"atom_refs must be a finite 1-D array indexed by Z, got shape {refs.shape}")
    structures = _structures(numbers_per_structure, len(refs) - 1)
    return np.array([refs[z].sum() for z in structures])


def per_atom_scaling(numbers_per_structure, energies, atom_refs=None) -> tuple[float, float]:
    """``(e_mu, e_sigma)`` of thesis sec. 3.4 for the energy left after the references.

    ``e_mu`` is the mean and ``e_sigma`` the standard deviation (``ddof=1``) over
    structures of ``(E_s - sum_i ref[Z_i]) / n_atoms_s``, eV per atom. With one
    structure, or energies the references fit exactly, ``e_sigma`` falls back to 1.
    """
    numbers = _structures(list(numbers_per_structure), _MAX_ELEMENT)
    e = _energies(energies, len(numbers))
    if atom_refs is not None:
        e = e - reference_energies(numbers, atom_refs)
    n = np.array([len(z) for z in numbers], dtype=np.float64)
    per_atom = e / n
    mu = float(per_atom.mean())
    sigma = float(per_atom.std(ddof=1)) if len(per_atom) > 1 else 0.0
    if not np.isfinite(sigma) or sigma <= 1e-12 * max(1.0, abs(mu)):
        sigma = 1.0
    return mu, sigma
