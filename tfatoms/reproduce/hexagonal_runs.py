"""The hexagonal-sheet frames as arrays for the image models, shared by ``reproductions/ednn_hexagonal.py``,
``cnnas_hexagonal.py`` and ``ednn_monte_carlo.py``: :class:`Frames` (images, atom counts, splits), the per-element
reference energies the networks learn beside (:func:`atom_reference`), the output scaling, the error summary and
the Fig. 9 supercells made of different frames (:func:`supercell`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tfatoms.representations.atom_images import AtomImages

#: The papers' image: 256 x 256 pixels over the 12.53 x 13.02 A cell, gamma 0.2 A (EDNN sec. 3.2.1, CNNAS sec. 2.2).
PIXELS, GAMMA = (256, 256), 0.2
ELEMENTS = (5, 6, 7)                                              # B, C, N
MEV = 1000.0
#: The default data budget's frames (``write_frames``), committed beside the reproductions.
DEFAULT_FRAMES = Path(__file__).resolve().parents[2] / "reproductions" / "data" / "hexagonal_gfn1xtb_default.npz"


def budget_frames(args, data_budget: str, seed: int = 0, progress: bool = True):
    """The dataset of ``data_budget`` for a script's ``args`` (``--cache-dir``, ``--workers``, ``--frames``): from the
    cache, else from the frames file (``--frames``, or :data:`DEFAULT_FRAMES` for the default budget and seed 0),
    else generated (:func:`tfatoms.data.hexagonal.budget_dataset`)."""
    from tfatoms.data.hexagonal import budget_dataset

    frames = getattr(args, "frames", None)
    if frames is None and data_budget == "default" and seed == 0 and DEFAULT_FRAMES.is_file():
        frames = DEFAULT_FRAMES
    if frames is not None and str(frames).lower() == "none":
        frames = None
    if frames is not None:
        print(f"hexagonal frames (if not cached yet) from {frames}", flush=True)
    return budget_dataset(Path(args.cache_dir), data_budget, seed=seed, workers=args.workers, progress=progress,
                          frames=frames)


#: Split codes of :class:`Frames`: the papers' random split of the frames, and the independent trajectories.
SPLITS = ("train", "val", "test", "independent")
#: EDNN Table 1: 18,515 training examples of 26,449 (70 %); the rest split here 10 % validation, 20 % test.
PAPER_FRACTIONS = (0.7, 0.1, 0.2)


class Frames:
    """The dataset's frames as arrays: positions, numbers, energies, splits, structure names, cell.

    ``split="paper"`` (default): the frames of every structure's last MD run are the ``"independent"`` set (an
    independent trajectory, started elsewhere and at its own random translation: the poster's test); the frames of
    the other runs are split at random (seeded) into 70 % train, 10 % val and 20 % test, the papers' way (EDNN
    Table 1: 18,515 of 26,449 for training; the poster calls that test set correlated with the training set). With
    ``split="runs"`` the dataset's own split (:func:`tfatoms.data.hexagonal.frame_splits`: train, val, test = the
    last run) is kept and there are no independent frames.
    """

    def __init__(self, data, split: str = "paper", seed: int = 0):
        self.data = data
        p = data.properties
        self.energy, self.structure = p["energy"], p["structure"].astype(int)
        self.names = list(data.metadata["structures"])
        self.cell = np.diag(data.cell[0])[:2].copy()
        self.area = float(np.prod(self.cell))
        self.n_atoms = data.n_atoms
        self.ptr = data.ptr
        if split == "runs":
            self.split = np.asarray(p["split"]).astype(np.int8)
        elif split == "paper":
            run = np.asarray(p["run"])
            last = np.zeros(len(run), bool)
            for s in np.unique(self.structure):
                m = self.structure == s
                last |= m & (run == run[m].max())
            self.split = np.full(len(run), 3, np.int8)
            pool = np.flatnonzero(~last)
            order = np.random.default_rng([int(seed), 18]).permutation(pool)
            n_train, n_val = (int(round(f * len(pool))) for f in PAPER_FRACTIONS[:2])
            self.split[order[:n_train]] = 0
            self.split[order[n_train:n_train + n_val]] = 1
            self.split[order[n_train + n_val:]] = 2
        else:
            raise ValueError(f"split must be 'paper' or 'runs', got {split!r}")

    def indices(self, split: str) -> np.ndarray:
        """Frames of ``"train"``, ``"val"``, ``"test"`` or ``"independent"``."""
        return np.flatnonzero(self.split == SPLITS.index(split))

    def counts(self, idx=None) -> np.ndarray:
        """``(n, 3)`` atoms of B, C and N per frame."""
        idx = np.arange(len(self.energy)) if idx is None else np.asarray(idx)
        z = self.data.numbers
        return np.array([[np.sum(z[self.ptr[k]:self.ptr[k + 1]] == e) for e in ELEMENTS] for k in idx], float)

    def images(self, idx, batch: int, augment_seed=None, targets=None, pixels=PIXELS,
               gamma: float = GAMMA) -> AtomImages:
        """The frames ``idx`` as Gaussian images (``targets`` default: their energies); with ``augment_seed``
        training batches are translated at random (:meth:`AtomImages.augmented`)."""
        idx = np.asarray(idx)
        pos = np.concatenate([self.data.positions[self.ptr[k]:self.ptr[k + 1]] for k in idx])
        numbers = np.concatenate([self.data.numbers[self.ptr[k]:self.ptr[k + 1]] for k in idx])
        offsets = np.concatenate([[0], np.cumsum(self.n_atoms[idx])])
        images = AtomImages(pos, offsets, self.cell, pixels, numbers=numbers,
                            targets=self.energy[idx] if targets is None else targets,
                            batch_size=batch, gamma=gamma)
        return images if augment_seed is None else images.augmented(augment_seed)

    def atoms(self, k: int):
        return self.data[int(k)]


def atom_reference(frames: Frames, train_idx) -> np.ndarray:
    """Per-element reference energies ``mu_B, mu_C, mu_N`` (eV): least squares of the training energies on the atom
    counts (``np.linalg.lstsq``; the minimum-norm solution where the counts do not fix all three)."""
    return np.linalg.lstsq(frames.counts(train_idx), frames.energy[train_idx], rcond=None)[0]


def output_scaling(residual, tiles_per_image: int) -> dict:
    """Per-tile output offset and scale: the training targets' mean and spread over the tiles of an image."""
    e = np.asarray(residual, float)
    return dict(output_scale=float(e.std() / tiles_per_image), output_offset=float(e.mean() / tiles_per_image))


def errors(pred, true, n_atoms, area) -> dict:
    err = np.asarray(pred, float) - np.asarray(true, float)
    return dict(mae_area=np.mean(np.abs(err)) / area * MEV, rmse_area=np.sqrt(np.mean(err ** 2)) / area * MEV,
                max_area=np.max(np.abs(err)) / area * MEV, mae_atom=np.mean(np.abs(err) / n_atoms) * MEV,
                mse_eV2=float(np.mean(err ** 2)), mean_signed_area=np.mean(err) / area * MEV)


def split_frames(args, data_budget: str, seed: int = 0, progress: bool = True):
    """``(frames, {split: indices})`` of :func:`budget_frames`' dataset with the papers' split (:class:`Frames`),
    the split sizes printed."""
    frames = Frames(budget_frames(args, data_budget, seed=seed, progress=progress))
    idx = {s: frames.indices(s) for s in SPLITS}
    print(f"{len(frames.energy)} frames of {len(frames.names)} structures: "
          + ", ".join(f"{s} {len(i)}" for s, i in idx.items()), flush=True)
    return frames, idx


def supercell(frames: Frames, ks, name: str, copy: int):
    """``ks[0] x ks[1]`` different test frames of structure ``name`` side by side: an ``ase.Atoms`` supercell (frames
    repeat only if the structure has fewer test frames than cells; ``copy`` picks another set)."""
    from ase import Atoms

    s = frames.names.index(name)
    pool = np.flatnonzero((frames.structure == s) & (frames.split == 2))
    if not len(pool):
        raise ValueError(f"structure {name} has no test frames")
    step = max(1, len(pool) // (ks[0] * ks[1] * max(1, copy + 1)))
    pick = pool[(np.arange(ks[0] * ks[1]) + copy * ks[0] * ks[1]) * step % len(pool)]
    pos, numbers = [], []
    cell = np.array([*frames.cell, np.inf])
    ref = frames.atoms(pick[0]).positions % cell
    for n, k in enumerate(pick):
        i, j = divmod(n, ks[1])
        a = frames.atoms(k)
        # each atom at its periodic image nearest its place in the first frame, so that an atom on the cell's edge
        # is not wrapped to opposite sides in two neighbouring frames (a doubled and a missing site)
        d = a.positions - ref
        d[:, :2] -= np.round(d[:, :2] / frames.cell) * frames.cell
        pos.append(ref + d + [i * frames.cell[0], j * frames.cell[1], 0.0])
        numbers.append(a.numbers)
    cell = [ks[0] * frames.cell[0], ks[1] * frames.cell[1], frames.atoms(pick[0]).cell[2, 2]]
    return Atoms(numbers=np.concatenate(numbers), positions=np.concatenate(pos), cell=cell, pbc=True)
