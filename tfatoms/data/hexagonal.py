"""The hexagonal sheets of CNNAS sec. 2.2 and EDNN sec. 3.2.1: graphene, hBN, a graphene-hBN heterostructure,
each pristine, with a single point vacancy, or with a Stone-Wales defect.

CNNAS sec. 2.2: "systems of graphene, hBN, and a graphene-hBN heterostructure, all consisting of 60 atoms ...
All of the supercell dimensions were 12.53 x 13.02 x 10.0 A, and the atoms were constrained along the z-axis at
z = 0.0". Fig. 1 shows the heterostructure as an hBN half and a graphene half, a vacancy as one removed atom, and a
Stone-Wales (five-seven) defect.

Geometry chosen here (the papers give only the cell): 5 x 3 orthogonal 4-atom cells of the honeycomb lattice
(zigzag along x, the basis of :mod:`tfatoms.data.sheets`) with the lattice constant that fills the papers' cell,
``a = 12.53 / 5 = 2.506 A`` (so ``3 sqrt(3) a = 13.02 A``): hBN's own lattice constant (2.50-2.51 A), 1.9 % more
than graphene's 2.46 A; the papers use one cell for all three materials, so graphene is strained by that much
in their data as here. The two honeycomb sublattices hold B and N in hBN. The heterostructure is graphene for
``x < 12.53 / 2`` and hBN for the other half (30 C, 15 B, 15 N; both interfaces are zigzag lines along y).
A vacancy removes one atom at a seeded random site; a Stone-Wales defect rotates one seeded random bond by 90
degrees about its centre, turning four hexagons into two pentagons and two heptagons. The cell is periodic along
x and y and, as in the papers' plane-wave set-up, along z with 10 A of vacuum.
"""
from __future__ import annotations

import math

import numpy as np

from tfatoms.data.cache import DatasetCache
from tfatoms.data.sheets import BASIS_FRAC

#: The papers' cell (Angstrom): CNNAS sec. 2.2.
PAPER_CELL = (12.53, 13.02, 10.0)
#: Orthogonal honeycomb cells along x and y in the papers' cell: 5 x 3 x 4 = 60 atoms.
PAPER_CELLS = (5, 3)
#: Lattice constant filling the papers' cell (Angstrom).
A_HEX = PAPER_CELL[0] / PAPER_CELLS[0]
KINDS = ("graphene", "hbn", "heterostructure")
DEFECTS = (None, "vacancy", "stone_wales")
BORON, CARBON, NITROGEN = 5, 6, 7


def honeycomb(nx: int, ny: int, a: float = A_HEX):
    """``(positions (4 nx ny, 3), sublattice (4 nx ny,) 0/1)`` of ``nx x ny`` orthogonal cells ``a x sqrt(3) a``, z = 0."""
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    frac = np.stack([i.ravel(), j.ravel()], axis=1)[:, None, :] + BASIS_FRAC[None, :, :]
    xy = (frac * np.array([a, a * math.sqrt(3.0)])).reshape(-1, 2)
    sublattice = np.tile([0, 1, 0, 1], nx * ny)          # basis atoms 0, 2 and 1, 3 are the two sublattices
    return np.column_stack([xy, np.zeros(len(xy))]), sublattice


def hexagonal_sheet(kind: str = "graphene", defect: str | None = None, seed: int = 0, cells=PAPER_CELLS,
                    a: float = A_HEX, vacuum: float = PAPER_CELL[2]):
    """One of the papers' sheets as ``ase.Atoms`` (60 atoms in 12.53 x 13.02 x 10 A by default).

    Args:
        kind: ``"graphene"``, ``"hbn"`` or ``"heterostructure"`` (graphene for x < half the cell, hBN beyond).
        defect: ``None``, ``"vacancy"`` (one atom removed) or ``"stone_wales"`` (one bond rotated by 90 degrees).
        seed: where the defect sits (a seeded random atom or bond).
        cells: orthogonal honeycomb cells along x and y (supercells of the papers' cell: ``(5 k, 3 k)``).
        a: lattice constant, Angstrom.
        vacuum: cell height, Angstrom.

    The atoms carry a z-constraint (:func:`z_constraint`), as in the papers' MD.
    """
    from ase import Atoms

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if defect not in DEFECTS:
        raise ValueError(f"defect must be one of {DEFECTS}, got {defect!r}")
    nx, ny = (int(c) for c in cells)
    if nx < 2 or ny < 1:
        raise ValueError(f"cells must be at least (2, 1), got {cells}")
    positions, sublattice = honeycomb(nx, ny, a)
    size = (nx * a, ny * a * math.sqrt(3.0))
    boron_nitride = np.where(sublattice == 0, BORON, NITROGEN)
    if kind == "graphene":
        numbers = np.full(len(positions), CARBON)
    elif kind == "hbn":
        numbers = boron_nitride
    else:
        numbers = np.where(positions[:, 0] < 0.5 * size[0] - 1e-9, CARBON, boron_nitride)
    atoms = Atoms(numbers=numbers, positions=positions, cell=[size[0], size[1], vacuum], pbc=True)
    rng = np.random.default_rng(seed)
    if defect == "vacancy":
        del atoms[int(rng.integers(len(atoms)))]
    elif defect == "stone_wales":
        stone_wales(atoms, rng)
    atoms.set_constraint(z_constraint(len(atoms)))
    atoms.info.update(kind=kind, defect=defect or "none", defect_seed=int(seed))
    return atoms


def nearest_neighbour_bonds(atoms, tol: float = 0.2, vectors: bool = False):
    """``(n_bonds, 2)`` pairs ``i < j`` of nearest neighbours (periodic), within ``tol`` of the shortest distance;
    with ``vectors`` also the ``(n_bonds, 3)`` bond vectors ``r_j - r_i`` of the periodic image that is bonded."""
    from tfatoms.representations.neighbors import neighbor_pairs

    i, j, offsets = neighbor_pairs(atoms.positions, atoms.cell[:], atoms.pbc, 1.2 * A_HEX / math.sqrt(3.0) + tol)
    d = atoms.positions[j] - atoms.positions[i] + offsets
    length = np.linalg.norm(d, axis=1)
    keep = (i < j) & (length < length.min() + tol)
    bonds = np.stack([i[keep], j[keep]], axis=1)
    return (bonds, d[keep]) if vectors else bonds


def stone_wales(atoms, rng) -> tuple[int, int]:
    """Rotate one random nearest-neighbour bond of ``atoms`` (in place) by 90 degrees about its centre, in the plane.

    Returns the bond ``(i, j)``. A bond across the cell boundary works too (its bonded image is used).
    """
    bonds, vectors = nearest_neighbour_bonds(atoms, vectors=True)
    k = int(rng.integers(len(bonds)))
    i, j = (int(a) for a in bonds[k])
    d = vectors[k]
    pos = atoms.positions
    centre = pos[i] + 0.5 * d
    half = np.array([-d[1], d[0], 0.0]) * 0.5              # the half-bond turned by 90 degrees
    pos[i], pos[j] = centre - half, centre + half
    atoms.positions = pos
    atoms.wrap()
    return i, j


def z_constraint(n_atoms: int):
    """ASE constraint keeping every atom at its z (the papers' "constrained along the z-axis at z = 0.0")."""
    from ase.constraints import FixCartesian

    return FixCartesian(np.arange(n_atoms), mask=(False, False, True))


def ring_sizes(atoms) -> dict[int, int]:
    """``{ring size: count}`` of the faces of the periodic, planar nearest-neighbour network (pristine 60-atom
    sheet: ``{6: 30}``; a Stone-Wales defect: two 5- and two 7-rings instead of four 6-rings).

    Each directed bond starts one face walk that turns to the next bond clockwise at every atom; the neighbours of
    an atom are distinct atoms (cells wider than two bonds).
    """
    bonds, vectors = nearest_neighbour_bonds(atoms, vectors=True)
    n = len(atoms)
    neighbours = [[] for _ in range(n)]
    for (i, j), d in zip(bonds, vectors):
        neighbours[i].append((j, d[:2]))
        neighbours[j].append((i, -d[:2]))
    # order each atom's neighbours by angle, then walk every directed edge's face (turn to the next edge clockwise)
    order = {}
    for i in range(n):
        nb = sorted(neighbours[i], key=lambda t: math.atan2(t[1][1], t[1][0]))
        order[i] = nb
    seen, sizes = set(), {}
    for i in range(n):
        for j, _ in order[i]:
            if (i, j) in seen:
                continue
            a, b, length = i, j, 0
            while (a, b) not in seen:
                seen.add((a, b))
                length += 1
                nb = order[b]
                k = next(idx for idx, (c, _) in enumerate(nb) if c == a)
                a, b = b, nb[(k - 1) % len(nb)][0]
            sizes[length] = sizes.get(length, 0) + 1
    return dict(sorted(sizes.items()))


#: The papers' MD time step: 11.3 atomic units of time (CNNAS sec. 2.2), in fs.
PAPER_TIMESTEP_FS = 11.3 * 2.4188843265857e-2
#: Steps of one independent run: 0.15 ps ("approximately 550 steps").
PAPER_STEPS_PER_RUN = 550
#: Simulated time per structure in the papers (ps).
PAPER_PS_PER_STRUCTURE = 9.0


def restarted_md(atoms, calculator, runs: int, steps_per_run: int = PAPER_STEPS_PER_RUN, interval: int = 1,
                 seed: int = 0, temperature: float = 1000.0, timestep: float = PAPER_TIMESTEP_FS,
                 thermostat: str = "langevin", friction: float = 0.01, calculator_kwargs=None, checkpoint=None,
                 progress: bool = True, start_temperature: float | None = None, checkpoint_every: int = 50,
                 name: str | None = None):
    """The papers' MD protocol (CNNAS sec. 2.2): many independent runs, each restarted from the previous run's
    last frame translated at random in x and y, with fresh Maxwell-Boltzmann velocities; z stays fixed.

    Args:
        atoms: the starting sheet (:func:`hexagonal_sheet`).
        calculator: a :func:`tfatoms.data.reference.reference_calculator` name (``"gfn1-xtb"``,
            ``"lammps:tersoff"`` with ``calculator_kwargs``, ...) or a factory.
        runs: independent runs; ``steps_per_run`` MD steps each (550 = 0.15 ps in the papers),
            a snapshot every ``interval`` steps.
        seed: run ``r`` draws its velocities and thermostat noise from ``(seed, r)`` and its translation
            from another stream of the same pair, so a resumed series is the same series.
        temperature, timestep (fs, the papers' 11.3 a.u.), thermostat: ``"langevin"`` (default; the papers'
            Nose-Hoover is not among :func:`~tfatoms.data.reference.sample_md`'s thermostats, and Langevin
            samples the same canonical ensemble) or ``"berendsen"``/``"nve"``.
        checkpoint: a directory; run ``r`` keeps its own resumable ``sample_md`` state in ``run_<r>``, saved every
            ``checkpoint_every`` steps (the calculator restarts its SCF from scratch there: ``sample_md``).
        start_temperature: the Maxwell-Boltzmann temperature of the first run's velocities (default
            ``2 temperature``): the first run starts from ``atoms`` as given, a relaxed (cold) sheet, and
            equipartition moves half its kinetic energy into the potential energy within a vibration period, so
            it runs near ``temperature`` from its first tens of steps (started at ``temperature`` a 550-step
            Langevin run stayed at 430-720 K). Later runs start from a thermal frame, at ``temperature``.
        name: named in the progress lines (default: the sheet's kind and defect).

    Returns one :class:`~tfatoms.data.atoms.AtomsData` of all snapshots, with ``run`` (per snapshot) beside
    ``sample_md``'s labels, and the protocol in its metadata.
    """
    from pathlib import Path

    from tfatoms.data.atoms import AtomsData
    from tfatoms.data.reference import sample_md

    runs = int(runs)
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    start = atoms.copy()
    start.calc = None
    first_temperature = 2.0 * float(temperature) if start_temperature is None else float(start_temperature)
    name = name or f"{atoms.info.get('kind', atoms.get_chemical_formula())} {atoms.info.get('defect', '')}".strip()
    parts = []
    for r in range(runs):
        directory = None if checkpoint is None else Path(checkpoint) / f"run_{r:04d}"
        run_seed = int(np.random.SeedSequence([int(seed), r]).generate_state(1)[0])
        if progress:
            print(f"restarted_md {name}: run {r + 1} of {runs} ({steps_per_run} steps)", flush=True)
        data = sample_md(start, calculator, temperature, steps_per_run, interval, run_seed, thermostat=thermostat,
                         timestep=timestep, friction=friction, constraints=z_constraint(len(start)),
                         checkpoint=directory, progress=progress, calculator_kwargs=calculator_kwargs,
                         checkpoint_every=min(int(checkpoint_every), int(steps_per_run)),
                         initial_temperature=first_temperature if r == 0 else None)
        data.properties["run"] = np.full(len(data), r)
        parts.append(data)
        last = data[len(data) - 1]
        shift = np.random.default_rng(np.random.SeedSequence([int(seed), r, 1])).random(2)
        last.positions[:, :2] += shift @ last.cell[:2, :2]
        last.wrap()
        start = last
        start.calc = None
    out = AtomsData.concatenate(parts)
    out.metadata.update(protocol=dict(source="CNNAS sec. 2.2 (restarted independent runs)", runs=runs,
                                      steps_per_run=int(steps_per_run), interval=int(interval), seed=int(seed),
                                      temperature_K=float(temperature), timestep_fs=float(timestep),
                                      thermostat=thermostat, friction_per_fs=float(friction),
                                      first_run_start_temperature_K=first_temperature, kind=atoms.info.get("kind"),
                                      defect=atoms.info.get("defect")))
    return out


# ---------------------------------------------------------------------------------------------------- relaxation
def relax_sheet(atoms, calculator, fmax: float = 0.05, steps: int = 300, calculator_kwargs=None):
    """A copy of ``atoms`` relaxed in the plane with ``calculator`` (cell fixed, z constraint kept), by
    ``ase.optimize.BFGS`` to ``fmax`` eV/A. Returns ``(relaxed atoms, final max force eV/A, optimizer steps)``.

    Why: a freshly built Stone-Wales defect has its rotated pair 1.92 A from two of its new neighbours (the bond
    is turned rigidly), and a vacancy's neighbours sit where the missing atom held them; MD started from them
    would begin with a burst of potential energy. ``calculator`` as in :func:`restarted_md`.
    """
    from tfatoms.data.reference import relax

    return relax(atoms, calculator, fmax, steps, calculator_kwargs, constraints=z_constraint(len(atoms)))


# ---------------------------------------------------------------------------------------------------- dataset
#: The nine structures of the papers (CNNAS sec. 2.2): each kind pristine, with a vacancy, with a Stone-Wales defect.
ALL_STRUCTURES = tuple((kind, defect) for kind in KINDS for defect in DEFECTS)
#: Split codes of the dataset's frames.
SPLITS = ("train", "val", "test")


def structure_name(kind: str, defect: str | None) -> str:
    """``"graphene_pristine"``, ``"hbn_vacancy"``, ..."""
    return f"{kind}_{defect or 'pristine'}"


def _structure_job(args):
    """Relax one structure and run its restarted MD (resumable under ``work``); ``(k, its frames as AtomsData)``."""
    k, kind, defect, params, work, progress = args
    from pathlib import Path

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    relaxed_path = work / "relaxed.npz"
    sheet = hexagonal_sheet(kind, defect, seed=params["seed"] + 101 * k)
    if relaxed_path.exists():
        with np.load(relaxed_path) as z:
            sheet.positions = z["positions"]
            fmax_reached, n_opt = float(z["fmax"]), int(z["steps"])
    else:
        relaxed, fmax_reached, n_opt = relax_sheet(sheet, params["calculator"], params["relax_fmax"],
                                                   calculator_kwargs=params.get("calculator_kwargs"))
        from tfatoms._io import atomic_path

        with atomic_path(relaxed_path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, positions=relaxed.positions, fmax=fmax_reached, steps=n_opt)
        sheet.positions = relaxed.positions
    seed = int(np.random.SeedSequence([params["seed"], k, 5]).generate_state(1)[0])
    data = restarted_md(sheet, params["calculator"], params["runs"], params["steps_per_run"], params["interval"],
                        seed=seed, temperature=params["temperature"], checkpoint=work / "md", progress=progress,
                        name=structure_name(kind, defect), calculator_kwargs=params.get("calculator_kwargs"))
    n = len(data)
    data.properties["structure"] = np.full(n, k)
    data.metadata.update(relaxed_fmax_eV_A=fmax_reached, relax_steps=n_opt)
    return k, data


def frame_splits(run, md_step, runs: int, steps_per_run: int, interval: int, val_fraction: float = 0.1):
    """Split code (0 train, 1 val, 2 test) of each frame from its ``run`` and ``md_step``: the last run of every
    structure is the test set (an independent trajectory, as the poster's test), the last ``val_fraction`` of
    every other run's frames validation, the rest training. With one run there is no test set."""
    run, md_step = np.asarray(run), np.asarray(md_step)
    split = np.zeros(len(run), np.int8)
    n_frames = steps_per_run // interval
    split[md_step > (1.0 - val_fraction) * n_frames * interval] = 1
    if runs > 1:
        split[run == runs - 1] = 2
    return split


#: The dataset file: an AtomsData file with its generation parameters (:mod:`tfatoms.data.cache`).
CACHE = DatasetCache("hexagonal sheets", remedy="delete it and generate again")


def _parse_structure(name: str):
    kind, defect = name.rsplit("_", 1) if not name.endswith("stone_wales") else (name[:-len("_stone_wales")],
                                                                                  "stone_wales")
    return kind, None if defect == "pristine" else defect


def dataset_params(structures=ALL_STRUCTURES, runs: int = 2, steps_per_run: int = PAPER_STEPS_PER_RUN,
                   interval: int = 1, seed: int = 0, temperature: float = 1000.0, calculator: str = "gfn1-xtb",
                   relax_fmax: float = 0.05, calculator_kwargs=None) -> dict:
    """The parameters (the cache key) of a :func:`generate_hexagonal` dataset; bad values are a ``ValueError``."""
    from tfatoms._validation import positive_int

    structures = [(str(k), None if d in (None, "none", "pristine") else str(d)) for k, d in structures]
    for kind, defect in structures:
        if kind not in KINDS or defect not in DEFECTS:
            raise ValueError(f"unknown structure ({kind!r}, {defect!r}): kinds {KINDS}, defects {DEFECTS}")
    params = dict(structures=[structure_name(k, d) for k, d in structures], runs=positive_int(runs, "runs"),
                  steps_per_run=positive_int(steps_per_run, "steps_per_run"),
                  interval=positive_int(interval, "interval"), seed=int(seed), temperature=float(temperature),
                  calculator=str(calculator), relax_fmax=float(relax_fmax), timestep_fs=PAPER_TIMESTEP_FS,
                  cell=list(PAPER_CELL), lattice_constant=A_HEX)
    if calculator_kwargs:
        params["calculator_kwargs"] = dict(calculator_kwargs)
    return params


def generate_hexagonal(path, structures=ALL_STRUCTURES, runs: int = 2, steps_per_run: int = PAPER_STEPS_PER_RUN,
                       interval: int = 1, seed: int = 0, temperature: float = 1000.0, calculator: str = "gfn1-xtb",
                       relax_fmax: float = 0.05, workers: int = 1, progress: bool = True, calculator_kwargs=None):
    """Generate (or finish) the hexagonal-sheet dataset at ``path`` (HDF5) and return the path.

    The papers' protocol (CNNAS sec. 2.2) on each ``(kind, defect)`` of ``structures``: the sheet of
    :func:`hexagonal_sheet` (defect site seeded by ``(seed, structure)``), relaxed with ``calculator``
    (:func:`relax_sheet`), then :func:`restarted_md` (``runs`` independent runs of ``steps_per_run`` steps of
    11.3 a.u. at ``temperature``, a frame every ``interval`` steps, each restarted from the last frame translated
    at random, fresh velocities, z fixed). The papers ran about 60 such runs (9 ps) per structure, 269,016 frames in
    all; ``runs`` says how many here. Splits by :func:`frame_splits` (the last run of each structure is the test).

    One structure per job, ``workers`` processes (one OpenMP thread each: xTB threads compete otherwise); every
    run's MD resumes from its checkpoint under ``<path>.parts/`` and a finished structure is kept there until the
    whole file is written (atomically; then the parts go). The file is an :class:`~tfatoms.data.atoms.AtomsData`
    with per-frame ``energy`` (eV), per-atom ``forces`` (eV/A), ``structure`` (index into
    ``metadata["structures"]``), ``run``, ``md_step``, ``split`` and the kinetic energy; the parameters are the
    cache key (:mod:`tfatoms.data.cache`: another set at the same path is an error naming the parameter).
    Cost: GFN1-xTB about 0.55 s per 60-atom step on one core (AVX-512 machine; 0.6-0.9 s on AVX2), so
    ``len(structures) * runs * steps_per_run * 0.55 s / workers``.
    """
    import shutil
    from pathlib import Path

    from tfatoms._io import atomic_path, exclusive
    from tfatoms.data.atoms import AtomsData
    from tfatoms.data.cache import check_directory_params

    path = Path(path)
    params = dataset_params(structures, runs, steps_per_run, interval, seed, temperature, calculator, relax_fmax,
                            calculator_kwargs)
    structures = [_parse_structure(n) for n in params["structures"]]
    if CACHE.load(path, params, read=False) is not None:
        return path
    parts = path.with_name(path.name + ".parts")
    with exclusive(path.parent, "dataset directory"):
        if CACHE.load(path, params, read=False) is not None:
            return path
        check_directory_params(parts, params, "unfinished hexagonal-sheet MD")
        jobs = [(k, kind, defect, params, str(parts / params["structures"][k]), progress)
                for k, (kind, defect) in enumerate(structures)]
        todo = [j for j in jobs if not (Path(j[4]) / "frames.h5").exists()]

        def save(k, data):
            with atomic_path(Path(jobs[k][4]) / "frames.h5") as tmp:
                data.write_hdf5(tmp)

        if workers > 1 and len(todo) > 1:
            import multiprocessing as mp

            from tfatoms.data.reference import _one_thread_env, _worker_init

            ctx = mp.get_context("spawn")         # tblite's OpenMP runtime is not fork-safe once loaded
            with _one_thread_env(), ctx.Pool(min(int(workers), len(todo)), initializer=_worker_init) as pool:
                for k, data in pool.imap_unordered(_structure_job, todo):
                    save(k, data)
        else:
            for job in todo:
                save(*_structure_job(job))
        data = AtomsData.concatenate([AtomsData.read_hdf5(Path(j[4]) / "frames.h5") for j in jobs])
        data.properties["split"] = frame_splits(data.properties["run"], data.properties["md_step"],
                                                params["runs"], params["steps_per_run"], params["interval"])
        data.metadata = {"source": f"hexagonal sheets ({calculator} MD, tfatoms.data.hexagonal)",
                         "structures": params["structures"], "params": params,
                         "protocol": "CNNAS sec. 2.2: restarted independent runs, Langevin thermostat, z fixed",
                         "parts": data.metadata.get("parts")}
        CACHE.store(path, params, data)
        shutil.rmtree(parts, ignore_errors=True)
    return path


def load_hexagonal(path):
    """The :class:`~tfatoms.data.atoms.AtomsData` written by :func:`generate_hexagonal` (parameters in its
    ``metadata["params"]``). A missing file is a ``FileNotFoundError`` naming it."""
    from pathlib import Path

    path = Path(path)
    data = CACHE.load(path)
    if data is None:
        raise FileNotFoundError(f"no hexagonal-sheet dataset at {path}: generate it with generate_hexagonal")
    return data


#: Per-frame properties a frames file (:func:`write_frames`) keeps.
FRAME_PROPERTIES = ("energy", "kinetic_energy", "structure", "run", "md_step", "split")


def write_frames(data, path):
    """Write a :func:`generate_hexagonal` dataset compactly (``np.savez_compressed``, atomically): atomic numbers,
    in-plane positions as float32 (the sheets are planar: z = 0), per-frame energies (float64) and the bookkeeping
    of :data:`FRAME_PROPERTIES`, the cell and the metadata with its parameters; no forces (the image models train
    on energies). About 5 MB for the default budget's 9,900 frames, against 35 MB for the cache file, so it can be
    shipped beside a reproduction and read back by :func:`read_frames` instead of hours of xTB MD."""
    import json
    from pathlib import Path

    from tfatoms._io import atomic_path

    if not np.all(data.positions[:, 2] == 0.0):
        raise ValueError("write_frames keeps in-plane positions only; this dataset has atoms off z = 0")
    arrays = dict(numbers=data.numbers.astype(np.int8), xy=data.positions[:, :2].astype(np.float32),
                  ptr=data.ptr, cell=np.asarray(data.cell[0], np.float64),
                  metadata=np.str_(json.dumps(data.metadata)))
    for name in FRAME_PROPERTIES:
        arrays[name] = np.asarray(data.properties[name])
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def read_frames(path):
    """The :class:`~tfatoms.data.atoms.AtomsData` of a file written by :func:`write_frames` (z = 0, float32 in-plane
    positions widened to float64; no forces). A missing or damaged file is an error naming it."""
    import json
    import zipfile
    from pathlib import Path

    from tfatoms.data.atoms import AtomsData

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no hexagonal frames file at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays["metadata"]))
        xy = arrays["xy"].astype(np.float64)
        positions = np.column_stack([xy, np.zeros(len(xy))])
        n = len(arrays["ptr"]) - 1
        data = AtomsData(arrays["numbers"].astype(np.int64), positions, arrays["ptr"],
                         cell=np.broadcast_to(arrays["cell"], (n, 3, 3)), pbc=True,
                         properties={k: arrays[k] for k in FRAME_PROPERTIES},
                         units={"energy": "eV", "kinetic_energy": "eV"}, metadata=meta)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable hexagonal frames file ({type(exc).__name__}: {exc})") from exc
    return data


#: Dataset budgets of the hexagonal-sheet reproductions (``ednn_hexagonal.py``, ``cnnas_hexagonal.py``,
#: ``ednn_monte_carlo.py`` share one dataset per budget): all nine structures, runs of the papers' 550 steps.
#: ``default``: 2 runs each (9,900 frames, 0.3 ps per structure, 3.7 % of the papers' 269,016 frames; about 50 min
#: with 2 workers); ``full``: the papers' 9 ps = 60 runs per structure (297,000 frames).
DATA_BUDGETS = {
    "quick": dict(structures=(("graphene", None), ("hbn", "vacancy")), runs=2, steps_per_run=8),
    "default": dict(structures=ALL_STRUCTURES, runs=2, steps_per_run=PAPER_STEPS_PER_RUN),
    "full": dict(structures=ALL_STRUCTURES, runs=60, steps_per_run=PAPER_STEPS_PER_RUN),
}


def budget_dataset(cache_dir, budget: str, seed: int = 0, workers: int = 1, progress: bool = True, frames=None):
    """Generate (or finish, or just load) the dataset of a :data:`DATA_BUDGETS` budget under
    ``<cache_dir>/hexagonal/``; returns the AtomsData.

    ``frames``: a file of :func:`write_frames` to take the frames from instead of running the MD, if the cache does
    not hold them yet; its parameters must be this budget's (else a ``ValueError`` naming the first difference)."""
    from pathlib import Path

    from tfatoms.data.cache import cache_path, canonical_params, parameter_differences

    if budget not in DATA_BUDGETS:
        raise ValueError(f"budget must be one of {tuple(DATA_BUDGETS)}, got {budget!r}")
    b = DATA_BUDGETS[budget]
    key = dict(budget=budget, seed=int(seed), runs=b["runs"], steps_per_run=b["steps_per_run"],
               structures=[structure_name(*s) for s in b["structures"]])
    path = cache_path(Path(cache_dir) / "hexagonal", f"gfn1-xtb_{budget}", key)
    if frames is not None and CACHE.load(path, read=False) is None:
        params = dataset_params(b["structures"], b["runs"], b["steps_per_run"], seed=int(seed))
        data = read_frames(frames)
        diff = parameter_differences(canonical_params(data.metadata.get("params", {})), canonical_params(params))
        if diff:
            raise ValueError(f"{frames}: frames of other parameters than the {budget!r} budget's: {'; '.join(diff[:3])}")
        path.parent.mkdir(parents=True, exist_ok=True)
        CACHE.store(path, params, data)
    return load_hexagonal(generate_hexagonal(path, b["structures"], b["runs"], b["steps_per_run"], seed=int(seed),
                                             workers=workers, progress=progress))
