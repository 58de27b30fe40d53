"""QM9: 130k small organic molecules (C, H, O, N, F; at most 9 heavy atoms) with DFT properties.

Ramakrishnan, Dral, Rupp, von Lilienfeld, "Quantum chemistry structures and properties
of 134 kilo molecules", Sci. Data 1, 140022 (2014): B3LYP/6-31G(2df,p) equilibrium
geometries and properties. The thesis uses it in App. A.1; Table A.1 lists the 12
targets and their units.

Data source: the PyPI package ``qm9pack`` (CSV copies of the 130,831 molecules that
passed the consistency check of Ramakrishnan et al.; ``pip install qm9pack``), parsed
once by :func:`load_qm9` and cached as HDF5. The original ``.xyz`` files can be read
with :func:`read_qm9_xyz` / :func:`load_qm9_xyz_dir`.

Units ("package units", used for everything stored and returned): the Hartree
quantities homo, lumo, gap, zpve, U0, U, H, G are converted to eV (``ase.units.Hartree``);
mu (Debye), alpha (Bohr^3), r2 (Bohr^2) and Cv (cal/(mol K)) are kept.
``PROPERTIES[name].to_table`` converts to the units of Table A.1 (kcal/mol for energies).

Extensive energies are learnt as atomization energies (App. A.1): ``U0_at = U0 - sum_i U0(Z_i)``
with the single-atom references of the QM9 ``atomref`` table (:data:`ATOM_REFERENCES`),
see :meth:`QM9.target`.
"""
from __future__ import annotations

import csv
import importlib.metadata
import importlib.resources
import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.data import atomic_numbers as _SYMBOL_TO_Z
from ase.data import chemical_symbols
from tqdm import tqdm

from tfatoms.data.atoms import AtomsData, AtomsDataView, property_view
from tfatoms.data.cache import DatasetCache, default_cache_dir, source_hashes


@dataclass(frozen=True)
class PropertySpec:
    """One QM9 target: CSV column, package unit, Table A.1 unit and how a model pools it."""
    name: str
    column: str
    unit: str
    table_unit: str
    to_table: float
    aggregation: str
    has_atomref: bool


#: eV -> kcal/mol (23.0605...).
KCAL_MOL_PER_EV = 1.0 / (units.kcal / units.mol)

_ENERGY = ("eV", "kcal/mol", KCAL_MOL_PER_EV)
PROPERTIES: dict[str, PropertySpec] = {s.name: s for s in [
    PropertySpec("homo", "HOMO_au", *_ENERGY, "mean", False),
    PropertySpec("lumo", "LUMO_au", *_ENERGY, "mean", False),
    PropertySpec("gap", "HOMO_LUMO_gap_au", *_ENERGY, "mean", False),
    PropertySpec("zpve", "ZPVE_au", *_ENERGY, "sum", False),
    PropertySpec("mu", "Dipole_debye", "Debye", "Debye", 1.0, "sum", False),
    PropertySpec("alpha", "Polarizability_bohr3", "Bohr^3", "Bohr^3", 1.0, "sum", False),
    PropertySpec("r2", "R2_bohr2", "Bohr^2", "Bohr^2", 1.0, "sum", False),
    PropertySpec("U0", "InternalEnergy_0K_au", *_ENERGY, "sum", True),
    PropertySpec("U", "InternalEnergy_298K_au", *_ENERGY, "sum", True),
    PropertySpec("H", "Enthalphy_298K_au", *_ENERGY, "sum", True),
    PropertySpec("G", "GibbsFreeEnergy_298K_au", *_ENERGY, "sum", True),
    PropertySpec("Cv", "Heatcapacity_Cv_cal_mol_K", "cal/(mol K)", "cal/(mol K)", 1.0, "sum", True),
]}

#: Factor from the source unit (CSV / xyz) to the package unit.
_FROM_SOURCE = {name: (units.Hartree if spec.unit == "eV" else 1.0) for name, spec in PROPERTIES.items()}

# QM9 atomref table (B3LYP/6-31G(2df,p)): Hartree for U0, U(298), H(298), G(298); cal/(mol K) for Cv.
_ATOMREF_SOURCE = {
    1: (-0.500273, -0.498857, -0.497912, -0.510927, 2.981),
    6: (-37.846772, -37.845355, -37.844411, -37.861317, 2.981),
    7: (-54.583861, -54.582445, -54.581501, -54.598897, 2.981),
    8: (-75.064579, -75.063163, -75.062219, -75.079532, 2.981),
    9: (-99.718730, -99.717314, -99.716370, -99.733544, 2.981),
}
#: Single-atom references per property with ``has_atomref``: ``{name: {Z: value}}`` in package units.
ATOM_REFERENCES: dict[str, dict[int, float]] = {
    name: {z: refs[k] * _FROM_SOURCE[name] for z, refs in _ATOMREF_SOURCE.items()}
    for k, name in enumerate(("U0", "U", "H", "G", "Cv"))
}

#: (n_train, n_val) of the thesis experiments; the test set is the rest (SchNet) or as stated there.
THESIS_SPLITS = {"schnet": (110_000, 10_000), "dtnn_25k": (25_000, 1_000),
                 "dtnn_50k": (50_000, 1_000), "dtnn_100k": (100_000, 1_000)}

_QM9PACK_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
_QM9PACK_ROWS = 130_831
#: Molecules of the qm9pack QM9 (those that passed the consistency check of Ramakrishnan et al.).
QM9PACK_MOLECULES = _QM9PACK_ROWS
#: Version of the CSV parsing (part of the cache key: a change of the parser or of the package units bumps it).
_PARSER_VERSION = 1
_REFERENCE = "Ramakrishnan et al., Sci. Data 1, 140022 (2014); B3LYP/6-31G(2df,p)"
# property order on line 2 of an original QM9 .xyz file, after "gdb <index>"
_XYZ_FIELDS = ("A", "B", "C", "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U", "H", "G", "Cv")


class QM9(AtomsDataView):
    """Molecules stored flat: a view of one :class:`~tfatoms.data.atoms.AtomsData` (:attr:`atoms_data`).

    Molecule ``m`` is ``numbers[offsets[m]:offsets[m+1]]`` / ``positions[...]`` (Angstrom);
    ``properties`` holds the 12 :data:`PROPERTIES` in package units, one value per molecule.
    ``numbers``, ``positions``, ``offsets`` (the AtomsData's ``ptr``), ``index``, ``smiles`` and the
    ``properties`` arrays are the AtomsData's own arrays (per-structure properties ``index``, ``smiles`` and
    the 12 names, with their units), so ``to_atoms_data()[m]`` is molecule ``m`` as ``ase.Atoms`` with all of
    them in ``info``.
    """

    def __init__(self, numbers, positions, offsets, index, smiles, properties, metadata=None):
        numbers = np.asarray(numbers)
        positions = np.asarray(positions, dtype=np.float64)
        offsets = np.asarray(offsets, dtype=np.int64)
        index = np.asarray(index, dtype=np.int64)
        smiles = np.asarray(smiles, dtype=str)
        n = len(index)
        if positions.shape != (len(numbers), 3):
            raise ValueError(f"positions must have shape ({len(numbers)}, 3), got {positions.shape}")
        if offsets.shape != (n + 1,) or offsets[0] != 0 or offsets[-1] != len(numbers) \
                or np.any(np.diff(offsets) < 0):
            raise ValueError(f"offsets must increase from 0 to {len(numbers)} with {n + 1} entries")
        if len(smiles) != n:
            raise ValueError(f"smiles has {len(smiles)} entries for {n} molecules")
        missing = set(PROPERTIES) - set(properties)
        if missing:
            raise ValueError(f"properties lack {sorted(missing)}")
        props = {"index": index, "smiles": smiles}
        for k, v in properties.items():
            v = np.asarray(v, dtype=np.float64)
            if v.shape != (n,):
                raise ValueError(f"property {k!r} has shape {v.shape}, expected ({n},)")
            props[k] = v
        meta = {"source": "QM9", "reference": _REFERENCE, **dict(metadata or {})}
        self.atoms_data = AtomsData(numbers, positions, offsets, properties=props, per_atom=(),
                                    units={k: spec.unit for k, spec in PROPERTIES.items()}, metadata=meta)

    @classmethod
    def from_atoms_data(cls, data: AtomsData) -> QM9:
        """A view of ``data``, which must hold ``index``, ``smiles`` and the 12 :data:`PROPERTIES` per molecule
        (in other units they are converted to the package units)."""
        per_atom = sorted(data.per_atom & {"index", "smiles", *PROPERTIES})
        if per_atom:
            raise ValueError(f"a QM9 view needs {per_atom} per molecule, not per atom{data._source_text()}")
        other = {k: spec.unit for k, spec in PROPERTIES.items()
                 if k in data.properties and data.units.get(k, spec.unit) != spec.unit}
        return cls._view(data.to_units(other) if other else data, ("index", "smiles", *PROPERTIES))

    index = property_view("index", "gdb index of each molecule, ``(n_molecules,)`` int64.")
    smiles = property_view("smiles", "SMILES of each molecule, ``(n_molecules,)`` str.")

    @property
    def properties(self) -> dict[str, np.ndarray]:
        """The 12 :data:`PROPERTIES` in package units: ``{name: (n_molecules,) float64}`` (the AtomsData's arrays)."""
        return {k: self.atoms_data.properties[k] for k in PROPERTIES}

    def __repr__(self) -> str:
        return f"QM9({len(self)} molecules, {len(self.numbers)} atoms)"

    def _check_molecule(self, m) -> int:
        m = int(m)
        if not -len(self) <= m < len(self):
            raise IndexError(f"molecule {m} out of range for {len(self)} molecules")
        return m % len(self)

    def molecule(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """``(numbers, positions)`` of molecule ``m`` (views into the flat arrays)."""
        m = self._check_molecule(m)
        s = slice(self.offsets[m], self.offsets[m + 1])
        return self.numbers[s], self.positions[s]

    def atoms(self, m: int) -> Atoms:
        """Molecule ``m`` as ``ase.Atoms`` (no cell, pbc False); ``info`` holds its gdb index and SMILES."""
        numbers, positions = self.molecule(m)
        m = self._check_molecule(m)
        return Atoms(numbers=numbers.astype(int), positions=positions.copy(), pbc=False,
                     info={"index": int(self.index[m]), "smiles": str(self.smiles[m])})

    def _molecule_ids(self) -> np.ndarray:
        return np.repeat(np.arange(len(self)), self.n_atoms)

    def reference_sum(self, name: str) -> np.ndarray:
        """``sum_i ref(Z_i)`` per molecule for a property with atom references (package units)."""
        spec = _spec(name)
        if not spec.has_atomref:
            raise ValueError(f"property {name!r} has no atom references; those with: "
                             f"{[k for k, s in PROPERTIES.items() if s.has_atomref]}")
        table = np.full(128, np.nan)
        for z, value in ATOM_REFERENCES[name].items():
            table[z] = value
        per_atom = table[self.numbers]
        if np.isnan(per_atom).any():
            z = int(self.numbers[np.argmax(np.isnan(per_atom))])
            raise ValueError(f"no {name} atom reference for element {chemical_symbols[z]} (Z={z})")
        return np.bincount(self._molecule_ids(), weights=per_atom, minlength=len(self))

    def target(self, name: str, atomization: bool = True) -> np.ndarray:
        """Property ``name`` per molecule in package units.

        For U0, U, H, G and Cv with ``atomization=True`` the sum of the single-atom
        references is subtracted (thesis App. A.1: ``U0_at = U0 - sum_i U0(Z_i)``).
        """
        spec = _spec(name)
        values = self.properties[name]
        if atomization and spec.has_atomref:
            return values - self.reference_sum(name)
        return values.copy()

    def subset(self, indices) -> QM9:
        """The molecules ``indices`` (integer array or boolean mask), in that order, as a new :class:`QM9`
        (a view of ``atoms_data.subset(indices)``, whose metadata record the indices)."""
        return QM9.from_atoms_data(self.atoms_data.subset(np.arange(len(self))[np.asarray(indices)]))

    def composition(self, z: int) -> np.ndarray:
        """Number of atoms of element ``z`` in each molecule, ``(n_molecules,)`` int64 (cached)."""
        z = int(z)
        if "_composition" not in self.__dict__:
            self._composition: dict = {}
        if z not in self._composition:
            self._composition[z] = np.bincount(self._molecule_ids()[self.numbers == z], minlength=len(self))
        return self._composition[z]

    def formula_indices(self, formula: str) -> np.ndarray:
        """Indices of the molecules with exactly the composition ``formula``, e.g. ``"C7O2H10"`` (any order)."""
        if not isinstance(formula, str) or not re.fullmatch(r"(?:[A-Z][a-z]?\d*)+", formula):
            raise ValueError(f"cannot parse chemical formula {formula!r} (expected e.g. 'C7O2H10')")
        counts: dict[int, int] = {}
        for symbol, k in re.findall(r"([A-Z][a-z]?)(\d*)", formula):
            if symbol not in _SYMBOL_TO_Z:
                raise ValueError(f"unknown element {symbol!r} in formula {formula!r}")
            z = _SYMBOL_TO_Z[symbol]
            counts[z] = counts.get(z, 0) + (int(k) if k else 1)
        mask = self.n_atoms == sum(counts.values())
        for z, k in counts.items():
            mask &= self.composition(z) == k
        return np.flatnonzero(mask)


def _spec(name: str) -> PropertySpec:
    if name not in PROPERTIES:
        raise ValueError(f"unknown QM9 property {name!r}; valid names: {list(PROPERTIES)}")
    return PROPERTIES[name]


def _concat(molecules: list[tuple]) -> QM9:
    """Build a :class:`QM9` from ``(index, smiles, numbers, positions, properties)`` tuples."""
    if not molecules:
        raise ValueError("no molecules")
    n_atoms = np.array([len(m[2]) for m in molecules])
    return QM9(np.concatenate([m[2] for m in molecules]), np.concatenate([m[3] for m in molecules]),
               np.concatenate([[0], np.cumsum(n_atoms)]), [m[0] for m in molecules],
               [m[1] for m in molecules], {k: [m[4][k] for m in molecules] for k in PROPERTIES})


# ----------------------------------------------------------------------------- qm9pack CSV

def _qm9pack_source() -> tuple[str, Path]:
    """``(version, data folder)`` of the installed qm9pack; ImportError if it is missing."""
    try:
        spec = importlib.util.find_spec("qm9pack")
        version = importlib.metadata.version("qm9pack") if spec is not None else None
    except (ImportError, ValueError, importlib.metadata.PackageNotFoundError):
        spec = version = None
    if spec is None or version is None:
        raise ImportError("QM9 data come from the qm9pack package, which is not installed: pip install qm9pack")
    try:
        data = Path(str(importlib.resources.files("qm9pack") / "data"))
    except ImportError:  # qm9pack's own __init__ failed (it imports pandas and pkg_resources)
        data = Path(spec.submodule_search_locations[0]) / "data"
    return version, data


def _parse_qm9pack_csv(paths, progress: bool = True, max_rows: int | None = None) -> QM9:
    """Parse qm9pack CSV files (all rows, or the first ``max_rows``) into a :class:`QM9`.

    Elements and coordinates are split as text and converted in one numpy call at the
    end (coordinates such as ``0.`` and ``1.`` are valid floats).
    """
    csv.field_size_limit(sys.maxsize)
    index, smiles, numbers, xyz, n_atoms, props = [], [], [], [], [], []
    columns = [spec.column for spec in PROPERTIES.values()]
    total = max_rows if max_rows is not None else _QM9PACK_ROWS
    with tqdm(total=total, desc="QM9 (qm9pack CSV)", unit="mol", disable=not progress, mininterval=0.5) as bar:
        for path in paths:
            path = Path(path)
            with path.open(newline="") as f:
                reader = csv.reader(f)
                header = next(reader, None)
                if header is None:
                    raise ValueError(f"{path}: empty file, expected a CSV header")
                try:
                    col = {name: header.index(name) for name in ["Index", "SMILES", "N_atoms", "Elements",
                                                                  "XYZ_Ang", *columns]}
                except ValueError as err:
                    raise ValueError(f"{path}: unexpected CSV header ({err})") from None
                i_idx, i_smi, i_n, i_el, i_xyz = (col[k] for k in ("Index", "SMILES", "N_atoms", "Elements",
                                                                   "XYZ_Ang"))
                i_props = [col[c] for c in columns]
                for row in reader:
                    if max_rows is not None and len(index) >= max_rows:
                        break
                    try:
                        n = int(row[i_n])
                        symbols = row[i_el].strip("[]").replace("'", "").replace('"', "").split(",")
                        coords = row[i_xyz].replace("[", "").replace("]", "")
                        if len(symbols) != n or coords.count(",") != 3 * n - 1:
                            raise ValueError(f"N_atoms = {n} but {len(symbols)} elements and "
                                             f"{coords.count(',') + 1} coordinates")
                        numbers.extend(_SYMBOL_TO_Z[s.strip()] for s in symbols)
                        props.append([float(row[i]) for i in i_props])
                        index.append(int(row[i_idx]))
                    except (ValueError, IndexError, KeyError) as err:
                        raise ValueError(f"{path}, line {reader.line_num}: malformed QM9 row ({err!r})") from None
                    smiles.append(row[i_smi])
                    xyz.append(coords)
                    n_atoms.append(n)
                    bar.update()
    if not index:
        raise ValueError(f"no molecules in {[str(p) for p in paths]}")
    try:
        positions = np.array(",".join(xyz).replace("*^", "e").split(","), dtype=np.float64).reshape(-1, 3)
    except ValueError as err:
        raise ValueError(f"non-numeric coordinate in {[str(p) for p in paths]} ({err})") from None
    props = np.array(props, dtype=np.float64)
    return QM9(np.array(numbers, dtype=np.int8), positions, np.concatenate([[0], np.cumsum(n_atoms)]),
               index, np.array(smiles, dtype=object),
               {name: props[:, k] * _FROM_SOURCE[name] for k, name in enumerate(PROPERTIES)})


def _read_legacy(f, params: dict):
    """A cache of the layout an earlier tfatoms wrote (``format`` attribute 1, file ``qm9_qm9pack-<version>.h5``):
    ``(stored parameters, reader)``, or None for another layout. That layout recorded the qm9pack version but no
    file hashes: the version is compared, the hashes are taken as those requested."""
    if f.attrs.get("format") != 1 or "source" not in f.attrs:
        return None
    source = json.loads(f.attrs["source"])
    return dict(params, package=source.get("package"), version=source.get("version")), lambda: QM9(
        f["numbers"][...], f["positions"][...], f["offsets"][...], f["index"][...], f["smiles"].asstr()[...],
        {k: f["properties"][k][...] for k in PROPERTIES}, _metadata(source))


def _metadata(source: dict) -> dict:
    return {"source": f"QM9, qm9pack {source.get('version')} ({', '.join(_QM9PACK_FILES)})",
            "reference": _REFERENCE, "rows": int(source.get("rows", 0)),
            "units": "positions Angstrom; properties in package units (see tfatoms.data.qm9.PROPERTIES)"}


#: The QM9 HDF5 cache: an AtomsData file (:mod:`tfatoms.data.cache`), keyed by the qm9pack version and the
#: SHA-256 of its CSV files.
CACHE = DatasetCache("QM9", write=lambda data, f: data.atoms_data.write_hdf5_group(f),
                     read=lambda f: QM9.from_atoms_data(AtomsData.read_hdf5_group(f)), legacy=_read_legacy,
                     remedy="delete it or call load_qm9(refresh=True)")


def qm9_cache_params(version: str, folder) -> dict:
    """What the QM9 cache is a function of: the qm9pack version, the SHA-256 of its CSV files, the parser."""
    return {"package": "qm9pack", "version": version, "parser": _PARSER_VERSION,
            "files": source_hashes(Path(folder) / name for name in _QM9PACK_FILES)}


def load_qm9(cache_dir=None, progress: bool = True, refresh: bool = False) -> QM9:
    """All 130,831 QM9 molecules of the ``qm9pack`` package, in package units.

    The first call parses the CSVs (about half a minute) and writes the HDF5 cache
    ``<cache_dir>/qm9_qm9pack-<version>-<key>.h5`` (:mod:`tfatoms.data.cache`: an AtomsData file keyed by the
    qm9pack version and the SHA-256 of its CSV files, which it also stores and checks; written atomically);
    later calls read the cache (hashing the CSVs costs about 0.3 s). ``cache_dir`` defaults to
    ``$TFATOMS_CACHE`` or ``~/.cache/tfatoms``; ``refresh=True`` re-parses. A damaged cache file is a
    :class:`~tfatoms.data.cache.CacheFileError` naming it; a cache an earlier tfatoms wrote
    (``qm9_qm9pack-<version>.h5``) is converted to the new file and removed, with a warning.

    While the cache is generated the cache directory is locked (:func:`tfatoms._io.exclusive`):
    a second process that needs to generate it meanwhile gets
    :class:`~tfatoms._io.DirectoryInUse` at once instead of a second half-written copy.
    """
    version, folder = _qm9pack_source()
    paths = [folder / name for name in _QM9PACK_FILES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"qm9pack {version} lacks its data files {missing}; reinstall: pip install qm9pack")
    cache_dir = Path(cache_dir if cache_dir is not None else default_cache_dir())
    params = qm9_cache_params(version, folder)
    path = CACHE.path(cache_dir, params, stem=f"qm9_qm9pack-{version}")
    if not refresh:
        CACHE.adopt(cache_dir / f"qm9_qm9pack-{version}.h5", path, params)

    def parse() -> QM9:
        data = _parse_qm9pack_csv(paths, progress=progress)
        data.atoms_data.metadata.update(_metadata({"version": version, "rows": len(data)}))
        return data

    return CACHE.get(path, params, parse, refresh=refresh)


# ----------------------------------------------------------------------------- original .xyz files

def _float(text: str) -> float:
    """A number of the QM9 .xyz files, which may use Mathematica exponents (``-1.2*^-6``)."""
    return float(text.replace("*^", "e"))


def read_qm9_xyz(path) -> tuple[Atoms, dict]:
    """Read one original QM9 ``.xyz`` file (Ramakrishnan et al. 2014, format of ``dsgdb9nsd_*.xyz``).

    Returns the molecule and a dict of the 12 :data:`PROPERTIES` in package units plus
    ``"index"`` (gdb index) and ``"smiles"`` (the relaxed-geometry SMILES, second column).
    Raises ``ValueError`` naming the file and line if the file is malformed.
    """
    path = Path(path)
    lines = path.read_text().splitlines()

    def fail(line: int, what: str):
        raise ValueError(f"{path}, line {line}: {what}")

    def fields(line: int, n_min: int) -> list[str]:
        if line > len(lines):
            fail(line, f"missing (file has {len(lines)} lines)")
        f = lines[line - 1].split()
        if len(f) < n_min:
            fail(line, f"expected at least {n_min} fields, got {len(f)}: {lines[line - 1]!r}")
        return f

    def floats(line: int, texts) -> list[float]:
        try:
            return [_float(t) for t in texts]
        except ValueError:
            fail(line, f"non-numeric field in {lines[line - 1]!r}")

    head = fields(1, 1)
    try:
        n = int(head[0])
    except ValueError:
        fail(1, f"expected the number of atoms, got {lines[0]!r}")
    if n < 1:
        fail(1, f"number of atoms must be positive, got {n}")
    gdb = fields(2, 2 + len(_XYZ_FIELDS))
    if gdb[0] != "gdb":
        fail(2, f"expected 'gdb <index> <15 properties>', got {lines[1]!r}")
    try:
        index = int(gdb[1])
    except ValueError:
        fail(2, f"non-integer gdb index {gdb[1]!r}")
    raw = dict(zip(_XYZ_FIELDS, floats(2, gdb[2:2 + len(_XYZ_FIELDS)])))
    symbols, xyz = [], []
    for line in range(3, 3 + n):
        f = fields(line, 4)
        if f[0] not in _SYMBOL_TO_Z or (len(lines[line - 1].split()) > 5):
            fail(line, f"expected 'El x y z charge' for atom {line - 2} of {n}, got {lines[line - 1]!r}")
        symbols.append(f[0])
        xyz.append(floats(line, f[1:4]))
    if 3 + n <= len(lines):  # an extra atom where the frequencies should be: wrong atom count
        extra = lines[2 + n].split()
        if extra and extra[0] in _SYMBOL_TO_Z:
            fail(3 + n, f"more atoms than the {n} declared on line 1")
    fields(3 + n, 1)  # harmonic frequencies
    smiles = fields(4 + n, 1)
    fields(5 + n, 1)  # InChI
    props = {name: raw[name] * _FROM_SOURCE[name] for name in PROPERTIES}
    props["index"] = index
    props["smiles"] = smiles[-1]
    return Atoms(symbols, positions=xyz, pbc=False), props


def load_qm9_xyz_dir(directory, progress: bool = True) -> QM9:
    """All ``*.xyz`` files of an unpacked original QM9 archive, sorted by gdb index."""
    directory = Path(directory)
    files = sorted(directory.glob("*.xyz"))
    if not files:
        raise ValueError(f"no .xyz files in {directory}")
    molecules = []
    for path in tqdm(files, desc="QM9 (xyz)", unit="mol", disable=not progress, mininterval=0.5):
        atoms, props = read_qm9_xyz(path)
        molecules.append((props["index"], props["smiles"], atoms.numbers, atoms.positions, props))
    molecules.sort(key=lambda m: m[0])
    return _concat(molecules)


# ----------------------------------------------------------------------------- splits

def qm9_split(n_molecules: int, n_train: int, n_val: int, n_test: int | None = None,
              seed: int = 0) -> dict[str, np.ndarray]:
    """Reproducible random split into disjoint ``{"train", "val", "test"}`` index arrays.

    One permutation of ``range(n_molecules)`` (``numpy.random.default_rng(seed)``) is cut as
    ``val = perm[:n_val]``, ``train = perm[n_val:n_val + n_train]`` and ``test`` = the last
    ``n_test`` entries (or, for ``n_test=None``, everything after train). So for a given seed
    the validation set, and the test set for a given ``n_test``, are the same for every
    ``n_train``, and a smaller training set is a prefix of a larger one: learning curves
    compare models on identical held-out molecules. Arrays are in permutation order.
    """
    sizes = {"n_molecules": n_molecules, "n_train": n_train, "n_val": n_val}
    if n_test is not None:
        sizes["n_test"] = n_test
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    used = n_train + n_val + (n_test or 0)
    if used > n_molecules:
        raise ValueError(f"split needs n_train + n_val{' + n_test' if n_test is not None else ''} = {used} "
                         f"molecules but there are only {n_molecules}")
    perm = np.random.default_rng(seed).permutation(n_molecules)
    test = perm[n_val + n_train:] if n_test is None else perm[n_molecules - n_test:]
    return {"train": perm[n_val:n_val + n_train], "val": perm[:n_val], "test": test}
