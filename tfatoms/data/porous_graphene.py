"""Porous graphene dataset: seeded porous sheets, 1000 K MD snapshots, REBO energies (EDNN sec. 3.2.2).

The paper generated 3,137 starting geometries by removing random regions from
35 x 35 A graphene, held 349 of them out for testing, ran DFT MD at 1000 K from
each and collected 501,473 training and 60,744 test configurations. Here each
starting geometry ``g`` is a :class:`~tfatoms.data.sheets.PorousSheet` of
2 x 2 blocks (34.44 x 34.09 A) seeded by ``(seed, g)``, with its own hole
density drawn uniformly from 0 to 2.5 times the default (so the set spans
pristine to about 20 % porosity); from it :class:`ReboSheet` runs NVT MD at
1000 K and collects ``n_snapshots`` configurations. Splits are by starting
geometry: no test (or validation) configuration shares a starting geometry with
a training one.

Generation is resumable: geometries are processed in chunks written atomically
under ``<path>.parts/``; an interrupted run continues with the missing chunks,
and the final HDF5 file is written to a temporary name and renamed.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from tfatoms._io import atomic_path, exclusive
from tfatoms._validation import non_negative_int, positive_int
from tfatoms.data.atoms import AtomsData, AtomsDataView, property_view
from tfatoms.data.cache import DatasetCache, check_directory_params
from tfatoms.data.sheets import CARBON, DEFAULT_HOLE_DENSITY, DEFAULT_RADIUS_RANGE, VACUUM, PorousSheet

SPLITS = ("train", "val", "test")
_CHUNK = 8          # starting geometries per resumable chunk


class PorousGrapheneData(AtomsDataView):
    """Configurations of porous graphene sheets with reference energies (eV) and forces (eV/A).

    ``positions[offsets[k]:offsets[k + 1]]`` are the atoms of configuration ``k``;
    all configurations share the orthogonal cell ``cell`` (Angstrom, z = vacuum).

    A view of one :class:`~tfatoms.data.atoms.AtomsData` (:attr:`atoms_data`): carbon atoms, the cell
    ``diag(cell)`` periodic in x and y, per-structure ``energy`` (eV), ``geometry`` (starting geometry) and
    ``split`` (0 train, 1 val, 2 test), per-atom ``forces`` (eV/A); ``attrs`` (generation parameters, reference,
    MD protocol) is its metadata. ``positions``, ``offsets`` (its ``ptr``), ``forces``, ``energy``, ``geometry``
    and ``split`` are the AtomsData's arrays (forces float64: the float32 values stored by the MD, widened exactly).
    """

    def __init__(self, positions, forces, offsets, energy, geometry, split, cell, attrs):
        cell = np.asarray(cell, np.float64)
        if cell.shape != (3,):
            raise ValueError(f"cell must be the 3 lengths of the orthogonal cell (Angstrom), got shape {cell.shape}")
        positions = np.asarray(positions)
        self.atoms_data = AtomsData(
            np.full(len(positions), CARBON), positions, offsets, cell=np.diag(cell), pbc=(True, True, False),
            properties={"energy": energy, "forces": forces, "geometry": geometry, "split": split},
            per_atom={"forces"}, units={"energy": "eV", "forces": "eV/A"},
            metadata={"source": "porous graphene (REBO MD, tfatoms.data.porous_graphene)", **dict(attrs),
                      "cell": cell.tolist()})

    @classmethod
    def from_atoms_data(cls, data: AtomsData) -> "PorousGrapheneData":
        """A view of ``data`` (per-structure ``energy``, ``geometry``, ``split``, per-atom ``forces``, one cell)."""
        return cls._view(data, ("energy", "forces", "geometry", "split"), ("cell",))

    forces = property_view("forces", "``(n_total, 3)`` eV/A.")
    energy = property_view("energy", "``(n,)`` eV, the REBO potential energy of each configuration.")
    geometry = property_view("geometry", "``(n,)`` starting geometry of each configuration.")
    split = property_view("split", "``(n,)`` 0 train, 1 val, 2 test.")

    @property
    def cell(self) -> np.ndarray:
        """``(3,)`` lengths of the orthogonal cell shared by all configurations, Angstrom."""
        return np.asarray(self.atoms_data.metadata["cell"], np.float64)

    @property
    def attrs(self) -> dict:
        """Generation parameters (``params``), ``reference``, ``units`` and ``md`` protocol (the metadata)."""
        return self.atoms_data.metadata

    def __repr__(self) -> str:
        return f"PorousGrapheneData({len(self)} configurations, {self.atoms_data.n_atoms_total} atoms)"

    @property
    def area(self) -> float:
        return float(self.cell[0] * self.cell[1])

    @property
    def energy_per_area(self) -> np.ndarray:
        """eV / A^2 (the paper's Fig. 7 unit)."""
        return self.energy / self.area

    def indices(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return np.flatnonzero(self.split == SPLITS.index(split))

    def config(self, k: int) -> np.ndarray:
        return self.positions[self.offsets[k]:self.offsets[k + 1]]

    def atoms(self, k: int):
        from ase import Atoms

        pos = self.config(k)
        return Atoms(numbers=np.full(len(pos), CARBON), positions=pos, cell=self.cell, pbc=(True, True, False))


def starting_geometry(g: int, seed: int = 0, blocks=(2, 2)) -> PorousSheet:
    """Starting geometry ``g`` of the dataset with ``seed``: its own seed and hole density."""
    rng = np.random.default_rng([seed, g, 7])
    return PorousSheet(blocks, seed=int(rng.integers(2**62)), hole_density=float(rng.uniform(0, 2.5)) * DEFAULT_HOLE_DENSITY,
                       radius_range=DEFAULT_RADIUS_RANGE)


def md_snapshot(sheet: PorousSheet, equilibrate: int = 600, seed: int = 1, temperature: float = 1000.0,
                interval: int = 100):
    """``(snapshot, seconds)``: the last frame of ``equilibrate`` steps of the dataset's REBO Nose-Hoover MD
    (1000 K, 0.5 fs) of ``sheet`` in its periodic cell (the transfer and precision checks' sheets)."""
    import time

    from tfatoms.data.lammps_rebo import ReboSheet

    t0 = time.perf_counter()
    with ReboSheet(sheet.positions(), [*sheet.size, VACUUM]) as md:
        snap = next(md.md(temperature=temperature, n_snapshots=1, n_equilibrate=equilibrate, interval=interval,
                          seed=seed))
    return snap, time.perf_counter() - t0


def geometry_splits(n_geometries: int, seed: int = 0, test_fraction: float = 349 / 3137,
                    val_fraction: float = 0.05) -> np.ndarray:
    """Split code (0 train, 1 val, 2 test) of every starting geometry, by a seeded permutation.

    The default test fraction is the paper's 349 of 3,137 geometries."""
    n = positive_int(n_geometries, "n_geometries")
    n_test = max(1, round(test_fraction * n))
    n_val = max(1, round(val_fraction * n))
    if n_test + n_val >= n:
        raise ValueError(f"{n} starting geometries leave none for training after {n_test} test and {n_val} val")
    order = np.random.default_rng([seed, 11]).permutation(n)
    split = np.zeros(n, np.int8)
    split[order[:n_test]] = 2
    split[order[n_test:n_test + n_val]] = 1
    return split


def _chunk_job(args):
    """MD of the starting geometries ``g0..g1``; returns arrays of their snapshots."""
    from tfatoms.data.lammps_rebo import ReboSheet

    g0, g1, params = args
    pos, frc, counts, energy, geometry, temperature = [], [], [], [], [], []
    for g in range(g0, g1):
        md_seed = 1 + (params["seed"] * 1_000_003 + g) % 900_000_000
        if params.get("distribution", "holes") == "mixed":
            from tfatoms.data.porous_kinds import recipe_snapshots

            snaps = recipe_snapshots(recipe(params, g), params["n_snapshots"],
                                     params["n_equilibrate"], params["interval"], seed=md_seed)
        else:
            sheet = starting_geometry(g, params["seed"], params["blocks"])
            with ReboSheet(sheet.positions(), [*sheet.size, VACUUM]) as md:
                snaps = list(md.md(params["temperature"], params["n_snapshots"], params["n_equilibrate"],
                                   params["interval"], seed=md_seed))
        for snap in snaps:
            pos.append(snap.positions)
            frc.append(snap.forces.astype(np.float32))
            counts.append(len(snap.positions))
            energy.append(snap.energy)
            geometry.append(g)
            temperature.append(snap.temperature)
    return dict(positions=np.concatenate(pos), forces=np.concatenate(frc), counts=np.array(counts),
                energy=np.array(energy), geometry=np.array(geometry), temperature=np.array(temperature))


def recipe(params: dict, g: int):
    """Starting geometry ``g`` of a dataset with generation parameters ``params`` (``data.attrs["params"]``): a
    :class:`~tfatoms.data.porous_kinds.SheetRecipe` for the mixed distribution, else the
    :class:`~tfatoms.data.sheets.PorousSheet`."""
    if params.get("distribution", "holes") == "mixed":
        from tfatoms.data.porous_kinds import training_recipe

        return training_recipe(int(g), params["seed"], params["blocks"], params.get("strain_tiles", 0))
    return starting_geometry(int(g), params["seed"], params["blocks"])


def _write(data: PorousGrapheneData, f) -> None:
    data.atoms_data.write_hdf5_group(f)


def _read(f) -> PorousGrapheneData:
    data = AtomsData.read_hdf5_group(f)
    return PorousGrapheneData.from_atoms_data(data)


def _read_legacy(f, params):
    """The layout an earlier tfatoms wrote (flat datasets ``positions``, ``forces``, ``offsets``, ``energy``,
    ``geometry``, ``split``, ``cell``; attributes ``params`` (JSON), ``reference``, ``units``, ``md``)."""
    if "params" not in f.attrs or "offsets" not in f or "format" in f.attrs:
        return None
    attrs = {k: (json.loads(v) if k == "params" else v) for k, v in f.attrs.items()}

    def read():
        data = {k: f[k][()] for k in ("positions", "forces", "offsets", "energy", "geometry", "split", "cell")}
        if data["offsets"][-1] != len(data["positions"]) or len(data["offsets"]) != len(data["energy"]) + 1:
            raise ValueError("offsets do not match positions/energies (truncated file?)")
        return PorousGrapheneData(attrs=attrs, **data)

    return attrs["params"], read


#: The porous graphene dataset file: an AtomsData file with its generation parameters (:mod:`tfatoms.data.cache`).
CACHE = DatasetCache("porous graphene", write=_write, read=_read, legacy=_read_legacy,
                     remedy="delete it and generate again")


def generate_porous_graphene(path, n_geometries: int = 1200, n_snapshots: int = 8, seed: int = 0,
                             temperature: float = 1000.0, n_equilibrate: int = 600, interval: int = 100,
                             blocks=(2, 2), workers: int = 1, progress: bool = True,
                             distribution: str = "holes", strain_tiles: int = 0) -> Path:
    """Generate (or finish generating) the dataset at ``path`` (HDF5) and return the path.

    ``distribution``: ``"holes"`` (the paper's: circular pruned holes, MD at ``temperature``) or ``"mixed"``
    (:func:`tfatoms.data.porous_kinds.training_recipe`: six kinds of sheet, 0 K flat or 300-1500 K, ripples;
    ``temperature`` is then the recipes'; ``strain_tiles`` strains every sheet along x by that many focus tiles).
    Starting geometry ``g`` of the mixed set is ``training_recipe(g, seed, blocks, strain_tiles)``
    (:func:`recipe`), one configuration when it is flat at 0 K.

    An existing file made with the same parameters is kept; one made with other parameters is a
    :class:`~tfatoms.data.cache.CacheMismatchError` naming the parameter (choose another path), and so are
    unfinished chunks under ``<path>.parts/`` of other parameters; a damaged file is a
    :class:`~tfatoms.data.cache.CacheFileError` (:mod:`tfatoms.data.cache`). A file of an earlier tfatoms is
    converted in place. While it is generated the directory of ``path`` is locked
    (:func:`tfatoms._io.exclusive`). Cost: about 1 s per starting
    geometry per core (REBO, ~420 atoms, ``n_equilibrate + n_snapshots * interval``
    steps of 0.5 fs).
    """
    path = Path(path)
    params = dict(n_geometries=positive_int(n_geometries, "n_geometries"),
                  n_snapshots=positive_int(n_snapshots, "n_snapshots"), seed=non_negative_int(seed, "seed"),
                  temperature=float(temperature), n_equilibrate=non_negative_int(n_equilibrate, "n_equilibrate"),
                  interval=positive_int(interval, "interval"), blocks=[int(b) for b in blocks])
    if distribution not in ("holes", "mixed"):
        raise ValueError(f"distribution must be 'holes' or 'mixed', got {distribution!r}")
    if distribution == "mixed":         # (the paper's files keep their parameters without the key)
        params["distribution"] = distribution
        if strain_tiles:
            params["strain_tiles"] = int(strain_tiles)
    elif strain_tiles:
        raise ValueError("strain_tiles needs distribution='mixed'")
    if CACHE.load(path, params, read=False) is not None:
        return path
    with exclusive(path.parent, "dataset directory"):
        if CACHE.load(path, params, read=False) is None:    # else: finished by another process meanwhile
            CACHE.store(path, params, _generate(path, params, workers, progress))
        shutil.rmtree(path.with_name(path.name + ".parts"), ignore_errors=True)
    return path


def _generate(path: Path, params: dict, workers: int, progress: bool) -> PorousGrapheneData:
    """Run (or finish) the MD of every chunk of starting geometries under ``<path>.parts/``; the whole dataset."""
    from tqdm.auto import tqdm

    parts = path.with_name(path.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    check_directory_params(parts, params, "unfinished porous graphene chunks")
    chunks = [(g0, min(g0 + _CHUNK, params["n_geometries"]), params)
              for g0 in range(0, params["n_geometries"], _CHUNK)]
    todo = [c for c in chunks if not (parts / f"chunk_{c[0]:07d}.npz").exists()]
    bar = tqdm(total=params["n_geometries"], initial=params["n_geometries"] - sum(c[1] - c[0] for c in todo),
               desc=f"porous graphene MD (REBO, {params.get('distribution', 'holes')})", unit="geometry", disable=not progress)

    def save(result, g0):
        with atomic_path(parts / f"chunk_{g0:07d}.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **result)

    if workers > 1 and len(todo) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(min(workers, len(todo))) as pool:
            for (g0, g1, _), result in zip(todo, pool.imap(_chunk_job, todo)):
                save(result, g0)
                bar.update(g1 - g0)
    else:
        for job in todo:
            save(_chunk_job(job), job[0])
            bar.update(job[1] - job[0])
    bar.close()

    results = []
    for g0, _, _ in chunks:
        with np.load(parts / f"chunk_{g0:07d}.npz") as z:
            results.append({k: z[k] for k in z.files})
    counts = np.concatenate([r["counts"] for r in results])
    geometry = np.concatenate([r["geometry"] for r in results])
    sheet = recipe(params, 0)
    from tfatoms.data.lammps_rebo import REFERENCE

    md = (f"Nose-Hoover NVT {params['temperature']} K, timestep 0.5 fs, Tdamp 50 fs, "
          f"{params['n_equilibrate']} equilibration steps, snapshot every {params['interval']} steps")
    if params.get("distribution") == "mixed":
        md = ("mixed kinds (tfatoms.data.porous_kinds.training_recipe: circular pruned, unpruned and elliptical "
              "holes, single and double vacancies, pristine; ripples); flat 0 K single points or Nose-Hoover NVT "
              f"300-1500 K, timestep 0.5 fs, Tdamp 50 fs, {params['n_equilibrate']} equilibration steps, snapshot "
              f"every {params['interval']} steps")
        if params.get("strain_tiles"):
            md += (f"; {params['blocks'][0]} x {params['blocks'][1]} blocks strained along x by "
                   f"{100 * sheet.strain:+.2f} %")
    return PorousGrapheneData(
        positions=np.concatenate([r["positions"] for r in results]),
        forces=np.concatenate([r["forces"] for r in results]), offsets=np.concatenate([[0], np.cumsum(counts)]),
        energy=np.concatenate([r["energy"] for r in results]), geometry=geometry,
        split=geometry_splits(params["n_geometries"], params["seed"])[geometry],
        cell=np.array([*sheet.size, VACUUM]),
        attrs={"params": params, "reference": REFERENCE,
               "units": "positions Angstrom, energy eV (REBO potential energy), forces eV/Angstrom", "md": md})


def load_porous_graphene(path) -> PorousGrapheneData:
    """Read a dataset written by :func:`generate_porous_graphene` (whatever its parameters: they are in
    ``attrs["params"]``). A damaged file is a :class:`~tfatoms.data.cache.CacheFileError` naming it; one of an
    earlier tfatoms is converted in place."""
    path = Path(path)
    data = CACHE.load(path)
    if data is None:
        raise FileNotFoundError(f"no porous graphene dataset at {path}: generate it with generate_porous_graphene")
    return data
