"""Does a sheet lie inside what an EDNN was trained on? Structure statistics and per-tile energies.

A network gives a number for any image; whether the number means anything depends on whether the image looks like
the training images. :class:`DomainCheck` holds, for each statistic below, the range it took on the training set
(its 0.1 and 99.9 percentiles, widened by 10 % of their spread each way) and reports every statistic of a new
sheet outside its range:

* per structure (:func:`structure_statistics`, one value per sheet, from the atoms alone):

  - ``bond_length_mean`` (A) and ``bond_length_std`` (A): C-C pairs within 1.85 A. The spread grows with the
    temperature (0 at 0 K for the flat lattice, 0.035 A at 300 K, 0.07 A at 1500 K under REBO); the mean moves
    with strain;
  - ``bond_anisotropy``: mean length of the bonds closer to x than to y over that of the others, less 1
    (0 within thermal noise for unstrained graphene; uniaxial strain eps along the zigzag x direction gives about
    0.75 eps: +1.5e-2 at 2 %);
  - ``lattice_period_x`` and ``lattice_period_y`` (A): the lattice constant along x (zigzag) and y (armchair) from
    second neighbours (C-C pairs at 2.1-2.65 A): the mean |dx| of the pairs within 15 degrees of x, and 2 / sqrt(3)
    times the mean |dy| of those at 45-75 degrees (both 2.46 A for unstrained REBO graphene at any temperature:
    a periodic cell fixes the mean in-plane period, so thermal noise averages out over a sheet, while a bond
    length's share of a strain shrinks at finite temperature as the bond angles take it up). Uniaxial strain eps
    along x moves ``lattice_period_x`` by eps (+2.08 %: 2.46 -> 2.51 A);
  - ``height_rms`` (A): out-of-plane roughness, ``z`` about its mean (ripples, temperature);
  - ``undercoordinated_fraction``: share of atoms with fewer than 2 bonded neighbours (dangling atoms and
    chains: pruned edges have none);
  - ``edge_fraction``: share of atoms with exactly 2 bonded neighbours (hole edges, vacancies);
  - ``atoms_per_area`` (1/A^2): porosity;

* per tile (:meth:`check` with ``tile_energies``, the predictor's ``energy_map``): the predicted energy of each
  focus tile, against the range of the training tiles' predicted energies. A tile outside it holds something the
  network did not see while training (an unusual defect, a strained or crumpled region).

The check is necessary, not sufficient: a sheet inside every range can still be predicted badly (a kind of defect
whose statistics mimic the training set), and one statistic outside its range (a colder sheet) need not be
predicted badly. It costs a neighbour search (about 1 ms per 1,000 atoms).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

#: A C-C pair within this distance (A) is a bond for the statistics (REBO's first neighbours at up to 1500 K).
BOND_CUTOFF = 1.85
#: Second neighbours (A): a = 2.46 A in graphene; first neighbours end by 1.85, third ones start at about 2.7.
SECOND_NEIGHBOURS = (2.1, 2.65)
STATISTICS = ("bond_length_mean", "bond_length_std", "bond_anisotropy", "lattice_period_x", "lattice_period_y",
              "height_rms", "undercoordinated_fraction",
              "edge_fraction", "atoms_per_area")
_QUANTILES = (0.001, 0.999)
_WIDEN = 0.1


def structure_statistics(positions, cell) -> dict:
    """The per-structure statistics of a periodic sheet (``positions`` (n, 3) A, ``cell`` (lx, ly[, lz]))."""
    pos = np.asarray(positions, np.float64)
    box = np.asarray(cell, np.float64)[:2]
    if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
        raise ValueError(f"positions must be a non-empty (n, 3) array, got shape {pos.shape}")
    xy = np.mod(pos[:, :2], box)
    z = pos[:, 2] - pos[:, 2].mean()
    # a 3-D search: wrapped in-plane, plain along z (an orthogonal cell, z free)
    pts = np.column_stack([xy, z - z.min()])
    tree = cKDTree(pts, boxsize=[box[0], box[1], 2 * (np.ptp(z) + SECOND_NEIGHBOURS[1])])
    near = tree.query_pairs(SECOND_NEIGHBOURS[1], output_type="ndarray")
    d = pos[near[:, 1]] - pos[near[:, 0]]
    d[:, :2] -= box * np.round(d[:, :2] / box)
    r = np.linalg.norm(d, axis=1)
    second = (r > SECOND_NEIGHBOURS[0]) & (r < SECOND_NEIGHBOURS[1])
    angle = np.degrees(np.arctan2(np.abs(d[second, 1]), np.abs(d[second, 0])))      # 0-90 degrees from x
    dx, dy = np.abs(d[second, 0]), np.abs(d[second, 1])
    bonded = r < BOND_CUTOFF
    pairs, d, lengths = near[bonded], d[bonded], r[bonded]
    degree = np.bincount(pairs.ravel(), minlength=len(pos))
    along_x = np.abs(d[:, 0]) > np.abs(d[:, 1])
    anisotropy = (float(lengths[along_x].mean() / lengths[~along_x].mean() - 1.0)
                  if along_x.any() and (~along_x).any() else 0.0)
    return dict(bond_length_mean=float(lengths.mean()) if len(lengths) else 0.0,
                bond_length_std=float(lengths.std()) if len(lengths) else 0.0,
                bond_anisotropy=anisotropy,
                lattice_period_x=float(dx[angle < 15].mean()) if np.any(angle < 15) else 0.0,
                lattice_period_y=(float(dy[(angle > 45) & (angle < 75)].mean() * 2 / np.sqrt(3))
                                  if np.any((angle > 45) & (angle < 75)) else 0.0),
                height_rms=float(np.sqrt(np.mean(z * z))),
                undercoordinated_fraction=float(np.mean(degree < 2)),
                edge_fraction=float(np.mean(degree == 2)),
                atoms_per_area=float(len(pos) / (box[0] * box[1])))


def _range(values) -> list[float]:
    lo, hi = np.quantile(np.asarray(values, np.float64), _QUANTILES)
    pad = _WIDEN * (hi - lo)
    return [float(lo - pad), float(hi + pad)]


class DomainCheck:
    """The training ranges of the statistics (``ranges``: name -> ``[lo, hi]``; ``tile_energy``: eV per tile).

    Build it from a training set with :meth:`from_training`, store it with :meth:`to_json` (the pretrained EDNN's
    JSON holds it under ``domain``), read it with :meth:`from_metadata`, ask with :meth:`check`.
    """

    def __init__(self, ranges: dict, tile_energy=None, source: str = ""):
        unknown = set(ranges) - set(STATISTICS)
        if unknown:
            raise ValueError(f"unknown statistics {sorted(unknown)}; known: {STATISTICS}")
        self.ranges = {k: [float(v[0]), float(v[1])] for k, v in ranges.items()}
        self.tile_energy = None if tile_energy is None else [float(tile_energy[0]), float(tile_energy[1])]
        self.source = source

    @classmethod
    def from_structures(cls, structures, tile_energies=None, source: str = "") -> "DomainCheck":
        """From ``(positions, cell)`` pairs and optionally the predicted energies of their tiles (any shape)."""
        stats = [structure_statistics(p, c) for p, c in structures]
        ranges = {k: _range([s[k] for s in stats]) for k in STATISTICS}
        tiles = None if tile_energies is None else _range(np.concatenate([np.ravel(t) for t in tile_energies]))
        return cls(ranges, tiles, source)

    @classmethod
    def from_training(cls, predictor, sets, n_tiles_structures: int = 400, seed: int = 0) -> "DomainCheck":
        """From training configurations: ``sets`` is a list of ``(data, indices)``, ``data`` a
        :class:`~tfatoms.data.porous_graphene.PorousGrapheneData` (its own cell). The statistics of all of them;
        the tile energies of ``n_tiles_structures`` of them, drawn by ``seed``, predicted by ``predictor`` (a
        :class:`~tfatoms.inference.sheet.SheetPredictor`)."""
        items = [(data, int(k)) for data, indices in sets for k in indices]
        structures = [(data.config(k), data.cell) for data, k in items]
        pick = np.random.default_rng([seed, 17]).permutation(len(items))[:n_tiles_structures]
        tiles = [predictor.energy(items[i][0].config(items[i][1]), items[i][0].cell[:2], energy_map=True).tile_energies
                 for i in pick]
        return cls.from_structures(structures, tiles, source=f"{len(items)} training configurations "
                                                            f"({len(pick)} for the tile energies)")

    def to_json(self) -> dict:
        return dict(ranges=self.ranges, tile_energy_eV=self.tile_energy, source=self.source,
                    quantiles=list(_QUANTILES), widened_by=_WIDEN)

    @classmethod
    def from_metadata(cls, meta: dict) -> "DomainCheck":
        """From a pretrained EDNN's metadata (``load_ednn(...)[1]``); ``ValueError`` if it has no ``domain``."""
        if "domain" not in meta:
            raise ValueError("this pretrained model's metadata has no 'domain' entry (it predates the check); "
                             "its training set is described under 'trained_on' if at all")
        d = meta["domain"]
        return cls(d["ranges"], d.get("tile_energy_eV"), d.get("source", ""))

    def check(self, positions, cell, tile_energies=None) -> list[str]:
        """Every way the sheet lies outside the training ranges, as sentences; ``[]`` inside all of them."""
        findings = []
        stats = structure_statistics(positions, cell)
        for name, (lo, hi) in self.ranges.items():
            v = stats[name]
            if not lo <= v <= hi:
                findings.append(f"{name} = {v:.4g} outside the training range [{lo:.4g}, {hi:.4g}]")
        if tile_energies is not None and self.tile_energy is not None:
            t = np.ravel(np.asarray(tile_energies, np.float64))
            lo, hi = self.tile_energy
            out = (t < lo) | (t > hi)
            if np.any(out):
                findings.append(f"{int(out.sum())} of {t.size} tiles have predicted energies outside the training "
                                f"tiles' range [{lo:.4g}, {hi:.4g}] eV (from {t[out].min():.4g} to {t[out].max():.4g})")
        return findings
