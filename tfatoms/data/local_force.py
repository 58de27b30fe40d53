"""Bulk MD data sets of the local force DNN paper (Kuritz, Gordon, Natan, "Methods: Data sets"), generated.

The paper: "super-cells were built for each material: Face-centered cubic (fcc) for Al, Body-centered cubic (bcc)
for Na, and Diamond structure for Si with the experimental lattice constants 4.05 A, 4.29 A and 5.43 A"; "3x3x3
super-cell (27 atoms), and 5x5x5 super-cell (125 atoms)" for Al and Na, "2x2x2 (16 atoms) and 4x4x4 (128 atoms)"
for Si; constant-volume MD, "For Al, the atomic configuration was recorded each 50fs. For Na and Si, ... each 1fs",
"canonical ensemble and Nose algorithm for Si and Na", "The Al run was conducted in the microcanonical ensemble with
temperatures around T=300K and T=2000K"; "about 1620 MD steps that we randomly chose from a trajectory of 1800 steps.
The other 180 configurations were used for validation."

The atom counts (27, 125; 16, 128) are those of primitive cells (one atom per fcc or bcc primitive cell, two per
diamond one) repeated M x M x M, so the cells here are ``ase.build.bulk(element, lattice, a) * (M, M, M)``.

The paper's forces are PBE (VASP) single points on AIMD (Na, Si) or EMT-MD (Al) configurations; PBE is not at
hand, so both the MD and the forces come from one classical reference per element, named in every result:

* Al: ASE EMT, the paper's own MD engine (:data:`REFERENCES` ``"emt"``);
* Na: LAMMPS MEAM with the ``library.meam`` Na entry (Baskes' 1992 MEAM library: bcc, a = 4.291 A,
  E_c = 1.13 eV, the experimental values) and a cutoff of 4.8 A (:data:`NA_MEAM_PARAMETERS` says why), ``"meam"``;
  GFN1-xTB (tblite) as the alternative ``"gfn1-xtb"``. Neither is a good bulk Na: in this 1NN MEAM the bcc
  crystal is a saddle, not a minimum (27-atom bcc cells rattled by 0.15 A relax to -1.1340 and -1.1330 eV/atom,
  below bcc's -1.1300; the 1NN-MEAM weakness of bcc metals that 2NN MEAM was made for), so MD at 300 K leaves bcc
  for distorted variants; GFN1-xTB (Gamma point, 27 atoms) has no energy minimum near 4.29 A (the energy falls
  from a = 4.0 to 4.45 A) and costs 0.6-1 s per 27-atom and 5.4 s per 125-atom force call against 0.4 ms
  (measured). MEAM is the default: the cheaper of two imperfect references;
* Si: LAMMPS Stillinger-Weber with ``Si.sw`` (Stillinger and Weber 1985), ``"sw"``; ``"tersoff"``
  (``Si.tersoff``) as an alternative.

Thermostats: Nose-Hoover is not among :func:`~tfatoms.data.reference.sample_md`'s thermostats; Na and Si use
Langevin dynamics (canonical like Nose-Hoover; friction 0.01/fs, 1 fs steps, a snapshot every step) after
an equilibration that is discarded. Al uses NVE (velocity Verlet, 2 fs steps, a snapshot every 50 fs) started from
the end of a Langevin equilibration at T with fresh Maxwell-Boltzmann velocities at T, so the NVE run sits near T:
from the perfect crystal with velocities at 2000 K, EMT Al equilibrates at about 890 K (measured). Each data set's
measured kinetic temperature is in ``metadata["md"]["mean_temperature_K"]``.

Data sets are cached as AtomsData HDF5 files keyed by every parameter (:class:`~tfatoms.data.cache.DatasetCache`),
and the MD runs behind them checkpoint, so an interrupted generation resumes; a longer trajectory with the same
settings extends the checkpointed one.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tfatoms.data.atoms import AtomsData
from tfatoms.data.cache import DatasetCache, params_key

#: Version of the generation protocol below (part of every cache key).
PROTOCOL_VERSION = 1
#: MD steps between checkpoints of a trajectory (an interrupted run loses at most this many).
CHECKPOINT_EVERY_STEPS = 200


@dataclass(frozen=True)
class ReferenceMethod:
    """A reference calculator by name (:func:`~tfatoms.data.reference.reference_calculator`) and what it is.

    ``files``: ``((name, text), ...)`` small parameter files the calculator reads; they are written to a directory
    at build time and ``{files}`` in string ``kwargs`` becomes that directory (the cache key holds their text,
    not a path).
    """

    key: str
    calculator: str
    kwargs: dict = field(default_factory=dict)
    description: str = ""
    files: tuple = ()

    def as_params(self) -> dict:
        return {"key": self.key, "calculator": self.calculator, "kwargs": dict(self.kwargs),
                "files": {name: text for name, text in self.files}}

    def calculator_kwargs(self, directory) -> dict:
        """``kwargs`` with the parameter files written to ``directory`` (atomically) and ``{files}`` replaced."""
        from tfatoms._io import atomic_write

        if not self.files:
            return dict(self.kwargs)
        directory = Path(directory).resolve()
        if any(ch.isspace() for ch in str(directory)):
            raise ValueError(f"the {self.key} reference reads parameter files from {directory}, a path with "
                             f"white space that LAMMPS cannot take; use a --cache-dir without spaces")
        for name, text in self.files:
            path = directory / name
            if not path.exists() or path.read_text() != text:
                directory.mkdir(parents=True, exist_ok=True)
                atomic_write(path, text)
        return {k: v.replace("{files}", str(directory)) if isinstance(v, str) else v for k, v in self.kwargs.items()}


#: The MEAM cutoff for Na. With library.meam alone LAMMPS cuts MEAM at rc = 4.0 A (delr 0.1 A), only 0.28 A beyond
#: the bcc first shell (3.72 A): at 300 K 7 % of the pairs sit in 3.9-4.0 A, where the cutoff function falls in
#: 0.1 A, and the forces come out 3 x larger (mean |F| 0.28 vs 0.096 eV/A, tails to 2.4 eV/A; measured on 27-atom
#: snapshots). rc = 4.8 A lies between the second (4.29 A, screened in the crystal) and third (6.07 A) shells and
#: leaves the crystal as the library fits it: E(a) equal to 1e-11 eV, minimum at a = 4.30 A, Ec = 1.1300 eV.
NA_MEAM_PARAMETERS = "rc = 4.8\ndelr = 0.1\n"

REFERENCES = {
    "emt": ReferenceMethod("emt", "emt", {}, "ASE EMT (effective-medium theory; the paper's MD engine for Al)"),
    "meam": ReferenceMethod("meam", "lammps:meam", {"pair_coeff": "* * library.meam Na {files}/Na_rc4.8.meam Na"},
                            "LAMMPS MEAM, library.meam Na (Baskes 1992: bcc, a = 4.29 A, Ec = 1.13 eV), rc = 4.8 A",
                            files=(("Na_rc4.8.meam", NA_MEAM_PARAMETERS),)),
    "gfn1-xtb": ReferenceMethod("gfn1-xtb", "gfn1-xtb", {}, "GFN1-xTB (tblite), Gamma point"),
    "sw": ReferenceMethod("sw", "lammps:sw", {"pair_coeff": "* * Si.sw Si"},
                          "LAMMPS Stillinger-Weber, Si.sw (Stillinger & Weber 1985)"),
    "tersoff": ReferenceMethod("tersoff", "lammps:tersoff", {"pair_coeff": "* * Si.tersoff Si"},
                               "LAMMPS Tersoff, Si.tersoff (Tersoff 1988)"),
    "snap": ReferenceMethod("snap", "lammps:snap",
                            {"pair_coeff": "* * Si_Zuo_JPCA2020.snapcoeff Si_Zuo_JPCA2020.snapparam Si"},
                            "LAMMPS SNAP, Si_Zuo_JPCA2020.snap* (Zuo et al. 2020, fitted to the mlearn PBE Si set)"),
    "qsnap": ReferenceMethod("qsnap", "lammps:snap",
                             {"pair_coeff": "* * Si_Zuo_JPCA2020.quadratic.snapcoeff "
                                            "Si_Zuo_JPCA2020.quadratic.snapparam Si"},
                             "LAMMPS quadratic SNAP, Si_Zuo_JPCA2020.quadratic.snap* (Zuo et al. 2020, mlearn PBE "
                             "Si)"),
}


@dataclass(frozen=True)
class BulkSystem:
    """One material of the paper: lattice, cells, the MD protocol and the references allowed for it."""

    element: str
    lattice: str
    a: float                       # A, the paper's experimental lattice constant
    sizes: tuple                   # M of the small and the large M x M x M primitive supercell
    references: tuple              # allowed reference keys, the first is the default
    thermostat: str                # "nve" or "langevin"
    timestep_fs: float
    interval_fs: float             # between snapshots
    equilibration_fs: float        # Langevin equilibration, discarded
    friction_per_fs: float = 0.01

    @property
    def interval_steps(self) -> int:
        return int(round(self.interval_fs / self.timestep_fs))

    @property
    def equilibration_steps(self) -> int:
        return int(round(self.equilibration_fs / self.timestep_fs))

    def supercell(self, size: int):
        """``bulk(element, lattice, a) * (size,) * 3``: 27 / 125 atoms for fcc and bcc, 16 / 128 for diamond."""
        from ase.build import bulk

        return bulk(self.element, self.lattice, a=self.a) * ((int(size),) * 3)

    def n_atoms(self, size: int) -> int:
        return len(self.supercell(size))


SYSTEMS = {
    "Al": BulkSystem("Al", "fcc", 4.05, (3, 5), ("emt",), "nve", 2.0, 50.0, 2000.0),
    "Na": BulkSystem("Na", "bcc", 4.29, (3, 5), ("meam", "gfn1-xtb"), "langevin", 1.0, 1.0, 1000.0),
    "Si": BulkSystem("Si", "diamond", 5.43, (2, 4), ("sw", "tersoff", "snap", "qsnap"), "langevin", 1.0, 1.0,
                     1000.0),
}


def reference_method(element: str, key: str | None = None) -> ReferenceMethod:
    """The reference ``key`` for ``element`` (default: the element's first); unknown or unsuitable keys raise."""
    system = system_of(element)
    key = system.references[0] if key is None else key
    if key not in system.references:
        raise ValueError(f"reference {key!r} is not available for {element}; choose one of {list(system.references)}")
    return REFERENCES[key]


def system_of(element: str) -> BulkSystem:
    try:
        return SYSTEMS[element]
    except KeyError:
        raise ValueError(f"no bulk system {element!r}; known: {sorted(SYSTEMS)}") from None


def derived_seed(seed: int, *parts) -> int:
    """A seed for one trajectory or model: ``seed`` and a CRC-32 of its name parts, within 0 .. 2**31 - 1."""
    return (int(seed) * 1_000_003 + zlib.crc32(json.dumps([str(p) for p in parts]).encode())) % 2 ** 31


CACHE = DatasetCache("local force MD")


def trajectory_params(element: str, size: int, temperature: float, n_snapshots: int, seed: int,
                      reference: str | None = None, equilibration_fs: float | None = None) -> dict:
    """Every parameter a trajectory depends on (its cache key)."""
    system = system_of(element)
    ref = reference_method(element, reference)
    if equilibration_fs is not None:
        system = replace(system, equilibration_fs=float(equilibration_fs))
    if int(n_snapshots) < 1 or int(size) < 1 or not float(temperature) > 0:
        raise ValueError(f"a trajectory needs n_snapshots >= 1, size >= 1 and a temperature > 0 K, got "
                         f"{n_snapshots}, {size}, {temperature}")
    return {"protocol": PROTOCOL_VERSION, "element": element, "lattice": system.lattice, "a": system.a,
            "size": int(size), "temperature_K": float(temperature), "n_snapshots": int(n_snapshots),
            "seed": int(seed), "reference": ref.as_params(), "thermostat": system.thermostat,
            "timestep_fs": system.timestep_fs, "interval_fs": system.interval_fs,
            "equilibration_fs": system.equilibration_fs, "friction_per_fs": system.friction_per_fs}


def trajectory_file(element: str, size: int, temperature: float, n_snapshots: int, seed: int, cache_dir,
                    reference: str | None = None, equilibration_fs: float | None = None) -> Path:
    """The cache file :func:`md_trajectory` reads or writes for these parameters (it may not exist yet)."""
    params = trajectory_params(element, size, temperature, n_snapshots, seed, reference, equilibration_fs)
    n_atoms = system_of(element).n_atoms(size)
    return CACHE.path(Path(cache_dir) / "local_force", params, stem=f"{element}{n_atoms}_{temperature:g}K")


def md_trajectory(element: str, size: int, temperature: float, n_snapshots: int, seed: int, cache_dir,
                  reference: str | None = None, equilibration_fs: float | None = None,
                  progress: bool = True) -> AtomsData:
    """``n_snapshots`` labelled MD snapshots of the ``size``^3 supercell of ``element`` at ``temperature`` K.

    Cached under ``<cache_dir>/local_force/`` (keyed by :func:`trajectory_params`); the MD checkpoints in
    ``<cache_dir>/local_force/md/`` let an interrupted run resume. Returns an :class:`AtomsData` with ``energy``
    (eV), ``forces`` (eV/A), ``md_step``, ``time`` (fs) and ``kinetic_energy`` (eV);
    ``metadata["md"]["mean_temperature_K"]`` is the measured kinetic temperature. ``equilibration_fs`` overrides
    the system's discarded Langevin equilibration (short tests).
    """
    params = trajectory_params(element, size, temperature, n_snapshots, seed, reference, equilibration_fs)
    system = replace(system_of(element), equilibration_fs=params["equilibration_fs"])
    path = trajectory_file(element, size, temperature, n_snapshots, seed, cache_dir, reference, equilibration_fs)
    return CACHE.get(path, params, lambda: _generate(system, params, path.parent / "md", progress))


def _generate(system: BulkSystem, params: dict, md_root: Path, progress: bool) -> AtomsData:
    from ase import units

    from tfatoms.data.reference import sample_md

    ref = REFERENCES[params["reference"]["key"]]
    temperature, n_snapshots, seed = params["temperature_K"], params["n_snapshots"], params["seed"]
    atoms = system.supercell(params["size"])
    # checkpoints are keyed by everything but the length, so a longer request extends the same trajectory
    settings = {k: v for k, v in params.items() if k != "n_snapshots"}
    tag = f"{system.element}{len(atoms)}_{temperature:g}K_s{seed}_{params_key(settings)[:12]}"
    common = dict(calculator=ref.calculator, calculator_kwargs=ref.calculator_kwargs(md_root.parent / "potentials"),
                  temperature=temperature,
                  timestep=system.timestep_fs, friction=system.friction_per_fs, progress=progress)
    n_eq = system.equilibration_steps
    interval = system.interval_steps
    # a checkpoint holds every snapshot so far: saving it at every 1-fs snapshot rewrites megabytes per step
    common["checkpoint_every"] = max(interval, CHECKPOINT_EVERY_STEPS)
    if system.thermostat == "langevin":
        data = sample_md(atoms, steps=n_eq + n_snapshots * interval, interval=interval, seed=seed,
                         thermostat="langevin", checkpoint=md_root / tag, **common)
        data = data.subset(np.flatnonzero(data.properties["md_step"] > n_eq))
    else:
        eq = sample_md(atoms, steps=n_eq, interval=n_eq, seed=seed, thermostat="langevin",
                       checkpoint=md_root / f"{tag}_equilibration", **common)
        start = eq[len(eq) - 1]
        start.calc = None
        data = sample_md(start, steps=n_snapshots * interval, interval=interval, seed=seed + 1,
                         thermostat="nve", checkpoint=md_root / f"{tag}_nve", **common)
    data = data.subset(np.arange(n_snapshots))
    kinetic = data.properties["kinetic_energy"]
    n_atoms = len(atoms)
    mean_t = float(np.mean(kinetic) / (1.5 * n_atoms * units.kB))
    meta = dict(data.metadata)
    meta.pop("subset", None)
    meta["md"] = dict(meta.get("md", {}), mean_temperature_K=mean_t, equilibration_steps=n_eq,
                      interval_steps=interval)
    meta["system"] = {"element": system.element, "lattice": system.lattice, "a_A": system.a,
                      "supercell": [params["size"]] * 3, "n_atoms": n_atoms}
    meta["reference_description"] = ref.description
    meta["params"] = params
    return AtomsData(data.numbers, data.positions, data.ptr, cell=data.cell, pbc=data.pbc,
                     properties=data.properties, per_atom=data.per_atom, units=data.units, metadata=meta)


def snapshot_split(n_snapshots: int, n_val: int, seed: int) -> dict[str, np.ndarray]:
    """A seeded random split of snapshot indices: ``{"train": ..., "val": ...}`` (sorted), ``n_val`` for validation.

    The paper's 1,800 snapshots give 1,620 / 180."""
    if not 0 < n_val < n_snapshots:
        raise ValueError(f"n_val must be between 1 and {n_snapshots - 1}, got {n_val}")
    perm = np.random.default_rng(seed).permutation(n_snapshots)
    return {"train": np.sort(perm[n_val:]), "val": np.sort(perm[:n_val])}


def radial_distribution(structures, rmax: float = 6.0, nbins: int = 120):
    """Mean g(r) of periodic structures (ASE ``get_rdf``), ``(g, r)`` with r the bin centres in A.

    ASE needs a cell that holds a sphere of radius ``rmax``; a small periodic cell is repeated until it does.
    A repeated periodic structure has the pair distances of the original (its images are the original's
    images), so this is the small cell's own g(r) up to ``rmax``.
    """
    from ase.geometry.rdf import get_rdf

    images = []
    for atoms in structures:
        cell = atoms.cell.array
        vol = abs(np.linalg.det(cell))
        heights = [vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
        reps = [int(np.ceil(2.0 * rmax / h + 1e-9)) for h in heights]
        images.append(atoms.repeat(reps) if max(reps) > 1 else atoms)
    g, r = get_rdf(images, rmax, nbins)
    return np.asarray(g), np.asarray(r)


def force_spread(forces) -> dict[str, float]:
    """How large the reference forces are (eV/A): ``mean_abs`` (the MAE of predicting zero), ``std`` of the
    components, and ``rms``."""
    f = np.asarray(forces, np.float64)
    return {"mean_abs": float(np.mean(np.abs(f))), "std": float(np.std(f)), "rms": float(np.sqrt(np.mean(f ** 2)))}


def describe(data: AtomsData) -> str:
    """A one-line description of a generated trajectory (system, reference, thermostat, temperature)."""
    md, system = data.metadata.get("md", {}), data.metadata.get("system", {})
    return (f"{system.get('element')} {system.get('n_atoms')} atoms, {md.get('thermostat')} at "
            f"{md.get('temperature_K'):g} K (mean {md.get('mean_temperature_K', float('nan')):.0f} K), "
            f"{len(data)} snapshots {md.get('interval_steps', 1) * md.get('timestep_fs', 1):g} fs apart, "
            f"{data.metadata.get('reference_description')}")


def digest(data: AtomsData) -> str:
    """SHA-256 (first 16 hex) of a data set's positions and forces (provenance)."""
    h = hashlib.sha256(np.ascontiguousarray(data.positions).tobytes())
    h.update(np.ascontiguousarray(data.properties["forces"]).tobytes())
    return h.hexdigest()[:16]
