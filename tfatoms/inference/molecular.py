"""Properties of one molecule from any ASE calculator (a reference method or a tfatoms model): bond lengths,
normal modes and the experimental lines they match, the distance distributions of an MD trajectory (thesis sec. 5.3,
Figs. 5.4-5.6 on C20; ``reproductions/schnet_c60.py`` on C60), and the time of one energy+force call."""
from __future__ import annotations

import numpy as np


def bond_lengths(atoms, cutoff: float = 1.7) -> np.ndarray:
    """Sorted lengths (A) of all pairs of ``atoms`` closer than ``cutoff`` A (C20: the 30 edges of the cage)."""
    d = atoms.get_all_distances()
    i, j = np.triu_indices(len(atoms), k=1)
    lengths = d[i, j]
    return np.sort(lengths[lengths < cutoff])


def length_groups(lengths, n: int = 3) -> list[np.ndarray]:
    """The sorted ``lengths`` split at their ``n - 1`` largest gaps into ``n`` groups, shortest first (C60: the 30
    6:6 and the 60 5:6 bonds)."""
    lengths = np.sort(np.asarray(lengths, float))
    if len(lengths) < n:
        raise ValueError(f"{len(lengths)} lengths cannot form {n} groups")
    cuts = np.sort(np.argsort(np.diff(lengths))[::-1][:n - 1]) + 1
    return np.split(lengths, cuts)


def distinct_lengths(lengths, n: int = 3) -> np.ndarray:
    """The means of the ``n`` :func:`length_groups` of ``lengths`` (C20's three distinct bond lengths, thesis
    Fig. 5.4: 1.41, 1.45 and 1.52 A)."""
    return np.array([g.mean() for g in length_groups(lengths, n)])


def normal_modes(atoms, calculator, delta: float = 0.005, nfree: int = 2, workdir=None) -> np.ndarray:
    """Harmonic frequencies (cm^-1, ascending; imaginary ones as negative numbers) of ``atoms`` at a minimum, from
    the mass-weighted Hessian (thesis sec. 5.3, eq. after Fig. 5.5) by central differences of ``calculator``'s
    forces (``ase.vibrations.Vibrations``, displacements of ``delta`` A, ASE's masses). The 6 translations and
    rotations of a molecule are near 0; ``workdir`` keeps ASE's displacement cache (default: a temporary one)."""
    import tempfile
    from pathlib import Path

    from ase.vibrations import Vibrations

    mol = atoms.copy()
    mol.calc = calculator
    with tempfile.TemporaryDirectory(prefix="tfatoms-vib-") as tmp:
        vib = Vibrations(mol, name=str(Path(workdir or tmp) / "vib"), delta=float(delta), nfree=int(nfree))
        vib.run()
        freqs = vib.get_frequencies()
        if workdir is None:
            vib.clean()
    real = np.where(np.abs(freqs.imag) > np.abs(freqs.real), -np.abs(freqs.imag), freqs.real)
    return np.sort(real)


def vibrational_frequencies(atoms, calculator, **kwargs) -> np.ndarray:
    """The ``3 N - 6`` largest of :func:`normal_modes` (a non-linear molecule's vibrations), cm^-1, ascending."""
    return normal_modes(atoms, calculator, **kwargs)[6:]


def closest_modes(frequencies, lines) -> np.ndarray:
    """For each of the experimental ``lines`` (cm^-1), the index into ``frequencies`` (cm^-1) of the mode closest
    to it in frequency: an assignment by position only (no symmetry, no intensity), so a degenerate level gives
    any one of its modes, and two lines may pick the same mode when the spectrum has nothing closer."""
    f = np.asarray(frequencies, float).reshape(-1)
    x = np.asarray(lines, float).reshape(-1)
    if not len(f):
        raise ValueError("no frequencies to match the lines to")
    return np.abs(f[None, :] - x[:, None]).argmin(axis=1)


def time_calls(calc, atoms, n: int) -> float:
    """Seconds per energy+force call of ``calc`` on slightly moved copies of ``atoms`` (after one warm-up)."""
    import time

    a = atoms.copy()
    a.calc = calc
    a.get_forces()
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(n):
        a.positions = atoms.positions + rng.normal(scale=0.01, size=atoms.positions.shape)
        a.get_forces()
    return (time.perf_counter() - t0) / n


def cage_distributions(positions) -> dict[str, np.ndarray]:
    """Distances of frames ``positions`` ``(..., n_atoms, 3)`` A (any leading axes: frames, beads), flattened:

    * ``nearest``: each atom's distance to its nearest neighbour;
    * ``diameter``: each atom's distance to its farthest atom (C20: the atom across the cage);
    * ``pairs``: all pair distances (for the radial distribution function).
    """
    x = np.asarray(positions, float)
    x = x.reshape(-1, *x.shape[-2:])
    d = np.linalg.norm(x[:, :, None] - x[:, None], axis=-1)
    n = x.shape[1]
    i, j = np.triu_indices(n, k=1)
    off = d + np.where(np.eye(n, dtype=bool), np.inf, 0.0)
    return {"nearest": off.min(axis=-1).ravel(), "diameter": d.max(axis=-1).ravel(), "pairs": d[:, i, j].ravel()}
