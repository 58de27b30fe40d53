"""Checks of user input that raise a clear ``ValueError`` naming the problem.

Every public entry point that takes coordinates, atomic numbers, grids or
arrays that must agree in length calls these before doing any work, so bad
input fails early, with a message, and nothing half-computed is returned.
"""
from __future__ import annotations

import numpy as np

#: Largest atomic number accepted (oganesson).
MAX_Z = 118


def finite_array(values, name: str, ndim: int | None = None, last_dim: int | None = None,
                 dtype=np.float64) -> np.ndarray:
    """Return ``values`` as an array after checking shape and finiteness.

    Raises ``ValueError`` if the array has the wrong rank or trailing
    dimension, or holds NaN or infinite entries (naming the first bad row).
    """
    arr = np.asarray(values, dtype=dtype)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if last_dim is not None and (arr.ndim == 0 or arr.shape[-1] != last_dim):
        raise ValueError(f"{name} must have last dimension {last_dim}, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = np.argwhere(bad)[0]
        raise ValueError(f"{name} contains NaN or infinite values (first at index {tuple(int(k) for k in first)})")
    return arr


def positions_array(positions, name: str = "positions", dim: int = 3, allow_empty: bool = False) -> np.ndarray:
    """Validate an ``(n_atoms, dim)`` array of finite Cartesian coordinates."""
    arr = finite_array(positions, name, ndim=2, last_dim=dim)
    if len(arr) == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: the structure has no atoms")
    return arr


def atomic_numbers_array(numbers, n_atoms: int | None = None, name: str = "atomic_numbers",
                         allowed=None) -> np.ndarray:
    """Validate atomic numbers: integers in 1..118 (or in ``allowed``), one per atom."""
    arr = np.asarray(numbers)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must be integers, got {arr.dtype} values such as {arr[:3]}")
    arr = arr.astype(np.int64)
    if n_atoms is not None and len(arr) != n_atoms:
        raise ValueError(f"{name} has {len(arr)} entries but there are {n_atoms} atoms")
    bad = (arr < 1) | (arr > MAX_Z)
    if allowed is not None:
        bad |= ~np.isin(arr, np.asarray(list(allowed)))
    if bad.any():
        k = int(np.argmax(bad))
        what = f"one of {sorted(int(z) for z in allowed)}" if allowed is not None else f"in 1..{MAX_Z}"
        raise ValueError(f"unknown element: {name}[{k}] = {int(arr[k])} is not {what}")
    return arr


def same_length(**arrays) -> int:
    """Check that all given arrays have the same first dimension and return it."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"mismatched array lengths: {detail}")
    return next(iter(lengths.values())) if lengths else 0


def cell_array(cell, dim: int = 3, name: str = "cell", orthogonal: bool = False) -> np.ndarray:
    """Validate a ``(dim, dim)`` cell (rows are lattice vectors; ``dim`` lengths give the diagonal one) with
    non-zero volume. With ``orthogonal`` the lattice vectors must lie along the axes (off-diagonal entries below
    1e-8 of the largest) with positive lengths."""
    arr = finite_array(cell, name)
    if arr.ndim == 1 and arr.shape == (dim,):
        arr = np.diag(arr)
    if arr.shape != (dim, dim):
        raise ValueError(f"{name} must be a ({dim}, {dim}) matrix or {dim} lengths, got shape {arr.shape}")
    if orthogonal:
        if np.any(np.abs(arr - np.diag(np.diag(arr))) > 1e-8 * max(1.0, np.abs(arr).max())):
            raise ValueError(f"{name} must be orthogonal, its lattice vectors along the axes, got {arr.tolist()}")
        if np.any(np.diag(arr) <= 0):
            raise ValueError(f"{name} lengths must be positive, got {np.diag(arr).tolist()}")
    if abs(np.linalg.det(arr)) < 1e-12:
        raise ValueError(f"{name} is singular (zero volume): {arr.tolist()}")
    return arr


def positive_int(value, name: str) -> int:
    """Validate a strictly positive integer."""
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(value, name: str) -> int:
    """Validate an integer >= 0."""
    if isinstance(value, bool) or int(value) != value or int(value) < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def numeric_array(values, name: str, dtype=np.float64) -> np.ndarray:
    """``values`` as a float array, or a ``ValueError`` naming ``name`` when numpy cannot convert them
    (strings, ragged lists) instead of numpy's own message."""
    try:
        return np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numbers (a float array), got {type(values).__name__} that cannot be "
                         f"converted ({err})") from None


def float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """Validate a float type for coordinates: float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name} must be float32 or float64, got {dtype!r}")
    return dt


def atomic_numbers_within(numbers, max_z: int, what: str = "the model") -> None:
    """Raise a ``ValueError`` naming the element if an atomic number exceeds ``max_z`` (a model's embedding)."""
    z = np.asarray(numbers).reshape(-1)
    if z.size and z.max() > max_z:
        from ase.data import chemical_symbols

        k = int(np.argmax(z > max_z))
        symbol = chemical_symbols[int(z[k])] if int(z[k]) < len(chemical_symbols) else "unknown"
        raise ValueError(f"atom {k}: element {symbol} (Z = {int(z[k])}) is beyond {what}'s max_z = {max_z}; "
                         f"build the model with a larger max_z")


def element_numbers(elements) -> list[int]:
    """Sorted atomic numbers of ``elements`` (symbols such as ``"H"`` or numbers)."""
    from ase.data import atomic_numbers

    return sorted({atomic_numbers[e] if isinstance(e, str) else int(e) for e in elements})


def first_unknown_element(numbers, elements) -> int | None:
    """Index of the first atom whose atomic number is not among ``elements`` (what a model was trained on), or None."""
    bad = ~np.isin(np.asarray(numbers), element_numbers(elements))
    return int(np.argmax(bad)) if bad.any() else None
