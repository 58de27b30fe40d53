"""Molecular MD trajectories with a reference method: the datasets of the thesis' chapter 5 (MD17, C20).

The thesis' chapter-5 data (Appendix A.2) are single molecules in ab-initio MD at 500 K: MD17 with a 0.5 fs
step, the fullerene C20 "a classical MD at 500K for 29,689 time steps" with a 1 fs step, PBE+vdW-TS in FHI-aims.
Those files cannot be downloaded here, so this module generates the same protocol with a reference calculator of
:mod:`tfatoms.data.reference` (GFN2-xTB through tblite by default):

1. the starting geometry (e.g. :func:`c20_cage`), displaced by a seeded 0.02 A noise (so a symmetric cage can
   leave its symmetry: C20's Jahn-Teller distortion) and relaxed with the reference (:func:`~tfatoms.data.reference.relax`);
2. :func:`~tfatoms.data.reference.sample_md` from there, Langevin at ``temperature`` (velocities at
   ``2 temperature``, so equipartition brings the cold, relaxed molecule near ``temperature`` at once), a labelled
   frame every ``interval`` steps, checkpointed every ``checkpoint_every`` steps: a killed run resumes.

:func:`generate_md_dataset` caches the result as one :class:`~tfatoms.data.atoms.AtomsData` HDF5 file keyed by its
parameters (:mod:`tfatoms.data.cache`; another set of parameters at the same path is an error naming the one that
differs). The relaxed reference structure is kept in the file's metadata: the thesis compares the model's
relaxed C20 against it (Fig. 5.4).
"""
from __future__ import annotations

import itertools

import numpy as np

from tfatoms.data.cache import DatasetCache

#: C20 (thesis sec. 5.3, Appendix A.2): classical MD at 500 K, 1 fs, 29,689 steps.
C20_PROTOCOL = dict(temperature=500.0, timestep_fs=1.0, steps=29_689)
#: The starting C-C bond length of :func:`c20_cage`, A (the relaxed cage has three lengths, 1.41-1.52 A).
C20_BOND = 1.45
#: The seeded displacement of the start before its relaxation, A.
START_NOISE = 0.02


def c20_cage(bond: float = C20_BOND):
    """The C20 cage as a regular dodecahedron (I_h) of edge ``bond`` A, centred at the origin, no cell.

    Vertices: (+-1, +-1, +-1), (0, +-1/phi, +-phi), (+-1/phi, +-phi, 0), (+-phi, 0, +-1/phi), edge 2/phi, scaled.
    """
    from ase import Atoms

    phi = (1 + 5 ** 0.5) / 2
    vertices = [v for v in itertools.product((-1.0, 1.0), repeat=3)]
    for a, b in itertools.product((-1.0, 1.0), repeat=2):
        vertices += [(0.0, a / phi, b * phi), (a / phi, b * phi, 0.0), (b * phi, 0.0, a / phi)]
    return Atoms("C20", positions=np.asarray(vertices) * float(bond) / (2 / phi), pbc=False)


#: The dataset file: an AtomsData with its generation parameters (:mod:`tfatoms.data.cache`).
CACHE = DatasetCache("molecular MD", remedy="delete it and generate again")


def _geometry_key(atoms) -> dict:
    return dict(numbers=[int(z) for z in atoms.numbers],
                positions=[[round(float(x), 6) for x in row] for row in atoms.positions])


def md_dataset_params(name: str, atoms, calculator: str = "gfn2-xtb", temperature: float = 500.0,
                      steps: int = 1000, timestep_fs: float = 0.5, interval: int = 1, seed: int = 0,
                      friction: float = 0.01, relax_fmax: float = 1e-3, calculator_kwargs=None) -> dict:
    """The parameters (the cache key) of a :func:`generate_md_dataset` trajectory; bad values are a ``ValueError``.

    ``atoms`` (the unrelaxed start) enters as its atomic numbers and positions rounded to 1e-6 A.
    """
    from ase import Atoms

    from tfatoms._validation import positive_int

    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise ValueError(f"{name}: the starting structure must be an ase.Atoms with atoms, got {atoms!r}")
    if not np.isfinite(atoms.positions).all():
        raise ValueError(f"{name}: the starting structure has non-finite positions")
    for value, what in ((temperature, "temperature"), (timestep_fs, "timestep_fs"), (friction, "friction"),
                        (relax_fmax, "relax_fmax")):
        if not np.isfinite(float(value)) or float(value) <= 0:
            raise ValueError(f"{name}: {what} must be a positive number, got {value!r}")
    params = dict(name=str(name), start=_geometry_key(atoms), calculator=str(calculator),
                  temperature=float(temperature), steps=positive_int(steps, "steps"),
                  timestep_fs=float(timestep_fs), interval=positive_int(interval, "interval"), seed=int(seed),
                  friction=float(friction), relax_fmax=float(relax_fmax), start_noise=START_NOISE,
                  thermostat="langevin", initial_temperature=2 * float(temperature))
    if params["interval"] > params["steps"]:
        raise ValueError(f"{name}: interval ({params['interval']}) exceeds steps ({params['steps']})")
    if calculator_kwargs:
        params["calculator_kwargs"] = dict(calculator_kwargs)
    return params


def generate_md_dataset(path, name: str, atoms, calculator: str = "gfn2-xtb", temperature: float = 500.0,
                        steps: int = 1000, timestep_fs: float = 0.5, interval: int = 1, seed: int = 0,
                        friction: float = 0.01, relax_fmax: float = 1e-3, calculator_kwargs=None,
                        checkpoint_every: int = 500, progress: bool = True):
    """Generate (or finish, or find) the MD trajectory of the molecule ``atoms`` at ``path`` (HDF5); the path.

    The protocol of the module docstring: seeded noise, relaxation with ``calculator`` to ``relax_fmax`` eV/A,
    Langevin MD (``friction`` 1/fs) at ``temperature`` K with a ``timestep_fs`` step for ``steps`` steps, a frame
    every ``interval``. The MD resumes from ``<path>.parts/md`` after a kill (checkpoints every
    ``checkpoint_every`` steps); the file is written atomically at the end and the parts removed. The parts
    directory is locked while it runs (a second process on the same dataset is refused at once; other datasets in the
    same folder generate in parallel). The file holds
    ``energy`` (eV), ``forces`` (eV/A), ``md_step``, ``time`` (fs), ``kinetic_energy`` per frame, and in its
    metadata the relaxed start (``relaxed_positions``, A) with the force reached. Cost: GFN2-xTB C20 about 16 ms
    per step on one core (29,689 steps in about 8 min).
    """
    import shutil
    from pathlib import Path

    from tfatoms._io import atomic_path, exclusive
    from tfatoms.data.cache import check_directory_params
    from tfatoms.data.reference import relax, sample_md

    path = Path(path)
    params = md_dataset_params(name, atoms, calculator, temperature, steps, timestep_fs, interval, seed, friction,
                               relax_fmax, calculator_kwargs)
    if CACHE.load(path, params, read=False) is not None:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = path.with_name(path.name + ".parts")
    with exclusive(parts, f"unfinished {name} MD"):     # per dataset: other molecules generate beside it
        if CACHE.load(path, params, read=False) is not None:
            return path
        check_directory_params(parts, params, f"unfinished {name} MD")
        relaxed_path = parts / "relaxed.npz"
        start = atoms.copy()
        start.calc = None
        if relaxed_path.exists():
            with np.load(relaxed_path) as z:
                start.positions, fmax_reached, n_opt = z["positions"], float(z["fmax"]), int(z["steps"])
        else:
            noise = np.random.default_rng(np.random.SeedSequence([int(seed), 7])).normal(
                scale=START_NOISE, size=start.positions.shape)
            start.positions = start.positions + noise
            relaxed, fmax_reached, n_opt = relax(start, calculator, relax_fmax, steps=1000,
                                                 calculator_kwargs=calculator_kwargs)
            start.positions = relaxed.positions
            with atomic_path(relaxed_path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, positions=relaxed.positions, fmax=fmax_reached, steps=n_opt)
        md_seed = int(np.random.SeedSequence([int(seed), 11]).generate_state(1)[0])
        data = sample_md(start, calculator, temperature=float(temperature), steps=int(steps),
                         interval=int(interval), seed=md_seed, timestep=float(timestep_fs), friction=float(friction),
                         checkpoint=parts / "md", checkpoint_every=int(checkpoint_every), progress=progress,
                         calculator_kwargs=calculator_kwargs, initial_temperature=2 * float(temperature))
        data.metadata = {"source": f"{name}: {calculator} MD at {float(temperature):g} K "
                                   f"(tfatoms.data.molecular_md)",
                         "name": str(name), "params": params,
                         "relaxed_positions": start.positions.tolist(), "relaxed_fmax_eV_A": fmax_reached,
                         "relax_steps": n_opt}
        CACHE.store(path, params, data)
        shutil.rmtree(parts, ignore_errors=True)
    return path


def load_md_dataset(path):
    """The :class:`~tfatoms.data.atoms.AtomsData` written by :func:`generate_md_dataset`; a missing file is a
    ``FileNotFoundError`` naming it, a damaged one a :class:`~tfatoms.data.cache.CacheFileError`."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no molecular MD dataset there (generate it with generate_md_dataset)")
    return CACHE.load(path)


def cached_md_dataset(cache_dir, name: str, atoms, progress: bool = True, **kwargs):
    """The :func:`generate_md_dataset` trajectory of ``name`` under ``cache_dir``, at the file its parameters key
    (``md_<name>-<key>.h5``): generated, finished or found; returns the :class:`~tfatoms.data.atoms.AtomsData`.
    ``kwargs`` are :func:`generate_md_dataset`'s (``checkpoint_every`` aside, they are all in the key)."""
    from pathlib import Path

    settings = {k: v for k, v in kwargs.items() if k != "checkpoint_every"}
    params = md_dataset_params(name, atoms, **settings)
    path = CACHE.path(Path(cache_dir), params, stem=f"md_{name.lower()}")
    return load_md_dataset(generate_md_dataset(path, name, atoms, progress=progress, **kwargs))
