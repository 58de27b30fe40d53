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
                 progress: bool = True):
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
        checkpoint: a directory; run ``r`` keeps its own resumable ``sample_md`` state in ``run_<r>``.

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
    parts = []
    for r in range(runs):
        directory = None if checkpoint is None else Path(checkpoint) / f"run_{r:04d}"
        run_seed = int(np.random.SeedSequence([int(seed), r]).generate_state(1)[0])
        data = sample_md(start, calculator, temperature, steps_per_run, interval, run_seed, thermostat=thermostat,
                         timestep=timestep, friction=friction, constraints=z_constraint(len(start)),
                         checkpoint=directory, progress=progress, calculator_kwargs=calculator_kwargs)
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
                                      thermostat=thermostat, kind=atoms.info.get("kind"),
                                      defect=atoms.info.get("defect")))
    return out
