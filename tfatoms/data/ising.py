"""2D Ising model: exact energy and a Monte Carlo sampler (EDNN paper sec. 3.1, eq. 1).

``H = -J sum_<ij> s_i s_j`` over nearest-neighbour pairs of an ``L x L`` periodic
square lattice, spins ``s = +-1``, energies in units of ``J`` (``J = 1``: ferromagnet).
The critical temperature is ``T_c = 2 / ln(1 + sqrt 2) ~ 2.269 J/k_B`` (Onsager).

Sampling combines checkerboard Metropolis sweeps (local moves, good far from
T_c) with Wolff cluster flips (no critical slowing down near T_c), both
compiled with numba and driven by one seeded generator, so a dataset is a pure
function of its parameters. Datasets are cached to HDF5 together with those
parameters (:func:`ising_dataset`, through :mod:`tfatoms.data.cache`). Lattices are images, not atom
structures: a dataset is a dict of arrays, not an :class:`~tfatoms.data.atoms.AtomsData`.
"""
from __future__ import annotations

import json
import math

import numpy as np
from numba import njit
from tqdm import tqdm

from tfatoms._validation import non_negative_int, positive_int
from tfatoms.data.cache import DatasetCache

#: Onsager's critical temperature of the square-lattice Ising model, J/k_B.
T_CRITICAL = 2.0 / math.log(1.0 + math.sqrt(2.0))


def ising_energy(spins, J: float = 1.0) -> np.ndarray:
    """Exact periodic nearest-neighbour energy ``-J sum_<ij> s_i s_j`` of ``(..., L1, L2)`` spins, float64."""
    s = np.asarray(spins, dtype=np.float64)
    if s.ndim < 2:
        raise ValueError(f"spins must have at least 2 dimensions (..., L1, L2), got shape {s.shape}")
    if not np.all(np.abs(s) == 1):
        raise ValueError("spins must all be +1 or -1")
    bonds = s * (np.roll(s, -1, axis=-1) + np.roll(s, -1, axis=-2))
    return -J * bonds.sum(axis=(-2, -1))


@njit(cache=True)
def _seed(seed):
    np.random.seed(seed)


@njit(cache=True)
def _metropolis_sweeps(spins, beta, n_sweeps):
    """Checkerboard Metropolis: each sweep updates the even, then the odd sublattice of every chain."""
    n, L1, L2 = spins.shape
    for c in range(n):
        b = beta[c]
        acc4 = math.exp(-4.0 * b)
        acc8 = math.exp(-8.0 * b)
        for _ in range(n_sweeps):
            for parity in range(2):
                for i in range(L1):
                    for j in range((i + parity) % 2, L2, 2):
                        s = spins[c, i, j]
                        nb = (spins[c, (i + 1) % L1, j] + spins[c, (i - 1) % L1, j]
                              + spins[c, i, (j + 1) % L2] + spins[c, i, (j - 1) % L2])
                        de = 2 * s * nb  # energy change of flipping, in J
                        if de <= 0 or (de == 4 and np.random.random() < acc4) or \
                                (de == 8 and np.random.random() < acc8):
                            spins[c, i, j] = -s


@njit(cache=True)
def _wolff_flips(spins, beta, n_flips):
    """Wolff single-cluster updates: grow a cluster with bond probability 1 - exp(-2 beta J), flip it.

    Sites are flipped as they join the cluster, so ``spin == s0`` also means "not yet in the cluster".
    """
    n, L1, L2 = spins.shape
    stack = np.empty(L1 * L2, dtype=np.int64)
    for c in range(n):
        p_add = 1.0 - math.exp(-2.0 * beta[c])
        for _ in range(n_flips):
            i0 = np.random.randint(L1)
            j0 = np.random.randint(L2)
            s0 = spins[c, i0, j0]
            spins[c, i0, j0] = -s0
            stack[0] = i0 * L2 + j0
            top = 1
            while top > 0:
                top -= 1
                i, j = stack[top] // L2, stack[top] % L2
                for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    a, b = (i + di) % L1, (j + dj) % L2
                    if spins[c, a, b] == s0 and np.random.random() < p_add:
                        spins[c, a, b] = -s0
                        stack[top] = a * L2 + b
                        top += 1


def default_temperatures(n: int, rng: np.random.Generator, t_min: float = 1.0, t_max: float = 4.5,
                         critical_fraction: float = 0.5, critical_width: float = 0.3) -> np.ndarray:
    """Temperatures spanning the ordered and disordered phases, with a share concentrated near T_c.

    ``1 - critical_fraction`` of the chains are uniform in ``[t_min, t_max]``; the
    rest are uniform in ``T_c +- critical_width``.
    """
    n_crit = int(round(critical_fraction * n))
    return np.concatenate([rng.uniform(t_min, t_max, n - n_crit),
                           rng.uniform(T_CRITICAL - critical_width, T_CRITICAL + critical_width, n_crit)])


def sample_ising(n_samples: int, size: int = 8, temperatures=None, n_chains: int | None = None,
                 equilibration_sweeps: int = 500, sweeps_between: int = 10, wolff_flips: int = 2,
                 seed: int = 0, progress: bool = True):
    """Decorrelated Ising configurations over a range of temperatures.

    Args:
        n_samples: configurations to return.
        size: lattice side ``L`` (even, for the checkerboard).
        temperatures: one temperature per chain (array); default :func:`default_temperatures`.
        n_chains: independent chains (default ``min(n_samples, 2000)``); each yields
            ``ceil(n_samples / n_chains)`` samples.
        equilibration_sweeps: Metropolis sweeps (plus Wolff flips) before the first sample.
        sweeps_between: Metropolis sweeps between recorded samples of a chain; each
            is followed by ``wolff_flips`` Wolff cluster flips.
        seed: seeds both the chain initialisation and the numba generator.

    Returns:
        dict with ``spins`` (n, L, L) int8, ``temperature`` (n,) float64, ``energy`` (n,) float64 (units of J).
    """
    n_samples = positive_int(n_samples, "n_samples")
    size = positive_int(size, "size")
    seed = non_negative_int(seed, "seed")
    if size % 2:
        raise ValueError(f"lattice size must be even for checkerboard updates, got {size}")
    rng = np.random.default_rng(seed)
    if temperatures is None:
        n_chains = n_chains or min(n_samples, 2000)
        temperatures = default_temperatures(n_chains, rng)
    temperatures = np.asarray(temperatures, dtype=np.float64)
    if temperatures.ndim != 1 or len(temperatures) == 0 or not np.all(np.isfinite(temperatures)) \
            or np.any(temperatures <= 0):
        raise ValueError("temperatures must be a non-empty 1-D array of positive finite values")
    n_chains = len(temperatures)
    per_chain = -(-n_samples // n_chains)
    beta = 1.0 / temperatures
    _seed(int(rng.integers(2**31 - 1)))
    spins = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n_chains, size, size))
    ordered = temperatures < T_CRITICAL  # start ordered phases from an ordered state
    spins[ordered] = np.where(rng.random(ordered.sum()) < 0.5, 1, -1).astype(np.int8)[:, None, None]
    _metropolis_sweeps(spins, beta, equilibration_sweeps)
    _wolff_flips(spins, beta, 10 * wolff_flips)
    out = np.empty((per_chain, n_chains, size, size), dtype=np.int8)
    for k in tqdm(range(per_chain), desc=f"Ising {size}x{size}", disable=not progress, unit="sample/chain"):
        _metropolis_sweeps(spins, beta, sweeps_between)
        _wolff_flips(spins, beta, wolff_flips)
        out[k] = spins
    # interleave chains so any prefix covers all temperatures
    out = out.reshape(-1, size, size)[:n_samples]
    temps = np.tile(temperatures, per_chain)[:n_samples]
    return {"spins": out, "temperature": temps, "energy": ising_energy(out)}


_KEYS = ("spins", "temperature", "energy")


def _write(data: dict, f) -> None:
    for k in _KEYS:
        f.create_dataset(k, data=data[k], compression="gzip" if k == "spins" else None)
    f.attrs["hamiltonian"] = "H = -J sum_<ij> s_i s_j, J = 1, periodic square lattice (exact)"
    f.attrs["sampler"] = "checkerboard Metropolis + Wolff clusters (tfatoms.data.ising)"


def _read_legacy(f, params):
    """The layout an earlier tfatoms wrote (the same datasets, ``params`` attribute, no ``cache_format``)."""
    if "params" not in f.attrs or "spins" not in f:
        return None
    return json.loads(f.attrs["params"]), lambda: {k: f[k][...] for k in _KEYS}


#: The Ising HDF5 cache (:mod:`tfatoms.data.cache`). Lattices of spins are images, not atom structures, so the
#: data stay three arrays (spins, temperature, energy) rather than an :class:`~tfatoms.data.atoms.AtomsData`.
CACHE = DatasetCache("Ising", write=_write, read=lambda f: {k: f[k][...] for k in _KEYS}, legacy=_read_legacy)


def ising_dataset(path, n_samples: int, size: int = 8, seed: int = 0, progress: bool = True, **kwargs):
    """Load an Ising dataset from the HDF5 cache at ``path``, generating it on first use.

    The generation parameters are stored in the file and checked (:mod:`tfatoms.data.cache`): a cache built
    with other parameters is a :class:`~tfatoms.data.cache.CacheMismatchError` naming the parameter, a damaged
    one a :class:`~tfatoms.data.cache.CacheFileError`; neither is overwritten (delete the file to regenerate).
    The file is written under a temporary name and renamed (:func:`tfatoms._io.atomic_path`), so an interrupted
    generation leaves no half-written cache, and temporaries of killed runs are removed. While it is
    generated the cache's directory is locked: a second process that needs to
    generate a dataset there meanwhile gets :class:`~tfatoms._io.DirectoryInUse` at once.
    """
    params = {"n_samples": positive_int(n_samples, "n_samples"), "size": positive_int(size, "size"),
              "seed": non_negative_int(seed, "seed"),
              **{k: v for k, v in kwargs.items() if k != "temperatures"}}
    if "temperatures" in kwargs:
        params["temperatures"] = np.asarray(kwargs["temperatures"], dtype=float).round(12).tolist()
    return CACHE.get(path, params, lambda: sample_ising(n_samples, size, seed=seed, progress=progress, **kwargs))
