"""ISO17: MD of C7O2H10 isomers drawn from QM9, with the thesis' known/unknown-molecule splits (thesis sec. 5.2.3).

The thesis' ISO17 (Schuett et al. 2017; Appendix A.2): 129 molecules "randomly drawn from the largest set of
isomers in the QM9 dataset (C7O2H10)", 5,000 steps of ab-initio MD each (PBE+vdW-TS, 1 fs). The files cannot be
downloaded here, so the package draws 129 isomers from QM9 (seeded, :func:`iso17_isomers`) and runs the molecular-MD
protocol of :mod:`tfatoms.data.molecular_md` on each with a reference of :mod:`tfatoms.data.reference` (GFN2-xTB by
default; the thesis does not state the temperature: 500 K as for MD17): seeded noise, relaxation, Langevin MD at a
1 fs step. Each trajectory is its own cached, resumable file (``md_iso17_<gdb index>-<key>.h5``), so
:func:`iso17_datasets` generates them in parallel worker processes (spawned, one OpenMP thread each) and a kill loses
at most the unfinished checkpoints.

The split (:func:`iso17_split`, thesis sec. 5.2.3): 80 % of the molecules are known, 20 % unknown; of each known
molecule's frames 80 % are known configurations (training and validation) and 20 % unknown ones (``test_within``);
all frames of the unknown molecules are ``test_other``.
"""
from __future__ import annotations

import numpy as np

#: The thesis' ISO17: 129 C7O2H10 isomers, 5,000 steps of 1 fs each (temperature not stated; MD17's 500 K here).
ISO17_FORMULA = "C7O2H10"
ISO17_MOLECULES = 129
ISO17_PROTOCOL = dict(temperature=500.0, timestep_fs=1.0, steps=5_000)
KNOWN_MOLECULES, KNOWN_CONFIGURATIONS = 0.8, 0.8


def iso17_isomers(qm9, n: int = ISO17_MOLECULES, seed: int = 0) -> list:
    """``n`` C7O2H10 molecules of ``qm9`` (:class:`tfatoms.data.qm9.QM9`) drawn without replacement with ``seed``,
    as ``ase.Atoms`` (``info['index']``: the gdb index), in the drawn order."""
    candidates = np.asarray(qm9.formula_indices(ISO17_FORMULA))
    if not 1 <= int(n) <= len(candidates):
        raise ValueError(f"cannot draw {n} {ISO17_FORMULA} isomers: QM9 here holds {len(candidates)}")
    chosen = np.random.default_rng(np.random.SeedSequence([int(seed), 17])).choice(candidates, int(n), replace=False)
    return [qm9.atoms(int(m)) for m in chosen]


def _generate(task):
    """One isomer's trajectory (a worker's task): the path of its cached file."""
    cache_dir, name, atoms, kwargs = task
    from pathlib import Path

    from tfatoms.data.molecular_md import CACHE, generate_md_dataset, md_dataset_params

    settings = {k: v for k, v in kwargs.items() if k != "checkpoint_every"}
    path = CACHE.path(Path(cache_dir), md_dataset_params(name, atoms, **settings), stem=f"md_{name}")
    return generate_md_dataset(path, name, atoms, progress=False, **kwargs)


def iso17_datasets(cache_dir, isomers, steps: int, interval: int, calculator: str = "gfn2-xtb", seed: int = 0,
                   workers: int = 1, progress: bool = True, **kwargs) -> dict:
    """``{gdb index: AtomsData}``: the MD trajectory of each of ``isomers`` (from :func:`iso17_isomers`), generated,
    finished or found under ``cache_dir``; ``steps`` of ``ISO17_PROTOCOL['timestep_fs']`` at its temperature, a frame
    every ``interval``. ``workers`` processes generate molecules side by side (results equal ``workers=1``).
    ``kwargs`` go to :func:`~tfatoms.data.molecular_md.generate_md_dataset` (e.g. ``temperature``)."""
    from tqdm.auto import tqdm

    from tfatoms._validation import positive_int
    from tfatoms.data.molecular_md import load_md_dataset
    from tfatoms.data.reference import _one_thread_env, _worker_init

    workers = positive_int(workers, "workers")
    settings = dict(temperature=ISO17_PROTOCOL["temperature"], timestep_fs=ISO17_PROTOCOL["timestep_fs"],
                    calculator=calculator, steps=steps, interval=interval, seed=seed, **kwargs)
    tasks = [(str(cache_dir), f"iso17_{a.info['index']}", a, settings) for a in isomers]
    paths = {}
    with tqdm(total=len(tasks), desc=f"ISO17 MD ({calculator}, {steps} steps each)", unit="molecule",
              disable=not progress, mininterval=1.0) as bar:
        if workers == 1 or len(tasks) <= 1:
            for task in tasks:
                paths[task[1]] = _generate(task)
                bar.update()
        else:
            import multiprocessing as mp

            with _one_thread_env(), mp.get_context("spawn").Pool(min(workers, len(tasks)),
                                                                 initializer=_worker_init) as pool:
                for task, path in zip(tasks, pool.imap(_generate, tasks)):
                    paths[task[1]] = path
                    bar.update()
    return {int(a.info["index"]): load_md_dataset(paths[f"iso17_{a.info['index']}"]) for a in isomers}


def iso17_split(frames_per_molecule, seed: int = 0) -> dict:
    """The thesis' split of the molecules' frames concatenated in the given order (``frames_per_molecule``: one
    count per molecule). Returns frame indices ``known`` (80 % of the frames of 80 % of the molecules: training and
    validation), ``test_within`` (the other 20 % of those molecules' frames), ``test_other`` (every frame of the
    other 20 % of the molecules), and the molecule positions ``known_molecules`` / ``unknown_molecules``; seeded."""
    counts = np.asarray(frames_per_molecule, dtype=int)
    n_mol = len(counts)
    if n_mol < 2 or (counts < 2).any():
        raise ValueError(f"the ISO17 split needs at least 2 molecules with at least 2 frames each, got "
                         f"{counts.tolist()}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 5]))
    order = rng.permutation(n_mol)
    n_known = min(n_mol - 1, max(1, int(round(KNOWN_MOLECULES * n_mol))))
    known_mol, unknown_mol = np.sort(order[:n_known]), np.sort(order[n_known:])
    start = np.concatenate([[0], np.cumsum(counts)])
    known, within = [], []
    for m in known_mol:
        frames = start[m] + rng.permutation(counts[m])
        n_conf = min(counts[m] - 1, max(1, int(round(KNOWN_CONFIGURATIONS * counts[m]))))
        known.append(frames[:n_conf])
        within.append(frames[n_conf:])
    other = [np.arange(start[m], start[m + 1]) for m in unknown_mol]
    return dict(known=np.sort(np.concatenate(known)), test_within=np.sort(np.concatenate(within)),
                test_other=np.concatenate(other), known_molecules=known_mol, unknown_molecules=unknown_mol)
