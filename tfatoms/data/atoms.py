"""``AtomsData``: the one container for atomistic datasets (ragged structures, properties, units, metadata).

Every dataset in tfatoms is, or is a view of, one :class:`AtomsData`:

* structures stored flat: ``numbers`` ``(n_atoms_total,)``, ``positions`` ``(n_atoms_total, 3)`` in Angstrom, and a
  pointer array ``ptr`` ``(n_structures + 1,)``: structure ``k`` holds atoms ``ptr[k]:ptr[k + 1]``;
* ``cell`` ``(n_structures, 3, 3)`` (rows are lattice vectors, zeros for a molecule without a box) and ``pbc``
  ``(n_structures, 3)``;
* ``properties``: name -> array, either per structure ``(n_structures, ...)`` or per atom ``(n_atoms_total, ...)``
  (the names in :attr:`AtomsData.per_atom`). A float value that is NaN means "missing for that structure"; a
  force-trained run calls :meth:`AtomsData.require` to refuse such records by name;
* ``units``: name -> unit string (``"eV"``, ``"eV/A"``, ``"kcal/mol"``, ``"eV/A^3"``, ``"Debye"``, ...), understood
  by :func:`unit_factor` through ``ase.units``; positions are always ``"A"``;
* ``metadata``: a JSON-serialisable dict (source, reference method, generation parameters, subsets taken).

Conventions (the ones ASE uses): energies eV, forces eV/A, ``stress`` a per-structure Voigt 6-vector
``(xx, yy, zz, yz, xz, xy)`` in eV/A^3 (a 3 x 3 stress given to :meth:`AtomsData.from_atoms` is converted).
``ds[k]`` is an ``ase.Atoms`` with a ``SinglePointCalculator`` holding the calculator properties present for it
(energy, forces, stress, ...; converted to ASE's units if stored in others); the other per-structure properties are
in ``atoms.info``, the other per-atom ones in ``atoms.arrays``.

Readers: :meth:`AtomsData.from_atoms` (any list of ``ase.Atoms``), :meth:`AtomsData.read` (anything ``ase.io``
reads, ASE databases with their key-value pairs and data, and mlearn JSON), :meth:`AtomsData.read_mlearn_json`
(parsed without pymatgen), :meth:`AtomsData.read_hdf5` (the cache written by :meth:`AtomsData.write_hdf5`, with a
format version; written atomically). Per-atom ``force`` (as in some extended XYZ files) and ``atomic_forces`` (ISO17
databases) are read as ``forces``, ``total_energy`` as ``energy``, when the set has no property of the canonical name;
the renaming is recorded in ``metadata["renamed"]``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from tfatoms._validation import atomic_numbers_array

#: Version of the HDF5 layout written by :meth:`AtomsData.write_hdf5`; readers refuse other versions.
FORMAT_VERSION = 1
FORMAT_NAME = "tfatoms.AtomsData"
SUPPORTED_VERSIONS = (1,)

#: Properties that ASE calculators return per atom (everything else in ``calc.results`` is per structure).
CALCULATOR_PER_ATOM = ("forces", "energies", "stresses", "charges", "magmoms", "born_effective_charges")
#: Properties put into the ``SinglePointCalculator`` of ``ds[k]`` (the rest go to ``info`` / ``arrays``).
CALCULATOR_PROPERTIES = ("energy", "free_energy", "forces", "stress", "energies", "stresses", "dipole", "charges",
                         "magmom", "magmoms")
#: Units of ASE's conventions, assumed for these names unless the caller says otherwise.
DEFAULT_UNITS = {"energy": "eV", "free_energy": "eV", "energies": "eV", "forces": "eV/A", "stress": "eV/A^3",
                 "stresses": "eV/A^3", "dipole": "e*A", "charges": "e"}
#: Other names by which files hold the canonical properties (renamed on reading when the canonical one is absent).
ALIASES = {"force": "forces", "atomic_forces": "forces", "total_energy": "energy"}
#: Names taken as per-atom when a property's length cannot tell (as many atoms as structures).
_KNOWN_PER_ATOM = set(CALCULATOR_PER_ATOM) | {"force", "atomic_forces", "momenta", "masses", "tags",
                                              "initial_charges", "initial_magmoms"}
_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


class AtomsDataFileError(ValueError):
    """A file that is not a readable AtomsData file (missing, truncated, corrupt, unknown format version)."""


# ---------------------------------------------------------------------------------------------------- units
def _unit_table() -> dict:
    from ase import units as u

    energy, length, charge, time, mass, temperature = (np.eye(6, dtype=np.int64)[i] for i in range(6))
    none = np.zeros(6, dtype=np.int64)
    table = {
        "eV": (u.eV, energy), "meV": (1e-3 * u.eV, energy), "Hartree": (u.Hartree, energy),
        "Ha": (u.Hartree, energy), "hartree": (u.Hartree, energy), "Eh": (u.Hartree, energy),
        "mHa": (1e-3 * u.Hartree, energy), "Ry": (u.Ry, energy), "Rydberg": (u.Ry, energy),
        "kcal": (u.kcal, energy), "cal": (1e-3 * u.kcal, energy), "kJ": (u.kJ, energy), "J": (u.J, energy),
        "mol": (u.mol, none), "1": (1.0, none),
        "A": (u.Angstrom, length), "Ang": (u.Angstrom, length), "Angstrom": (u.Angstrom, length),
        "\u00c5": (u.Angstrom, length), "Bohr": (u.Bohr, length), "bohr": (u.Bohr, length),
        "a0": (u.Bohr, length), "nm": (u.nm, length), "pm": (1e-2 * u.Angstrom, length), "m": (u.m, length),
        "e": (1.0, charge), "C": (u.C, charge), "Debye": (u.Debye, charge + length), "D": (u.Debye, charge + length),
        "Pa": (u.Pascal, energy - 3 * length), "GPa": (u.GPa, energy - 3 * length),
        "bar": (u.bar, energy - 3 * length), "kbar": (1e3 * u.bar, energy - 3 * length),
        "kB": (1e3 * u.bar, energy - 3 * length),
        "fs": (u.fs, time), "ps": (1e3 * u.fs, time), "s": (u.s, time),
        "Hz": (1.0 / u.s, -time), "GHz": (1e9 / u.s, -time), "MHz": (1e6 / u.s, -time),
        "amu": (1.0, mass), "u": (1.0, mass), "kg": (u.kg, mass),
        "K": (1.0, temperature),
    }
    return table


_UNITS: dict | None = None
_DIMENSIONS = ("energy", "length", "charge", "time", "mass", "temperature")


def parse_unit(unit: str) -> tuple[float, np.ndarray]:
    """``unit`` (e.g. ``"kcal/mol/A"``, ``"eV/A^3"``, ``"e*A"``, ``"cal/(mol K)"``) as (value in ASE units,
    dimension exponents).

    Factors are joined by ``*``, ``/`` or a space (left to right), grouped by parentheses, powers written ``^n`` or
    ``**n``. Raises ``ValueError`` naming an unknown factor and listing the known ones.
    """
    global _UNITS
    if _UNITS is None:
        _UNITS = _unit_table()
    if not isinstance(unit, str) or not unit.strip():
        raise ValueError(f"a unit must be a non-empty string such as 'eV' or 'eV/A', got {unit!r}")
    tokens = re.findall(r"\^-?\d+|[*/()]|[^\s*/()^]+|\S", unit.strip().replace("**", "^"))
    pos = 0

    def fail(what):
        raise ValueError(f"{what} in unit {unit!r}; known units: {', '.join(sorted(_UNITS))} (joined by '*', "
                         f"'/' or a space, powers as '^3', parentheses for groups)")

    def atom():
        nonlocal pos
        if pos >= len(tokens):
            fail("unexpected end")
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            value, dims = expr()
            if pos >= len(tokens) or tokens[pos] != ")":
                fail("unbalanced parenthesis")
            pos += 1
        elif tok in _UNITS:
            value, dims = _UNITS[tok]
        else:
            fail(f"unknown unit {tok!r}")
        if pos < len(tokens) and tokens[pos].startswith("^"):
            power = int(tokens[pos][1:])
            pos += 1
            value, dims = value ** power, dims * power
        return value, dims

    def expr():
        nonlocal pos
        value, dims = atom()
        while pos < len(tokens) and tokens[pos] != ")":
            sign = 1
            if tokens[pos] in ("*", "/"):
                sign = 1 if tokens[pos] == "*" else -1
                pos += 1
            v, d = atom()
            value, dims = value * v ** sign, dims + sign * d
        return value, dims

    value, dims = expr()
    if pos != len(tokens):
        fail("unbalanced parenthesis")
    return value, dims


def _is_angstrom(unit: str) -> bool:
    value, dims = parse_unit(unit)
    return bool(np.isclose(value, 1.0, rtol=1e-12) and np.array_equal(dims, [0, 1, 0, 0, 0, 0]))


def _describe_dims(dims) -> str:
    parts = [f"{n}^{int(p)}" if p != 1 else n for n, p in zip(_DIMENSIONS, dims) if p]
    return " ".join(parts) or "dimensionless"


def unit_factor(from_unit: str, to_unit: str) -> float:
    """The factor that converts a value in ``from_unit`` into ``to_unit`` (``value_to = factor * value_from``).

    Raises ``ValueError`` for unknown units or units of different dimensions (e.g. ``eV`` into ``eV/A``).
    """
    v_from, d_from = parse_unit(from_unit)
    v_to, d_to = parse_unit(to_unit)
    if not np.array_equal(d_from, d_to):
        raise ValueError(f"cannot convert {from_unit!r} ({_describe_dims(d_from)}) into {to_unit!r} "
                         f"({_describe_dims(d_to)}): different dimensions")
    return v_from / v_to


# ---------------------------------------------------------------------------------------------------- helpers
def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _json_copy(obj, what: str):
    try:
        return json.loads(json.dumps(obj, default=_json_default))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be JSON-serialisable (numbers, strings, lists, dicts): {err}") from None


def _voigt(stress) -> np.ndarray:
    s = np.asarray(stress, dtype=np.float64)
    if s.shape[-2:] == (3, 3):
        return np.stack([s[..., i, j] for i, j in _VOIGT], axis=-1)
    return s


def _is_str(v) -> bool:
    return isinstance(v, (str, np.str_))


def _usable(value):
    """``value`` as a property value (str, or a numeric array), or None when it cannot be stored."""
    if _is_str(value):
        return str(value)
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return np.asarray(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            a = np.asarray(value)
        except (ValueError, TypeError):
            return None
        if a.dtype.kind in "biuf":
            return a
        if a.dtype.kind == "U" and a.ndim == 1:
            return a
    return None


def _combine(name: str, values: list, per_atom: bool, n_atoms: np.ndarray) -> np.ndarray:
    """Stack per-structure values (None where missing) into one array: strings '' / floats NaN where missing."""
    present = [v for v in values if v is not None]
    if not present:
        raise ValueError(f"no structure holds {name!r}")
    if all(_is_str(v) for v in present) and not per_atom:
        return np.array(["" if v is None else v for v in values], dtype=str)
    arrays = [None if v is None else np.asarray(v) for v in values]
    present = [a for a in arrays if a is not None]
    if any(a.dtype.kind not in "biuf" for a in present):
        if per_atom and all(a.dtype.kind == "U" for a in present):
            return np.concatenate([a if a is not None else np.full(int(n), "") for a, n in zip(arrays, n_atoms)])
        raise ValueError(f"property {name!r} mixes strings and numbers")
    trailing = {a.shape[1:] if per_atom else a.shape for a in present}
    if len(trailing) > 1:
        raise ValueError(f"property {name!r} has different shapes in different structures: {sorted(trailing)}")
    trailing = trailing.pop()
    if per_atom:
        for k, (a, n) in enumerate(zip(arrays, n_atoms)):
            if a is not None and len(a) != n:
                raise ValueError(f"per-atom property {name!r} of structure {k} has {len(a)} rows for {n} atoms")
    complete = all(a is not None for a in arrays)
    if complete and all(a.dtype.kind in "biu" for a in present):
        kind = "b" if all(a.dtype.kind == "b" for a in present) else "i"
        dtype = bool if kind == "b" else np.int64
        return np.concatenate(arrays).astype(dtype) if per_atom else np.stack(arrays).astype(dtype)
    filled = [a.astype(np.float64) if a is not None else
              np.full(((int(n),) if per_atom else ()) + trailing, np.nan) for a, n in zip(arrays, n_atoms)]
    return np.concatenate(filled) if per_atom else np.stack(filled)


def _missing_value(arr: np.ndarray):
    return "" if arr.dtype.kind == "U" else np.nan


# ---------------------------------------------------------------------------------------------------- container
class AtomsData:
    """Ragged atomistic structures with per-structure and per-atom properties, units and metadata.

    Args:
        numbers: ``(n_atoms_total,)`` atomic numbers (integers 1..118).
        positions: ``(n_atoms_total, 3)`` Cartesian coordinates, Angstrom, finite.
        ptr: ``(n_structures + 1,)``: 0, then increasing, ending at ``n_atoms_total``; every structure has atoms.
        cell: ``(n_structures, 3, 3)`` (rows are lattice vectors), one ``(3, 3)`` shared by all, or None (zeros).
        pbc: ``(n_structures, 3)``, one ``(3,)`` / bool for all, or None (False). Periodic only along non-zero
            cell vectors.
        properties: name -> array with ``n_structures`` or ``n_atoms_total`` rows.
        per_atom: names of the per-atom properties; None infers from the lengths (when a set has as many atoms as
            structures, ``forces``, ``charges``, ``momenta``, ... are per atom and everything else per structure).
        units: name -> unit string; ``positions`` may only be ``"A"``.
        metadata: JSON-serialisable dict; ``metadata["source"]`` names the structures in errors.

    Raises ``ValueError`` naming the structure (and the source) for inconsistent input.
    """

    def __init__(self, numbers, positions, ptr, cell=None, pbc=None, properties=None, per_atom=None, units=None,
                 metadata=None):
        self.metadata = _json_copy(dict(metadata or {}), "metadata")
        where = self._source_text()
        self.ptr = np.asarray(ptr)
        if self.ptr.ndim != 1 or len(self.ptr) < 1 or self.ptr.dtype.kind not in "iu":
            raise ValueError(f"ptr must be a 1-D integer array of n_structures + 1 entries, got {self.ptr.dtype} "
                             f"shape {self.ptr.shape}{where}")
        self.ptr = self.ptr.astype(np.int64)
        n_struct = len(self.ptr) - 1
        numbers = np.asarray(numbers)
        n_total = len(numbers) if numbers.ndim == 1 else -1
        if self.ptr[0] != 0 or self.ptr[-1] != n_total:
            raise ValueError(f"ptr must start at 0 and end at the number of atoms ({n_total}), "
                             f"got {self.ptr[0]} ... {self.ptr[-1]}{where}")
        counts = np.diff(self.ptr)
        if np.any(counts < 1):
            k = int(np.argmax(counts < 1))
            raise ValueError(f"ptr must increase: {self._where(k)} has {int(counts[k])} atoms "
                             f"(ptr[{k}] = {self.ptr[k]}, ptr[{k + 1}] = {self.ptr[k + 1]})")
        # atomic numbers
        try:
            self.numbers = atomic_numbers_array(numbers)
        except ValueError as err:
            z = np.asarray(numbers)
            bad = ~np.isfinite(z.astype(np.float64)) | (z != np.round(z)) | (z < 1) | (z > 118)
            k = int(np.argmax(bad)) if bad.any() else 0
            s = self._structure_of(k)
            value = z[k].item() if bad.any() else None
            raise ValueError(f"{self._where(s)}: atom {k - self.ptr[s]} has atomic number {value!r}, not an integer "
                             f"in 1..118 (atom {k} of the flat arrays; {err})") from None
        # positions
        try:
            positions = np.asarray(positions, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"positions must be numbers{where}: {err}") from None
        if positions.shape != (n_total, 3):
            raise ValueError(f"positions must have shape ({n_total}, 3), got {positions.shape}{where}")
        bad = ~np.isfinite(positions).all(axis=1)
        if bad.any():
            k = int(np.argmax(bad))
            s = self._structure_of(k)
            raise ValueError(f"{self._where(s)}: atom {k - self.ptr[s]} has non-finite position "
                             f"{positions[k].tolist()}")
        self.positions = positions
        # cell and pbc
        cell = np.zeros((n_struct, 3, 3)) if cell is None else np.asarray(cell, dtype=np.float64)
        if cell.shape == (3, 3):
            cell = np.broadcast_to(cell, (n_struct, 3, 3))
        if cell.shape != (n_struct, 3, 3):
            raise ValueError(f"cell must have shape ({n_struct}, 3, 3) or (3, 3), got {cell.shape}{where}")
        bad = ~np.isfinite(cell).all(axis=(1, 2))
        if bad.any():
            raise ValueError(f"{self._where(int(np.argmax(bad)))} has a non-finite cell")
        self.cell = np.array(cell, dtype=np.float64)
        pbc = np.zeros((n_struct, 3), bool) if pbc is None else np.asarray(pbc)
        if pbc.shape in ((), (3,)):
            pbc = np.broadcast_to(pbc, (n_struct, 3))
        if pbc.shape != (n_struct, 3):
            raise ValueError(f"pbc must have shape ({n_struct}, 3), got {pbc.shape}{where}")
        self.pbc = np.array(pbc, dtype=bool)
        empty = np.linalg.norm(self.cell, axis=2) == 0
        bad = self.pbc & empty
        if bad.any():
            k, axis = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{self._where(k)} is periodic along cell vector {axis}, but that vector is zero")
        # properties
        self.properties = {}
        self.per_atom = set()
        per_atom = None if per_atom is None else set(per_atom)
        for name, values in dict(properties or {}).items():
            self._add_property(str(name), values, per_atom)
        if per_atom is not None and per_atom - set(self.properties):
            raise ValueError(f"per_atom names {sorted(per_atom - set(self.properties))} are not properties{where}")
        # units
        self.units = {"positions": "A"}
        for name, unit in dict(units or {}).items():
            if name == "positions":
                if not _is_angstrom(unit):
                    raise ValueError(f"positions are stored in Angstrom ('A'), got unit {unit!r}{where}; "
                                     f"convert the coordinates before building AtomsData")
                continue
            if name not in self.properties:
                raise ValueError(f"a unit is given for {name!r}, which is not a property "
                                 f"(properties: {sorted(self.properties)}){where}")
            parse_unit(unit)
            self.units[name] = str(unit)

    # ----------------------------------------------------------------------------------------- validation
    def _source_text(self) -> str:
        src = self.metadata.get("source")
        return f" (in {src})" if src else ""

    def _structure_of(self, atom: int) -> int:
        return int(np.searchsorted(self.ptr, atom, side="right") - 1)

    def _where(self, k: int) -> str:
        """How errors name structure ``k``: ``structure 17 of train.xyz`` (through subsets and concatenations)."""
        text = f"structure {k}"
        orig = k
        sub = self.metadata.get("subset")
        if isinstance(sub, dict) and isinstance(sub.get("indices"), list) and k < len(sub["indices"]):
            orig = int(sub["indices"][k])
            text += f" (structure {orig} before the subset)"
        parts = self.metadata.get("parts")
        if isinstance(parts, list) and parts:
            start = 0
            for i, part in enumerate(parts):
                n = int(part.get("n_structures", 0))
                if start <= orig < start + n:
                    src = part.get("source")
                    return text + f" = structure {orig - start} of part {i}" + (f" ({src})" if src else "")
                start += n
        src = self.metadata.get("source")
        return text + (f" of {src}" if src else "")

    def _add_property(self, name, values, per_atom):
        n_struct, n_total = len(self), len(self.numbers)
        arr = np.asarray(values)
        if arr.dtype.kind == "O":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError):
                arr = arr.astype(str)
        if arr.dtype.kind == "S":
            arr = arr.astype(str)
        if arr.dtype.kind not in "biufU":
            raise ValueError(f"property {name!r} must be numbers or strings, got dtype {arr.dtype}"
                             f"{self._source_text()}")
        if arr.ndim == 0:
            raise ValueError(f"property {name!r} must have one row per structure or per atom, got a scalar"
                             f"{self._source_text()}")
        if per_atom is not None:
            atomwise = name in per_atom
        elif len(arr) == n_total and (len(arr) != n_struct or name in _KNOWN_PER_ATOM):
            atomwise = True
        else:
            atomwise = False
        expected = n_total if atomwise else n_struct
        if len(arr) != expected:
            kind = "per-atom" if atomwise else "per-structure"
            raise ValueError(f"property {name!r} has {len(arr)} rows, but a {kind} property needs {expected} "
                             f"({n_struct} structures, {n_total} atoms)"
                             f"{self._source_text()}")
        if arr.dtype.kind == "f" and np.isinf(arr).any():
            row = int(np.argwhere(np.isinf(arr))[0][0])
            s = self._structure_of(row) if atomwise else row
            raise ValueError(f"{self._where(s)}: property {name!r} is infinite")
        if arr.dtype.kind == "U":
            arr = arr.astype(str)
        elif arr.dtype.kind == "b":
            arr = arr.astype(bool)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        else:
            arr = arr.astype(np.float64)
        self.properties[name] = np.array(arr)
        if atomwise:
            self.per_atom.add(name)

    # ----------------------------------------------------------------------------------------- basics
    def __len__(self) -> int:
        return len(self.ptr) - 1

    @property
    def n_atoms(self) -> np.ndarray:
        """Atoms per structure, ``(n_structures,)`` int64."""
        return np.diff(self.ptr)

    @property
    def n_atoms_total(self) -> int:
        return int(self.ptr[-1])

    @property
    def structure_index(self) -> np.ndarray:
        """The structure of each atom, ``(n_atoms_total,)`` int64."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.n_atoms)

    def __repr__(self) -> str:
        props = ", ".join(f"{k} [{self.units.get(k, '-')}]" + (" per atom" if k in self.per_atom else "")
                          for k in self.properties)
        src = self.metadata.get("source")
        return (f"AtomsData({len(self)} structures, {self.n_atoms_total} atoms; {props or 'no properties'}"
                + (f"; source {src}" if src else "") + ")")

    def _index(self, k) -> int:
        k = int(k)
        if not -len(self) <= k < len(self):
            raise IndexError(f"structure {k} out of range for {len(self)} structures{self._source_text()}")
        return k % len(self)

    def atom_slice(self, k: int) -> slice:
        """The atoms of structure ``k`` in the flat arrays."""
        k = self._index(k)
        return slice(int(self.ptr[k]), int(self.ptr[k + 1]))

    def get(self, name: str, k: int) -> np.ndarray:
        """Property ``name`` of structure ``k``: its row, or its atoms' rows for a per-atom property."""
        if name not in self.properties:
            raise KeyError(f"no property {name!r}; properties: {sorted(self.properties)}")
        arr = self.properties[name]
        return arr[self.atom_slice(k)] if name in self.per_atom else arr[self._index(k)]

    def __getitem__(self, k):
        """Structure ``k`` as ``ase.Atoms``; a slice, index array or boolean mask gives :meth:`subset`."""
        if isinstance(k, slice):
            return self.subset(np.arange(len(self))[k])
        if isinstance(k, (list, tuple, np.ndarray)):
            return self.subset(k)
        return self._atoms(self._index(k))

    def __iter__(self):
        for k in range(len(self)):
            yield self._atoms(k)

    def _atoms(self, k: int):
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator

        s = slice(int(self.ptr[k]), int(self.ptr[k + 1]))
        atoms = Atoms(numbers=self.numbers[s].copy(), positions=self.positions[s].copy(), cell=self.cell[k].copy(),
                      pbc=self.pbc[k].copy())
        results = {}
        for name, arr in self.properties.items():
            value = arr[s] if name in self.per_atom else arr[k]
            if arr.dtype.kind == "f" and np.isnan(value).all():
                continue                                    # missing for this structure
            if arr.dtype.kind == "U" and name not in self.per_atom and value == "":
                continue
            value = value.copy() if isinstance(value, np.ndarray) else value
            if name in CALCULATOR_PROPERTIES and arr.dtype.kind == "f":
                unit = self.units.get(name)
                ase_unit = DEFAULT_UNITS.get(name)
                if unit is not None and ase_unit is not None and unit != ase_unit:
                    value = value * unit_factor(unit, ase_unit)
                results[name] = float(value) if np.ndim(value) == 0 else value
            elif name in self.per_atom:
                atoms.set_array(name, value)
            else:
                atoms.info[name] = value.item() if isinstance(value, np.generic) or np.ndim(value) == 0 else value
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        return atoms

    # ----------------------------------------------------------------------------------------- constructors
    @classmethod
    def from_atoms(cls, atoms_list, properties=None, units=None, metadata=None) -> "AtomsData":
        """One AtomsData from a list of ``ase.Atoms``.

        Args:
            atoms_list: ``ase.Atoms`` (an iterable of them, or one).
            properties: names to take (``("energy", "forces")``), each looked up in the calculator's results,
                ``atoms.arrays`` (per atom) and ``atoms.info`` (per structure), and under its aliases
                (``force``/``atomic_forces`` for ``forces``, ``total_energy`` for ``energy``); a structure that
                lacks one gets NaN (see :meth:`require`), a name no structure holds is an error. None takes
                everything the calculators, arrays and info hold that can be stored (numbers, strings, numeric
                arrays of one shape).
            units: name -> unit of the values as given; ASE's (eV, eV/A, eV/A^3) are assumed for energy, forces
                and stress otherwise.
            metadata: JSON-serialisable dict (source, reference method, ...).
        """
        from ase import Atoms

        if isinstance(atoms_list, Atoms):
            atoms_list = [atoms_list]
        atoms_list = list(atoms_list)
        metadata = dict(metadata or {})
        src = metadata.get("source")
        for k, a in enumerate(atoms_list):
            if not isinstance(a, Atoms):
                raise TypeError(f"from_atoms needs ase.Atoms, got {type(a).__name__} at index {k}"
                                + (f" of {src}" if src else ""))
        n_atoms = np.array([len(a) for a in atoms_list], dtype=np.int64)
        ptr = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
        n = len(atoms_list)
        numbers = np.concatenate([a.numbers for a in atoms_list]) if n else np.zeros(0, np.int64)
        positions = np.concatenate([a.positions for a in atoms_list]) if n else np.zeros((0, 3))
        cell = np.array([a.cell.array for a in atoms_list], dtype=np.float64).reshape(n, 3, 3)
        pbc = np.array([a.pbc for a in atoms_list], dtype=bool).reshape(n, 3)

        explicit = properties is not None
        wanted = None if properties is None else [str(p) for p in ([properties] if isinstance(properties, str)
                                                                    else properties)]
        records: dict[str, dict] = {}          # name -> {"per_atom": bool, "values": [...]}
        skipped: set = set()

        def put(name, k, value, atomwise):
            rec = records.setdefault(name, {"per_atom": atomwise, "values": [None] * n})
            if rec["per_atom"] != atomwise:
                raise ValueError(f"{name!r} is per atom in some structures and per structure in others "
                                 f"(structure {k}" + (f" of {src}" if src else "") + ")")
            if rec["values"][k] is None:
                rec["values"][k] = value

        for k, a in enumerate(atoms_list):
            results = getattr(a.calc, "results", None) or {}
            for name, value in results.items():
                atomwise = name in CALCULATOR_PER_ATOM
                v = _usable(value)
                if v is None:
                    skipped.add(name)
                    continue
                if name in ("stress", "stresses"):
                    v = _voigt(v)
                put(name, k, v, atomwise)
            for name, value in a.arrays.items():
                if name in ("numbers", "positions"):
                    continue
                v = _usable(value)
                if v is None or v.ndim == 0 or len(v) != len(a):
                    skipped.add(name)
                    continue
                put(name, k, v, True)
            for name, value in a.info.items():
                v = _usable(value)
                if v is None:
                    skipped.add(name)
                    continue
                put(name, k, v, False)

        # combine, skipping (or, when asked for by name, refusing) values that cannot form one array
        combined, kinds = {}, {}
        for name, rec in records.items():
            try:
                combined[name] = _combine(name, rec["values"], rec["per_atom"], n_atoms)
                kinds[name] = rec["per_atom"]
            except ValueError:
                if explicit and (name in wanted or ALIASES.get(name) in wanted):
                    raise
                skipped.add(name)
        renamed = {}
        for alias, canonical in ALIASES.items():
            if alias in combined and canonical not in combined and canonical not in renamed.values():
                expected_atomwise = canonical == "forces"
                if kinds[alias] == expected_atomwise:
                    combined[canonical] = combined.pop(alias)
                    kinds[canonical] = kinds.pop(alias)
                    renamed[alias] = canonical
        if explicit:
            missing = [w for w in wanted if w not in combined]
            if missing:
                raise ValueError(f"no structure holds {missing[0]!r}" + (f" in {src}" if src else "")
                                 + f"; found: {sorted(combined)}")
            combined = {w: combined[w] for w in wanted}
            renamed = {a: c for a, c in renamed.items() if c in combined}
        if renamed:
            metadata.setdefault("renamed", renamed)
        unit_map = {name: DEFAULT_UNITS[name] for name in combined if name in DEFAULT_UNITS}
        unit_map.update(dict(units or {}))
        return cls(numbers, positions, ptr, cell=cell, pbc=pbc, properties=combined,
                   per_atom={name for name in combined if kinds[name]}, units=unit_map, metadata=metadata)

    @classmethod
    def read(cls, path, index=":", format=None, units=None, metadata=None, properties=None) -> "AtomsData":
        """Read any file ``ase.io`` reads (extended XYZ, ASE db, ...), or mlearn JSON, into AtomsData.

        ASE databases are read row by row so that their key-value pairs (e.g. ISO17's ``total_energy``) and data
        (e.g. ``atomic_forces``) become properties. ``metadata["source"]`` is the path (unless given) and
        ``metadata["format"]`` the format. ``units`` as in :meth:`from_atoms` (the units of the file's values).
        """
        import ase.io
        from ase.io.formats import filetype, string2index

        path = Path(path)
        if not path.is_file():
            raise AtomsDataFileError(f"no such file: {path}")
        fmt = format
        if fmt is None:
            if path.suffix.lower() == ".json" and _looks_like_mlearn(path):
                fmt = "mlearn-json"
            else:
                try:
                    fmt = filetype(str(path))
                except Exception as err:  # noqa: BLE001 - ase raises several kinds
                    raise AtomsDataFileError(f"cannot tell the format of {path}: {err}; pass format=") from None
        meta = {"source": str(path), "format": fmt}
        if index != ":":
            meta["index"] = str(index)
        meta.update(dict(metadata or {}))
        if fmt == "mlearn-json":
            data = cls.read_mlearn_json(path, metadata=meta)
            if index != ":":
                idx = string2index(index) if isinstance(index, str) else index
                sel = np.arange(len(data))[idx]
                data = data.subset(np.atleast_1d(sel))
            if units:                      # the units the file's values are in (as for every other format)
                merged = {k: v for k, v in data.units.items() if k != "positions"}
                merged.update(dict(units))
                data = AtomsData(data.numbers, data.positions, data.ptr, cell=data.cell, pbc=data.pbc,
                                 properties=data.properties, per_atom=data.per_atom, units=merged,
                                 metadata=data.metadata)
            return data
        try:
            if fmt in ("db", "json"):
                atoms_list = _read_ase_db(path, index)
            else:
                atoms_list = ase.io.read(str(path), index=index, format=fmt)
        except (OSError, ValueError, KeyError, IndexError, StopIteration) as err:
            raise AtomsDataFileError(f"cannot read {path} (format {fmt}): {type(err).__name__}: {err}") from None
        from ase import Atoms

        if isinstance(atoms_list, Atoms):
            atoms_list = [atoms_list]
        return cls.from_atoms(atoms_list, properties=properties, units=units, metadata=meta)

    @classmethod
    def read_mlearn_json(cls, path, metadata=None) -> "AtomsData":
        """Read an mlearn JSON file (Zuo et al. 2020) without pymatgen.

        Each item holds a pymatgen ``structure`` dict (``lattice.matrix``, ``sites`` with ``xyz`` and
        ``species[0].element``), ``outputs.energy`` (eV), ``outputs.forces`` (eV/A), ``outputs.virial_stress``
        (kbar, as mlearn stores it from VASP: its sign and component order are VASP's, so it is kept under its own
        name and not turned into ``stress``), and ``description``, ``group``, ``tag`` strings. Structures are
        periodic along all three lattice vectors.
        """
        from ase.data import atomic_numbers as symbol_to_z

        path = Path(path)
        if not path.is_file():
            raise AtomsDataFileError(f"no such file: {path}")
        try:
            items = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise AtomsDataFileError(f"cannot read {path} as mlearn JSON: {err}") from None
        if not isinstance(items, list):
            raise AtomsDataFileError(f"{path} is not mlearn JSON: expected a list of records, "
                                     f"got {type(items).__name__}")
        numbers, positions, cells, n_atoms = [], [], [], []
        energy, forces, virial = [], [], []
        strings = {"description": [], "group": [], "tag": []}
        for k, item in enumerate(items):
            def fail(what):
                raise AtomsDataFileError(f"record {k} of {path}: {what}")

            try:
                structure = item["structure"]
                matrix = np.asarray(structure["lattice"]["matrix"], dtype=np.float64)
                sites = structure["sites"]
            except (KeyError, TypeError, ValueError) as err:
                fail(f"no pymatgen structure with lattice.matrix and sites ({type(err).__name__}: {err})")
            if matrix.shape != (3, 3):
                fail(f"lattice.matrix has shape {matrix.shape}, expected (3, 3)")
            zs, xyz = [], []
            for j, site in enumerate(sites):
                try:
                    species = site["species"]
                    if len(species) != 1 or float(species[0].get("occu", 1)) != 1.0:
                        fail(f"site {j} is a partial occupancy {species}; only ordered structures are supported")
                    symbol = species[0]["element"]
                    xyz.append([float(x) for x in site["xyz"]])
                except (KeyError, TypeError, ValueError) as err:
                    fail(f"site {j} has no species element and xyz ({type(err).__name__}: {err})")
                symbol = re.sub(r"[\d+-]+$", "", str(symbol))         # oxidation states such as "Si4+"
                if symbol not in symbol_to_z or symbol == "X":
                    fail(f"site {j} has unknown element {symbol!r}")
                zs.append(symbol_to_z[symbol])
            outputs = item.get("outputs") or {}
            e = outputs.get("energy")
            energy.append(np.nan if e is None else float(e))
            f = outputs.get("forces")
            if f is None:
                forces.append(np.full((len(zs), 3), np.nan))
            else:
                f = np.asarray(f, dtype=np.float64)
                if f.shape != (len(zs), 3):
                    fail(f"outputs.forces has shape {f.shape} for {len(zs)} sites")
                forces.append(f)
            v = outputs.get("virial_stress")
            virial.append(np.full(6, np.nan) if v is None else np.asarray(v, dtype=np.float64).reshape(6))
            for key in strings:
                strings[key].append("" if item.get(key) is None else str(item.get(key)))
            numbers.append(zs)
            positions.append(xyz)
            cells.append(matrix)
            n_atoms.append(len(zs))
        ptr = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
        props = {"energy": np.array(energy), "forces": np.concatenate(forces) if forces else np.zeros((0, 3)),
                 "virial_stress": np.array(virial).reshape(-1, 6)}
        props.update({k: np.array(v, dtype=str) for k, v in strings.items() if any(v)})
        meta = {"source": str(path), "format": "mlearn-json", "reference": "DFT (PBE, VASP), mlearn (Zuo et al., "
                "J. Phys. Chem. A 2020)", "virial_stress": "as in mlearn (VASP sign and component order), kbar"}
        meta.update(dict(metadata or {}))
        n = len(items)
        return cls(np.concatenate(numbers).astype(np.int64) if n else np.zeros(0, np.int64),
                   np.concatenate([np.reshape(p, (-1, 3)) for p in positions]) if n else np.zeros((0, 3)),
                   ptr, cell=np.array(cells).reshape(n, 3, 3), pbc=np.ones((n, 3), bool), properties=props,
                   per_atom={"forces"}, units={"energy": "eV", "forces": "eV/A", "virial_stress": "kbar"},
                   metadata=meta)

    # ----------------------------------------------------------------------------------------- HDF5
    def write_hdf5(self, path) -> Path:
        """Write to HDF5 (atomically: a temporary beside ``path``, renamed when complete, removed on failure)."""
        import h5py

        from tfatoms._io import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                self.write_hdf5_group(f)
        return path

    def write_hdf5_group(self, f) -> None:
        """Write the layout of :meth:`write_hdf5` into the open h5py file (or group) ``f``: for callers that add
        their own attributes to the same file (the dataset caches of :mod:`tfatoms.data.cache`)."""
        import h5py

        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["units"] = json.dumps(self.units)
        # a dataset, not an attribute: HDF5 attributes are limited to 64 kB (a subset's indices are not)
        f.create_dataset("metadata", data=json.dumps(self.metadata), dtype=h5py.string_dtype())
        f.attrs["per_atom"] = json.dumps(sorted(self.per_atom))
        f.attrs["property_order"] = json.dumps(list(self.properties))
        f.create_dataset("numbers", data=self.numbers)
        f.create_dataset("positions", data=self.positions)
        f.create_dataset("cell", data=self.cell)
        f.create_dataset("pbc", data=self.pbc)
        f.create_dataset("ptr", data=self.ptr)
        g = f.create_group("properties")
        for name, arr in self.properties.items():
            if arr.dtype.kind == "U":
                g.create_dataset(name, data=arr.tolist(), dtype=h5py.string_dtype())
            else:
                g.create_dataset(name, data=arr)

    @classmethod
    def read_hdf5(cls, path) -> "AtomsData":
        """Read a file written by :meth:`write_hdf5`; a missing, truncated or foreign file, or one of another
        format version, raises :class:`AtomsDataFileError` (a ``ValueError``) naming the file."""
        import h5py

        path = Path(path)
        if not path.is_file():
            raise AtomsDataFileError(f"no such file: {path}")
        try:
            with h5py.File(path, "r") as f:
                return cls.read_hdf5_group(f, path)
        except AtomsDataFileError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as err:
            raise AtomsDataFileError(f"cannot read {path}: truncated or corrupt AtomsData HDF5 file "
                                     f"({type(err).__name__}: {err}); delete it and write it again") from None

    @classmethod
    def read_hdf5_group(cls, f, path=None) -> "AtomsData":
        """Read the layout of :meth:`write_hdf5` from the open h5py file (or group) ``f``; ``path`` names the file
        in errors. Every problem (foreign layout, other format version, truncated or inconsistent data) raises
        :class:`AtomsDataFileError`."""
        import h5py

        path = f.file.filename if path is None else path
        try:
            fmt = f.attrs.get("format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else (None if fmt is None else str(fmt))
            version = f.attrs.get("format_version")
            version = version.item() if isinstance(version, np.generic) else version
            if fmt != FORMAT_NAME:
                raise AtomsDataFileError(f"{path} is not a {FORMAT_NAME} file (format attribute {fmt!r})")
            if not isinstance(version, int) or version not in SUPPORTED_VERSIONS:
                raise AtomsDataFileError(f"{path} has {FORMAT_NAME} format version {version!r}; this tfatoms "
                                         f"reads versions {list(SUPPORTED_VERSIONS)} (written by another "
                                         f"tfatoms version?)")
            units = json.loads(f.attrs["units"])
            metadata = json.loads(f["metadata"].asstr()[()])
            per_atom = json.loads(f.attrs["per_atom"])
            order = json.loads(f.attrs["property_order"])
            arrays = {k: f[k][()] for k in ("numbers", "positions", "cell", "pbc", "ptr")}
            props = {}
            g = f["properties"]
            for name in order:
                ds = g[name]
                if h5py.check_string_dtype(ds.dtype) is not None:
                    props[name] = np.array(ds.asstr()[()], dtype=str)
                else:
                    props[name] = ds[()]
        except AtomsDataFileError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as err:
            raise AtomsDataFileError(f"cannot read {path}: truncated or corrupt AtomsData HDF5 file "
                                     f"({type(err).__name__}: {err}); delete it and write it again") from None
        try:
            return cls(arrays["numbers"], arrays["positions"], arrays["ptr"], cell=arrays["cell"], pbc=arrays["pbc"],
                       properties=props, per_atom=per_atom, units=units, metadata=metadata)
        except ValueError as err:
            raise AtomsDataFileError(f"{path} holds inconsistent data: {err}") from None

    # ----------------------------------------------------------------------------------------- operations
    def subset(self, indices) -> "AtomsData":
        """The structures ``indices`` (integers or a boolean mask), in that order, copied into a new AtomsData.

        Units and metadata are kept; ``metadata["subset"]`` records the indices in the original set (composed
        through repeated subsets) and its size.
        """
        idx = np.asarray(indices)
        if idx.dtype.kind == "b":
            if idx.shape != (len(self),):
                raise ValueError(f"a boolean mask must have {len(self)} entries, got shape {idx.shape}")
            idx = np.flatnonzero(idx)
        elif idx.size == 0:
            idx = idx.astype(np.int64)
        elif idx.dtype.kind not in "iu":
            raise ValueError(f"indices must be integers or a boolean mask, got {idx.dtype}")
        idx = idx.reshape(-1).astype(np.int64)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            bad = int(idx[(idx < -len(self)) | (idx >= len(self))][0])
            raise IndexError(f"structure {bad} out of range for {len(self)} structures{self._source_text()}")
        idx = idx % max(len(self), 1)
        n = self.n_atoms[idx]
        ptr = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        atom_idx = np.repeat(self.ptr[idx] - ptr[:-1], n) + np.arange(ptr[-1])
        props = {k: (v[atom_idx] if k in self.per_atom else v[idx]).copy() for k, v in self.properties.items()}
        meta = json.loads(json.dumps(self.metadata))
        previous = meta.get("subset")
        if isinstance(previous, dict) and isinstance(previous.get("indices"), list):
            original = np.asarray(previous["indices"], dtype=np.int64)[idx]
            n_original = int(previous.get("n_original", len(self)))
        else:
            original, n_original = idx, len(self)
        meta["subset"] = {"n_original": n_original, "indices": [int(i) for i in original]}
        units = {k: v for k, v in self.units.items() if k != "positions"}
        return AtomsData(self.numbers[atom_idx], self.positions[atom_idx], ptr, cell=self.cell[idx], pbc=self.pbc[idx],
                         properties=props, per_atom=set(self.per_atom), units=units, metadata=meta)

    @staticmethod
    def concatenate(datasets) -> "AtomsData":
        """One AtomsData holding the structures of ``datasets`` in order.

        A property that only some parts hold is NaN (strings: empty) in the others; a property must be per atom
        (or per structure) and in the same unit in every part that holds it (else ``ValueError``: convert with
        :meth:`to_units` first). Identical metadata is kept; otherwise ``metadata["parts"]`` lists each part's
        metadata and size, so errors still name the part a structure came from.
        """
        datasets = list(datasets)
        if not datasets:
            raise ValueError("concatenate needs at least one AtomsData")
        for k, d in enumerate(datasets):
            if not isinstance(d, AtomsData):
                raise TypeError(f"concatenate needs AtomsData, got {type(d).__name__} at position {k}")
        names = []
        for d in datasets:
            names += [k for k in d.properties if k not in names]
        per_atom, units = set(), {}
        for name in names:
            holders = [(i, d) for i, d in enumerate(datasets) if name in d.properties]
            kinds = {name in d.per_atom for _, d in holders}
            if len(kinds) > 1:
                raise ValueError(f"property {name!r} is per atom in some parts and per structure in others "
                                 f"(parts {[i for i, d in holders if name in d.per_atom]} per atom)")
            if kinds.pop():
                per_atom.add(name)
            unit_set = {d.units.get(name) for _, d in holders}
            if len(unit_set) > 1:
                raise ValueError(f"property {name!r} has different units in the parts: "
                                 f"{ {i: d.units.get(name) for i, d in holders} }; convert with to_units first")
            unit = unit_set.pop()
            if unit is not None:
                units[name] = unit
        props = {}
        for name in names:
            template = next(d.properties[name] for d in datasets if name in d.properties)
            trailing = {d.properties[name].shape[1:] for d in datasets if name in d.properties}
            if len(trailing) > 1:
                raise ValueError(f"property {name!r} has different shapes in the parts: {sorted(trailing)}")
            pieces = []
            complete = all(name in d.properties for d in datasets)
            for d in datasets:
                rows = d.n_atoms_total if name in per_atom else len(d)
                if name in d.properties:
                    arr = d.properties[name]
                    pieces.append(arr if complete or arr.dtype.kind in "fU" else arr.astype(np.float64))
                else:
                    fill = _missing_value(template)
                    pieces.append(np.full((rows,) + template.shape[1:], fill,
                                          dtype=str if fill == "" else np.float64))
            props[name] = np.concatenate(pieces)
        metas = [d.metadata for d in datasets]
        if all(m == metas[0] for m in metas):
            meta = json.loads(json.dumps(metas[0]))
        else:
            meta = {"source": "concatenation of " + ", ".join(str(m.get("source", "?")) for m in metas),
                    "parts": [dict(m, n_structures=len(d)) for m, d in zip(metas, datasets)]}
        n_atoms = np.concatenate([d.n_atoms for d in datasets])
        ptr = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
        return AtomsData(np.concatenate([d.numbers for d in datasets]),
                         np.concatenate([d.positions for d in datasets]), ptr,
                         cell=np.concatenate([d.cell for d in datasets]), pbc=np.concatenate([d.pbc for d in datasets]),
                         properties=props, per_atom=per_atom, units=units, metadata=meta)

    def missing(self, name: str) -> np.ndarray:
        """Boolean ``(n_structures,)``: which structures lack ``name`` (NaN anywhere in their values, or empty
        string); all True when the set has no such property."""
        if name not in self.properties:
            return np.ones(len(self), bool)
        arr = self.properties[name]
        if arr.dtype.kind == "U":
            bad = arr == ""
        elif arr.dtype.kind == "f":
            bad = np.isnan(arr)
        else:
            return np.zeros(len(self), bool)
        bad = bad.reshape(len(arr), -1).any(axis=1)
        if name in self.per_atom:
            if len(self) == 0:
                return np.zeros(0, bool)
            bad = np.add.reduceat(bad.astype(np.int64), self.ptr[:-1]) > 0
        return bad

    def require(self, *names) -> "AtomsData":
        """Check that every structure has every property in ``names`` (no NaN); return ``self``.

        Raises ``ValueError`` naming the first structure (index and source) that lacks one, e.g. a force-trained
        set in which structure 17 has no forces.
        """
        for name in names:
            if name not in self.properties:
                raise ValueError(f"{self._where(0) if len(self) else 'the set'} has no {name!r}: no structure of "
                                 f"this set holds it (properties: {sorted(self.properties)})")
            bad = self.missing(name)
            if bad.any():
                k = int(np.argmax(bad))
                raise ValueError(f"{self._where(k)} has no {name!r} (missing or NaN); {int(bad.sum())} of "
                                 f"{len(self)} structures lack it: drop them with "
                                 f"subset(~data.missing({name!r})) or fix the source")
        return self

    def to_units(self, units: dict) -> "AtomsData":
        """A copy with the properties in ``units`` (name -> target unit) converted, e.g.
        ``to_units({"energy": "kcal/mol", "forces": "kcal/mol/A"})``; units through ``ase.units``.

        Raises ``ValueError`` for a property that is absent or has no recorded unit, an unknown unit, or a
        conversion between different dimensions.
        """
        props = {k: v.copy() for k, v in self.properties.items()}
        new_units = {k: v for k, v in self.units.items() if k != "positions"}
        for name, target in dict(units).items():
            if name == "positions":
                if not _is_angstrom(target):
                    raise ValueError("positions are always stored in Angstrom ('A')")
                continue
            if name not in self.properties:
                raise ValueError(f"cannot convert {name!r}: no such property (properties: {sorted(self.properties)})"
                                 f"{self._source_text()}")
            if name not in self.units:
                raise ValueError(f"cannot convert {name!r} to {target!r}: its unit is not recorded"
                                 f"{self._source_text()}; build the set with units={{{name!r}: ...}}")
            try:
                factor = unit_factor(self.units[name], target)
            except ValueError as err:
                raise ValueError(f"cannot convert {name!r}: {err}") from None
            if props[name].dtype.kind not in "f":
                props[name] = props[name].astype(np.float64)
            props[name] = props[name] * factor
            new_units[name] = str(target)
        return AtomsData(self.numbers.copy(), self.positions.copy(), self.ptr.copy(), cell=self.cell.copy(),
                         pbc=self.pbc.copy(), properties=props, per_atom=set(self.per_atom), units=new_units,
                         metadata=self.metadata)


class AtomsDataView:
    """Base of the dataset classes that hold one :class:`AtomsData` and present it in their own terms (:class:`~
    tfatoms.data.qm9.QM9`, :class:`~tfatoms.data.dimers.Dimers`, :class:`~tfatoms.data.porous_graphene.
    PorousGrapheneData`).

    The data live in :attr:`atoms_data` only; ``numbers``, ``positions`` and ``offsets`` (the ``ptr`` of the
    AtomsData) are the AtomsData's own arrays, not copies, and a subclass's other attributes are views of its
    properties and metadata, so what a loader returns and what ``to_atoms_data()`` returns cannot disagree.
    """

    atoms_data: AtomsData

    @classmethod
    def _view(cls, data: AtomsData, properties=(), metadata=()):
        """A ``cls`` holding ``data``, which must have ``properties`` and ``metadata`` keys (else ``ValueError``)."""
        if not isinstance(data, AtomsData):
            raise TypeError(f"a {cls.__name__} is a view of an AtomsData, got {type(data).__name__}")
        lacking = [k for k in properties if k not in data.properties]
        lacking += [f"metadata[{k!r}]" for k in metadata if k not in data.metadata]
        if lacking:
            raise ValueError(f"a {cls.__name__} view needs {', '.join(lacking)} in the AtomsData"
                             f"{data._source_text()}")
        self = cls.__new__(cls)
        self.atoms_data = data
        return self

    def to_atoms_data(self) -> AtomsData:
        """The :class:`AtomsData` this dataset is a view of (the same object, not a copy)."""
        return self.atoms_data

    def __len__(self) -> int:
        return len(self.atoms_data)

    @property
    def numbers(self) -> np.ndarray:
        """Atomic numbers of all structures, concatenated, ``(n_atoms_total,)`` int64."""
        return self.atoms_data.numbers

    @property
    def positions(self) -> np.ndarray:
        """Positions of all structures, concatenated, ``(n_atoms_total, 3)`` Angstrom."""
        return self.atoms_data.positions

    @property
    def offsets(self) -> np.ndarray:
        """``(n_structures + 1,)``: structure ``k`` holds atoms ``offsets[k]:offsets[k + 1]`` (the AtomsData's
        ``ptr``)."""
        return self.atoms_data.ptr

    @property
    def n_atoms(self) -> np.ndarray:
        """Atoms per structure, ``(n_structures,)`` int64."""
        return self.atoms_data.n_atoms


def property_view(name: str, doc: str) -> property:
    """A read-only attribute of an :class:`AtomsDataView` that is ``atoms_data.properties[name]`` (not a copy)."""
    return property(lambda self: self.atoms_data.properties[name], doc=doc)


# ---------------------------------------------------------------------------------------------------- readers
def _looks_like_mlearn(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
    return head.startswith(b"[") and b'"structure"' in head


def _read_ase_db(path: Path, index):
    """Rows of an ASE database as Atoms, with key-value pairs in ``info`` and data in ``arrays`` (per atom)
    or ``info``."""
    from ase.db import connect
    from ase.io.formats import string2index

    idx = string2index(index) if isinstance(index, str) else index
    with connect(str(path)) as db:
        rows = list(db.select())
    selected = rows[idx]
    if not isinstance(selected, list):
        selected = [selected]
    out = []
    for row in selected:
        atoms = row.toatoms()
        for key, value in row.key_value_pairs.items():
            atoms.info[key] = value
        for key, value in (row.get("data") or {}).items():
            arr = np.asarray(value) if isinstance(value, (list, tuple, np.ndarray)) else value
            if isinstance(arr, np.ndarray) and arr.ndim >= 1 and len(arr) == len(atoms) and key not in atoms.arrays:
                atoms.set_array(key, arr)
            else:
                atoms.info[key] = value
        out.append(atoms)
    return out


__all__ = ["AtomsData", "AtomsDataFileError", "AtomsDataView", "FORMAT_VERSION", "parse_unit", "property_view",
           "unit_factor"]
