"""N-nearest-neighbour environments: the input of the local force DNN (Kuritz, Gordon, Natan; sec. 2).

"For each atom, we find the N nearest neighbors ... We sort the atoms according to
their distance (closest is first) and then assign for each neighbor the following
quantities: (Z_n, d_n, 1/d_n), where Z_n is the atomic number of the n-th neighbor,
d_n is the distance vector, and 1/d_n is the reciprocal of the scalar distance."

So every atom gets an ``(N, 5)`` block ``[Z_n, dx_n, dy_n, dz_n, 1/|d_n|]`` with
``d_n = r_j + S @ cell - r_i`` (Angstrom) the vector from the atom to its n-th nearest
neighbour. Under periodic boundaries the neighbours are periodic images, including images
of the atom itself and several images of one neighbour when the cell is small: the 16-atom
(2x2x2 primitive) Si cell with N = 30 holds up to three images of one neighbour, and the
8-atom cubic Si cell with N = 30 the atom's own images at 5.43 A (the 16-atom cell's own
lattice vectors are 7.68 A long, beyond its 30th neighbour). The pairs come from the package's
one neighbour search (:func:`~tfatoms.representations.neighbors.neighbor_list`) at a cutoff grown until every atom
has N neighbours. Ties in distance (perfect crystals) are broken by neighbour index, then by
cell shift, so the order is deterministic.
"""
from __future__ import annotations

import copy

import numpy as np

from tfatoms._validation import atomic_numbers_array, finite_array, positions_array, positive_int
from tfatoms.representations.batch_source import BatchSource
from tfatoms.representations.neighbors import neighbor_list

#: Features per neighbour: Z, the three components of d, 1/|d|.
N_FEATURES = 5
#: Largest cutoff the search grows to (Angstrom) before it gives up: N that large is not an environment.
MAX_ENVIRONMENT_RADIUS = 30.0


def nearest_neighbors(positions, cell, pbc, n_neighbors: int, max_radius: float = MAX_ENVIRONMENT_RADIUS):
    """The ``n_neighbors`` nearest neighbours (periodic images included) of every atom, sorted by distance.

    Parameters
    ----------
    positions : (n_atoms, 3) Angstrom.
    cell : (3, 3) lattice vectors as rows (or 3 lengths, or ``None`` for a molecule), Angstrom.
    pbc : bool or 3 bools.
    n_neighbors : N >= 1.
    max_radius : the search stops growing its cutoff here (Angstrom) and raises.

    Returns
    -------
    idx_j : (n_atoms, N) int32, the atom each neighbour is an image of.
    vectors : (n_atoms, N, 3) float64, ``d_n = r_j + S @ cell - r_i``, Angstrom, by increasing length.
    shifts : (n_atoms, N, 3) int32 cell shifts ``S``.

    Raises ``ValueError`` if a structure cannot give every atom N neighbours: a molecule with at
    most N atoms, or a periodic structure whose N-th neighbour lies beyond ``max_radius``.
    """
    pos = positions_array(positions)
    n_neighbors = positive_int(n_neighbors, "n_neighbors")
    flags = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
    cell = np.zeros((3, 3)) if cell is None else finite_array(cell, "cell")
    if cell.shape == (3,):
        cell = np.diag(cell)
    n_atoms = len(pos)
    if not flags.any() and n_atoms <= n_neighbors:
        raise ValueError(f"n_neighbors = {n_neighbors} but the structure is not periodic and has {n_atoms} atoms: "
                         f"each atom has only {n_atoms - 1} neighbours")
    radius = _first_radius(pos, cell, flags, n_neighbors)
    while True:
        i, j, s = neighbor_list(pos, cell, flags, radius)
        counts = np.bincount(i, minlength=n_atoms)
        if counts.min() >= n_neighbors:
            break
        if radius >= max_radius:
            k = int(np.argmin(counts))
            raise ValueError(f"n_neighbors = {n_neighbors}: atom {k} has only {int(counts[k])} neighbours within "
                             f"{max_radius:g} A; an environment that large is not local (use a smaller N, or "
                             f"raise max_radius)")
        # grow by what the shortest-served atom lacks (its count scales with the volume), 5-15 % at a time:
        # a guess just short of a crystal shell then takes the shell, not the next one too (rattled diamond
        # Si, N = 8: 19.6 pairs per atom instead of 27.8)
        grow = ((n_neighbors + 1) / max(int(counts.min()), 1)) ** (1.0 / 3.0) * 1.05
        radius = min(max_radius, radius * float(np.clip(grow, 1.05, 1.15)))
    vectors = pos[j] - pos[i] + s @ cell
    dist = np.linalg.norm(vectors, axis=1)
    if len(dist) and dist.min() < 1e-6:
        k = int(np.argmin(dist))
        raise ValueError(f"atoms {int(i[k])} and {int(j[k])} are on top of each other (distance {dist[k]:.2e} A)")
    order = np.lexsort((s[:, 2], s[:, 1], s[:, 0], j, dist, i))   # by atom, then distance, then j and shift
    i, j, s, vectors = i[order], j[order], s[order], vectors[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(i)) - starts[i]
    keep = rank < n_neighbors
    shape = (n_atoms, n_neighbors)
    return (j[keep].reshape(shape).astype(np.int32), vectors[keep].reshape(*shape, 3),
            s[keep].reshape(*shape, 3).astype(np.int32))


def environment_features(numbers, positions, cell, pbc, n_neighbors: int, dtype=np.float32) -> np.ndarray:
    """Local force DNN input ``(n_atoms, N, 5)``: ``[Z_n, dx_n, dy_n, dz_n, 1/|d_n|]`` of the N nearest neighbours.

    The vectors and distances are those of :func:`nearest_neighbors` (Angstrom and 1/Angstrom);
    ``numbers`` (n_atoms,) are the atomic numbers, ``Z_n`` the neighbour's.
    """
    pos = positions_array(positions)
    z = atomic_numbers_array(numbers, n_atoms=len(pos))
    j, vectors, _ = nearest_neighbors(pos, cell, pbc, n_neighbors)
    dist = np.linalg.norm(vectors, axis=-1)
    out = np.empty((*j.shape, N_FEATURES), np.float64)
    out[..., 0] = z[j]
    out[..., 1:4] = vectors
    out[..., 4] = 1.0 / dist
    return out.astype(dtype)


def _first_radius(pos, cell, pbc, n_neighbors: int) -> float:
    """A first guess of the cutoff holding N neighbours: the radius of a sphere of N + 1 atoms at the mean density."""
    if pbc.all():
        volume = abs(np.linalg.det(cell))
    else:
        extent = np.ptp(pos, axis=0) + 2.0
        volume = float(np.prod(extent))
    density = len(pos) / max(volume, 1e-9)
    radius = (3.0 * (n_neighbors + 1) / (4.0 * np.pi * density)) ** (1.0 / 3.0)
    return float(np.clip(1.1 * radius, 1.0, MAX_ENVIRONMENT_RADIUS))


class AtomEnvironments(BatchSource):
    """Per-atom environments ``(n_atoms, N, 5)`` with per-atom force targets, batched for the local force DNN.

    Each example is one atom (the paper trains on atoms: "mini-batches of 100"); the last batch is
    padded with zero environments of weight 0, so every batch has the same shape.

    Args:
        features: ``(n_atoms_total, N, 5)`` from :func:`environment_features`.
        forces: ``(n_atoms_total, 3)`` eV/A, or ``None``.
        batch_size: atoms per batch (100 in the paper).
        structure: ``(n_atoms_total,)`` the structure each atom came from (for splits and errors).
        numbers: ``(n_atoms_total,)`` atomic numbers of the atoms (recorded by ``LocalForceDNN.adapt``).
        rotation_augmentation: beyond the paper. The network's input is Cartesian, so it is not
            rotation-equivariant and learns only the orientations it is shown. With this on, every
            *training* batch (:meth:`batches` with a ``shuffle_seed``) turns each atom's environment
            and its force by the same random rotation (uniform on SO(3)), drawn from
            ``(augmentation_seed, shuffle_seed, batch)``: a resumed run sees the same rotations.
            Evaluation batches (no ``shuffle_seed``) are never rotated. This teaches approximate
            equivariance; it does not build it in. On the small mlearn Si set it also cures the
            overfitting of the plain network (held-out force MAE 0.112 against 0.170 eV/A;
            ``reproductions/local_force_si_mlearn.py``, whose shipped model is trained this way).
        augmentation_seed: seed of the rotations.
    """

    def __init__(self, features, forces=None, batch_size: int = 100, structure=None, numbers=None,
                 rotation_augmentation: bool = False, augmentation_seed: int = 0):
        self.features = finite_array(features, "features", ndim=3).astype(np.float32)
        if self.features.shape[2] != N_FEATURES:
            raise ValueError(f"features must be (n_atoms, N, {N_FEATURES}), got {self.features.shape}")
        n = len(self.features)
        self.targets = None
        if forces is not None:
            self.targets = finite_array(forces, "forces", ndim=2, last_dim=3)
            if len(self.targets) != n:
                raise ValueError(f"forces has {len(self.targets)} rows for {n} atoms")
        self.batch_size = positive_int(batch_size, "batch_size")
        self.structure = np.zeros(n, np.int64) if structure is None else np.asarray(structure, np.int64)
        self.numbers = None if numbers is None else np.asarray(numbers)
        self.rotation_augmentation = bool(rotation_augmentation)
        self.augmentation_seed = int(augmentation_seed)

    @classmethod
    def from_atoms_data(cls, data, n_neighbors: int, forces: str | None = "forces", batch_size: int = 100,
                        dtype=np.float32, **kwargs) -> "AtomEnvironments":
        """Environments of every atom of every structure of an :class:`~tfatoms.data.atoms.AtomsData`
        (forces converted to eV/A where units are recorded); errors name the structure."""
        if forces is not None:
            data.require(forces)
            if forces in data.units:
                data = data.to_units({forces: "eV/A"})
        blocks = []
        for k in range(len(data)):
            atoms = data.atom_slice(k)
            try:
                blocks.append(environment_features(data.numbers[atoms], data.positions[atoms], data.cell[k],
                                                   data.pbc[k], n_neighbors, dtype=dtype))
            except ValueError as err:
                raise ValueError(f"{data._where(k)}: {err}") from None
        return cls(np.concatenate(blocks), None if forces is None else data.properties[forces], batch_size,
                   structure=data.structure_index, numbers=data.numbers, **kwargs)

    def augmented(self, seed: int = 0) -> "AtomEnvironments":
        """The same environments with ``rotation_augmentation`` on (seed ``seed``); the arrays are shared."""
        out = copy.copy(self)
        out.rotation_augmentation, out.augmentation_seed = True, int(seed)
        return out

    def __len__(self) -> int:
        return len(self.features)

    def collate(self, indices):
        """``(features (B, N, 5), targets (B, 3), weights (B,))`` for up to ``batch_size`` atoms."""
        indices = np.asarray(indices, np.int64)
        b = self.batch_size
        x = np.zeros((b, *self.features.shape[1:]), np.float32)
        x[:len(indices)] = self.features[indices]
        y = np.zeros((b, 3), np.float32)
        if self.targets is not None:
            y[:len(indices)] = self.targets[indices]
        w = np.zeros(b, np.float32)
        w[:len(indices)] = 1.0
        return x, y, w

    def collate_training(self, indices, shuffle_seed: int, batch: int):
        """A training batch, rotated when ``rotation_augmentation`` is on."""
        x, y, w = self.collate(indices)
        if not self.rotation_augmentation:
            return x, y, w
        rng = np.random.default_rng([self.augmentation_seed, shuffle_seed, batch])
        return (*rotate_environments(x, y, random_rotations(len(x), rng)), w)


def random_rotations(n: int, rng) -> np.ndarray:
    """``n`` rotation matrices drawn uniformly from SO(3) (Haar measure), ``(n, 3, 3)`` float64."""
    from scipy.spatial.transform import Rotation

    return Rotation.random(n, random_state=rng).as_matrix()


def rotate_environments(features, forces, rotations):
    """Turn environment ``k`` (``(n, N, 5)``) and its force (``(n, 3)``) by ``rotations[k]``: the vectors
    ``d_n`` and the force rotate, ``Z_n`` and ``1/|d_n|`` do not (the neighbour order is unchanged)."""
    out = np.array(features, copy=True)
    out[..., 1:4] = np.einsum("kab,knb->kna", rotations, features[..., 1:4])
    return out.astype(features.dtype), np.einsum("kab,kb->ka", rotations, forces).astype(forces.dtype)
