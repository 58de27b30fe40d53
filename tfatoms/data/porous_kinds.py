"""Kinds of graphene sheet a user of a porous graphene model meets, beyond the EDNN paper's training set.

The paper's set (sec. 3.2.2, :mod:`tfatoms.data.porous_graphene`) is one kind: circular holes with pruned edges,
MD at 1000 K. A :class:`SheetRecipe` builds any of

========================  ==============================================================================
``holes``                 circular holes, pruned edges (:class:`~tfatoms.data.sheets.PorousSheet`, the paper's)
``pristine``              no defect
``vacancies``             1-4 single vacancies per 35 x 35 A (one atom removed each, >= 5 A apart)
``divacancies``           1-3 divacancies per 35 x 35 A (two bonded atoms removed each, >= 6 A apart)
``unpruned_holes``        circular holes whose edges keep their dangling atoms and chains
``elliptical_holes``      elliptical holes (axis ratio 1.5-3, any orientation), pruned edges
========================  ==============================================================================

and modifies it by

* ``temperature``: Nose-Hoover NVT MD at that temperature (K, the REBO protocol of the paper's set);
  ``0`` is the flat, unrelaxed lattice itself (one single point, no MD);
* ``ripple``: a sinusoidal out-of-plane ripple ``z = A sin(2 pi m x / l_x)`` (A in Angstrom) imposed before the MD;
* ``strain_tiles``: uniaxial strain along x by whole EDNN focus tiles (64 pixels at the model's pixel size), the
  only strain a periodic cell on the model's fixed pixel grid allows: ``eps = strain_tiles / tiles_x``. A
  2 x 2-block training cell has 6 tiles along x (17 % per tile), so small strain needs long cells: 16 x 1
  blocks give +-2.08 %, 32 x 1 blocks +-1.04 % (:data:`STRAINED_BLOCKS`). Biaxial strain of a few per cent would
  need cells long in both directions (tens of thousands of atoms) and is not built.

Every recipe is deterministic in its fields; :func:`training_recipe` draws the mixed training distribution
(kinds, 0-1500 K, ripples) of the re-trained pretrained model, one recipe per starting geometry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from tfatoms._validation import non_negative_int
from tfatoms.data.sheets import (BLOCK_CELLS, BLOCK_PIXELS, BOND, CARBON, CELL, DEFAULT_HOLE_DENSITY,
                                 DEFAULT_RADIUS_RANGE, VACUUM, PorousSheet, graphene_positions, kept_degree,
                                 prune_dangling)

KINDS = ("holes", "pristine", "vacancies", "divacancies", "unpruned_holes", "elliptical_holes")
FOCUS_PIXELS = 64                    #: the EDNN focus (pixels) whose multiples a strained cell must keep
STRAINED_BLOCKS = {2: (16, 1), 1: (32, 1)}   #: blocks of the long cells for about 2 % and 1 % uniaxial strain
_NEIGHBOUR = BOND * 1.05


@dataclass(frozen=True)
class SheetRecipe:
    """One periodic graphene sheet: its kind, seed, cell (blocks), temperature, ripple and strain.

    Args:
        kind: one of :data:`KINDS`.
        seed: the geometry's seed (defect positions, hole shapes).
        blocks: 7 x 4-cell blocks along x and y (2 x 2: the paper's 34.44 x 34.09 A cell).
        temperature: MD temperature (K); 0: the flat lattice, no MD.
        ripple: amplitude (A) of the imposed sinusoidal ripple along x (0: flat start).
        ripple_waves: whole waves of the ripple along the cell.
        strain_tiles: focus tiles added to (removed from) the cell along x; the lattice is stretched with it.
        density: defect density multiplier (holes: of the paper's 0.002 holes / A^2; vacancies: of 1 per 600 A^2).
    """

    kind: str
    seed: int = 0
    blocks: tuple[int, int] = (2, 2)
    temperature: float = 1000.0
    ripple: float = 0.0
    ripple_waves: int = 1
    strain_tiles: int = 0
    density: float = 1.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        object.__setattr__(self, "seed", non_negative_int(self.seed, "seed"))
        object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))
        if len(self.blocks) != 2 or min(self.blocks) < 1:
            raise ValueError(f"blocks must be two positive integers, got {self.blocks!r}")
        for name in ("temperature", "ripple", "density"):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)!r}")
            object.__setattr__(self, name, v)
        tiles = self.tiles_x
        if abs(self.strain_tiles) / tiles > 0.05:
            raise ValueError(f"strain_tiles={self.strain_tiles} of {tiles} focus tiles is "
                             f"{100 * self.strain_tiles / tiles:+.1f} % strain; more than 5 % is not a small strain "
                             f"(use longer blocks, e.g. {STRAINED_BLOCKS})")

    @property
    def tiles_x(self) -> int:
        return self.blocks[0] * BLOCK_PIXELS // FOCUS_PIXELS

    @property
    def strain(self) -> float:
        """The uniaxial strain along x, ``strain_tiles / tiles_x``."""
        return self.strain_tiles / self.tiles_x

    @property
    def cells(self) -> tuple[int, int]:
        return self.blocks[0] * BLOCK_CELLS[0], self.blocks[1] * BLOCK_CELLS[1]

    @property
    def size(self) -> tuple[float, float]:
        """Periodic cell lengths (A), strained."""
        return self.cells[0] * CELL[0] * (1 + self.strain), self.cells[1] * CELL[1]

    def lattice_size(self) -> tuple[float, float]:
        """The cell of :meth:`lattice_positions` (unstrained), A."""
        return self.cells[0] * CELL[0], self.cells[1] * CELL[1]

    @property
    def cell(self) -> np.ndarray:
        """The 3 lengths of the periodic 3-D cell (z: :data:`~tfatoms.data.sheets.VACUUM`)."""
        return np.array([*self.size, VACUUM])

    def label(self) -> str:
        parts = [self.kind, "flat 0 K" if self.temperature == 0 else f"{self.temperature:.0f} K"]
        if self.ripple:
            parts.append(f"ripple {self.ripple:.2f} A")
        if self.strain_tiles:
            parts.append(f"strain {100 * self.strain:+.2f} %")
        return ", ".join(parts)

    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, KINDS.index(self.kind), stream])

    def lattice_positions(self) -> np.ndarray:
        """The unstrained, flat atoms of the kind (A), before strain and ripple."""
        nx, ny = self.cells
        size = np.array(self.lattice_size())
        if self.kind == "holes":
            sheet = PorousSheet(self.blocks, seed=int(self._rng(0).integers(2**62)),
                                hole_density=self.density * DEFAULT_HOLE_DENSITY, radius_range=DEFAULT_RADIUS_RANGE)
            return sheet.positions()
        pos = graphene_positions(nx, ny)
        rng = self._rng(1)
        area = size[0] * size[1]
        if self.kind == "pristine":
            return pos
        if self.kind in ("vacancies", "divacancies"):
            per_area = 600.0 if self.kind == "vacancies" else 900.0
            n_max = 4 if self.kind == "vacancies" else 3
            n = int(np.clip(rng.poisson(self.density * area / per_area), 1, max(1, round(n_max * area / 1175))))
            return np.delete(pos, point_defect_atoms(pos, size, n, pair=self.kind == "divacancies", rng=rng,
                                                     min_separation=5.0 if self.kind == "vacancies" else 6.0), 0)
        n = max(1, rng.poisson(self.density * DEFAULT_HOLE_DENSITY * area))
        centres = rng.random((n, 2)) * size
        if self.kind == "unpruned_holes":
            radii = rng.uniform(*DEFAULT_RADIUS_RANGE, n)
            keep = ~in_shapes(pos, size, centres, radii, radii, np.zeros(n))
            return pos[keep]
        a = rng.uniform(2.5, 6.5, n)
        b = a / rng.uniform(1.5, 3.0, n)
        keep = ~in_shapes(pos, size, centres, a, b, rng.uniform(0, np.pi, n))
        return pos[prune(pos, size, keep)]

    def positions(self) -> np.ndarray:
        """The starting positions (A) of the MD: the kind's atoms, strained and rippled."""
        pos = self.lattice_positions().copy()
        pos[:, 0] *= 1 + self.strain
        if self.ripple:
            lx = self.size[0]
            phase = self._rng(2).uniform(0, 2 * np.pi)
            pos[:, 2] = self.ripple * np.sin(2 * np.pi * self.ripple_waves * pos[:, 0] / lx + phase)
        return pos


def _periodic_delta(pos, centres, size) -> np.ndarray:
    """``(n_atoms, n_centres, 2)`` minimum-image vectors from each centre to each atom."""
    d = pos[:, None, :2] - centres[None, :, :]
    return d - size * np.round(d / size)


def in_shapes(pos, size, centres, a, b, angle) -> np.ndarray:
    """Atoms inside any of the ellipses (centre, semi-axes ``a`` along ``angle`` and ``b``), periodic."""
    d = _periodic_delta(pos, np.asarray(centres), np.asarray(size))
    c, s = np.cos(angle), np.sin(angle)
    u = d[..., 0] * c + d[..., 1] * s
    v = -d[..., 0] * s + d[..., 1] * c
    return np.any((u / a) ** 2 + (v / b) ** 2 < 1.0, axis=1)


def lattice_bonds(pos, size) -> np.ndarray:
    """``(n_pairs, 2)`` atom pairs within 1.05 C-C bonds, periodic in x and y."""
    box = np.array([size[0], size[1]])
    return cKDTree(np.mod(pos[:, :2], box), boxsize=box).query_pairs(_NEIGHBOUR, output_type="ndarray")


def lattice_degree(pos, size, keep=None) -> np.ndarray:
    """Number of kept lattice neighbours (within 1.05 C-C bonds, periodic in x and y) of every atom (0 for an atom
    not kept)."""
    keep = np.ones(len(pos), bool) if keep is None else keep
    return kept_degree(lattice_bonds(pos, size), keep) * keep


def prune(pos, size, keep, passes: int = 2) -> np.ndarray:
    """``keep`` less the atoms left with fewer than two kept neighbours, ``passes`` times (the paper's edges)."""
    return prune_dangling(lattice_bonds(pos, size), keep, passes)


def point_defect_atoms(pos, size, n: int, pair: bool, rng, min_separation: float) -> np.ndarray:
    """Indices of the atoms removed for ``n`` single vacancies (``pair=False``) or divacancies (two bonded atoms),
    the defects' centres at least ``min_separation`` A apart (periodic)."""
    box = np.array(size)
    xy = np.mod(pos[:, :2], box)
    tree = cKDTree(xy, boxsize=box)
    removed, centres = [], []
    for _ in range(1000):
        if len(centres) == n:
            break
        i = int(rng.integers(len(pos)))
        if pair:
            nb = [j for j in tree.query_ball_point(xy[i], _NEIGHBOUR) if j != i]
            j = int(rng.choice(nb))
            atoms = [i, j]
            d = xy[j] - xy[i]
            centre = np.mod(xy[i] + (d - box * np.round(d / box)) / 2, box)
        else:
            atoms, centre = [i], xy[i]
        if centres:
            d = np.asarray(centres) - centre
            d -= box * np.round(d / box)
            if np.min(np.linalg.norm(d, axis=1)) < min_separation:
                continue
        centres.append(centre)
        removed.extend(atoms)
    if len(centres) < n:
        raise ValueError(f"cannot place {n} point defects {min_separation} A apart in a {size[0]:.1f} x "
                         f"{size[1]:.1f} A cell")
    return np.array(removed, np.int64)


#: Probabilities of the kinds in the mixed training distribution of :func:`training_recipe`.
TRAINING_KINDS = {"holes": 0.3, "pristine": 0.05, "vacancies": 0.17, "divacancies": 0.16, "unpruned_holes": 0.16,
                  "elliptical_holes": 0.16}
TRAINING_TEMPERATURES = (300.0, 1500.0)   #: K, uniform
TRAINING_FLAT_FRACTION = 0.08             #: share of starting geometries taken flat at 0 K (one single point)
TRAINING_RIPPLE_FRACTION = 0.2            #: share of MD starting geometries with a ripple of 0.2-1.0 A


def training_recipe(g: int, seed: int = 0, blocks=(2, 2), strain_tiles: int = 0) -> SheetRecipe:
    """Starting geometry ``g`` of the mixed training distribution: a sheet of ``blocks`` (strained by
    ``strain_tiles``) of a kind drawn from :data:`TRAINING_KINDS`, flat at 0 K (:data:`TRAINING_FLAT_FRACTION`) or
    at a temperature uniform in :data:`TRAINING_TEMPERATURES`, rippled in :data:`TRAINING_RIPPLE_FRACTION` of the
    MD geometries, its defect density uniform in 0.25-2.5 times the kind's default (the paper's spread of hole
    densities). The strained sets of the shipped model are 8 x 1 blocks with ``strain_tiles = +-1`` (+-4.17 %)."""
    rng = np.random.default_rng([seed, g, 13, *([] if tuple(blocks) == (2, 2) and not strain_tiles
                                                 else [*blocks, strain_tiles + 1000])])
    kinds = list(TRAINING_KINDS)
    kind = kinds[int(rng.choice(len(kinds), p=list(TRAINING_KINDS.values())))]
    flat = rng.random() < TRAINING_FLAT_FRACTION
    temperature = 0.0 if flat else float(rng.uniform(*TRAINING_TEMPERATURES))
    ripple = 0.0 if flat or rng.random() >= TRAINING_RIPPLE_FRACTION else float(rng.uniform(0.2, 1.0))
    return SheetRecipe(kind, seed=int(rng.integers(2**62)), blocks=tuple(blocks), temperature=temperature,
                       ripple=ripple, ripple_waves=int(rng.integers(1, 3)), density=float(rng.uniform(0.25, 2.5)),
                       strain_tiles=int(strain_tiles))


def recipe_snapshots(recipe: SheetRecipe, n_snapshots: int, n_equilibrate: int, interval: int, seed: int):
    """REBO snapshots of ``recipe``: the flat single point at 0 K, else NVT MD (:class:`ReboSheet`)."""
    from tfatoms.data.lammps_rebo import ReboSheet

    with ReboSheet(recipe.positions(), recipe.cell) as md:
        if recipe.temperature == 0:
            return [md.single_point()]
        return list(md.md(recipe.temperature, n_snapshots, n_equilibrate, interval, seed=seed))


__all__ = ["KINDS", "SheetRecipe", "training_recipe", "recipe_snapshots", "in_shapes", "prune", "lattice_degree",
           "point_defect_atoms", "STRAINED_BLOCKS", "CARBON"]
