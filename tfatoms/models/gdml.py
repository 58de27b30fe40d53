"""GDML, the kernel baseline of thesis Tables 5.3/5.4, through the reference implementation ``sgdml``.

The thesis compares SchNet on MD17 (N = 1,000 training configurations per molecule) with the gradient-domain
machine learning (GDML) force field of Chmiela et al., "Machine learning of accurate energy-conserving molecular
force fields", Sci. Adv. 3, e1603015 (2017): Table 5.3 the energy MAE (kcal/mol), Table 5.4 the force MAE
(kcal/mol/A); ethanol 0.15 and 0.79 (``tfatoms.reproduce.references``, ``thesis/gdml_md17/ethanol``).

GDML is not re-implemented here. :func:`fit_gdml` converts :class:`~tfatoms.data.atoms.AtomsData` into the dataset
dict of ``sgdml`` (Chmiela et al.'s own code, PyPI ``sgdml``; ``pip install tfatoms[gdml]``) and calls
``sgdml.train.GDMLTrain.create_task`` / ``train`` and ``sgdml.predict.GDMLPredict``. What sgdml does:

* the kernel is a Matern-5/2 kernel on the inverse-distance descriptor ``x_ij = 1 / r_ij`` (1/A here), and the
  model is the Hessian of that kernel: it is trained on the ``3 N_atoms`` force components of every training
  configuration (a linear system of ``3 N_atoms N`` unknowns, solved in closed form by Cholesky); the energy is the
  integral of the force field, so forces are exactly minus the gradient of the predicted energy;
* with energy labels (``use_E=True``, always here) sgdml fits the integration constant ``c`` (the mean of
  ``E_label - E_integrated`` over the training set), so predicted energies are absolute, comparable to the labels;
* the length scale sigma is chosen as the sgdml command line does (``sgdml all``): one model per sigma of a grid,
  default ``10:10:100`` (10, 20, ..., 90; the descriptor is in 1/A), the best one on a validation set. sgdml's CLI
  picks the lowest validation force RMSE; :func:`fit_gdml` picks the lowest force MAE (the metric of Table 5.4;
  both are in :attr:`GDMLModel.validation`). Regularisation ``lam = 1e-10``, sgdml's default;
* ``use_sym=False`` (default) is GDML as in the thesis' column (Chmiela et al. 2017); ``use_sym=True`` is sGDML
  (Chmiela et al., Nat. Commun. 9, 3887 (2018)), with the permutational symmetries sgdml finds in the training set.

Memory and time: the analytic solver holds the ``(3 N_atoms N)^2`` kernel matrix and its Cholesky factor, 2 x 8
bytes per entry: ethanol (9 atoms) at N = 800 is 2 x 3.7 GB, at N = 1,000 2 x 5.8 GB. When sgdml's own estimate
(3 copies) exceeds ``max_memory`` (GB, default all of it) sgdml switches to its iterative (Nystroem + CG) solver;
:attr:`GDMLModel.solver` says which one ran. The Cholesky factorisation runs on the BLAS threads of numpy/scipy
(``OPENBLAS_NUM_THREADS``); the kernel assembly on ``max_processes`` processes (sgdml forks workers).

Measured once (rMD17 ethanol, ``split(1000, 800, 50, 150, seed=0)``, default grid, one process, one BLAS thread,
2 shared cores): sigma 20 chosen (validation force MAE 0.0397 eV/A; 0.0401 at 10, rising to 0.070 at 90); test
energy MAE 8.1 meV = 0.186 kcal/mol, force MAE 39.4 meV/A = 0.909 kcal/mol/A (thesis GDML on the original MD17,
N = 1,000: 0.15 and 0.79); 22 min for the nine sigmas, peak memory 8.1 GB (1.1 GB of it before the fit).

Units: positions Angstrom, energies eV, forces eV/A (inputs in other units are converted with the set's units).
"""
from __future__ import annotations

import contextlib
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np

from tfatoms.data.atoms import AtomsData, unit_factor

#: The sigma grid of the sgdml command line (``10:10:100``, i.e. 10, 20, ..., 90), for the 1/A descriptor.
SGDML_SIGMAS = tuple(range(10, 100, 10))
#: sgdml's default regularisation strength (on force labels divided by their standard deviation).
SGDML_LAMBDA = 1e-10

_TRAINER = None          # sgdml allows one GDMLTrain per process ("please reuse your first one")
_TRAINER_KEY = None


def _import_sgdml():
    """``(GDMLTrain, GDMLPredict, sgdml version)``; importing sgdml sets a process-wide logger class, undone here."""
    cls = logging.getLoggerClass()
    try:
        import sgdml
        from sgdml.predict import GDMLPredict
        from sgdml.train import GDMLTrain
    except ImportError as err:
        raise ImportError(f"GDML needs the sgdml package (pip install 'tfatoms[gdml]' or pip install sgdml): "
                          f"{err}") from None
    finally:
        logging.setLoggerClass(cls)
    return GDMLTrain, GDMLPredict, sgdml.__version__


class _ToWarnings(logging.Handler):
    """sgdml's log warnings (e.g. 'Potentially inconsistent energy labels') as Python ``RuntimeWarning``s."""

    def emit(self, record):
        warnings.warn(f"sgdml: {record.getMessage()}", RuntimeWarning, stacklevel=2)


class _ToTqdm(logging.Handler):
    def emit(self, record):
        from tqdm import tqdm

        tqdm.write(f"sgdml: {record.getMessage()}")


@contextlib.contextmanager
def _sgdml_logging(progress: bool):
    """sgdml's INFO lines shown only with ``progress``; its warnings always, as ``RuntimeWarning``."""
    log = logging.getLogger("sgdml")
    old = (log.level, log.propagate, list(log.handlers))
    warn = _ToWarnings(logging.WARNING)
    handlers = [warn]
    if progress:
        info = _ToTqdm(logging.INFO)
        info.addFilter(lambda r: r.levelno < logging.WARNING)
        handlers.append(info)
    log.setLevel(logging.INFO if progress else logging.WARNING)
    log.propagate = False
    log.handlers = handlers
    # sgdml.train's GDMLPredict(log_level=CRITICAL) pins 'sgdml.predict'; its own handlers (ColoredLogger, if
    # sgdml was imported before us) would print besides ours: silence those for the duration.
    children = {n: logging.getLogger(n) for n in ("sgdml.train", "sgdml.predict", "sgdml.solvers.analytic",
                                                  "sgdml.solvers.iterative")}
    saved = {n: (c.propagate, list(c.handlers)) for n, c in children.items()}
    for c in children.values():
        c.handlers = []
        c.propagate = True
    try:
        yield
    finally:
        log.setLevel(old[0])
        log.propagate = old[1]
        log.handlers = old[2]
        for n, c in children.items():
            c.propagate, c.handlers = saved[n][0], saved[n][1]


def _trainer(max_memory, max_processes):
    global _TRAINER, _TRAINER_KEY
    GDMLTrain, _, _ = _import_sgdml()
    key = (max_memory, max_processes)
    if _TRAINER is None or _TRAINER_KEY != key:
        _TRAINER = None                       # sgdml's __del__ frees its one-instance slot
        try:
            _TRAINER = GDMLTrain(max_memory=max_memory, max_processes=max_processes)
        except Exception as err:  # noqa: BLE001 - sgdml raises a bare Exception
            if "multiple instances" not in str(err):
                raise
            raise RuntimeError("sgdml allows one GDMLTrain per process and another one is alive (created outside "
                               "tfatoms.models.gdml); delete it before calling fit_gdml") from None
        _TRAINER_KEY = key
    return _TRAINER


# ---------------------------------------------------------------------------------------------------- input
def _frames(data, what: str):
    """``(z (n_atoms,), R (n, n_atoms, 3) A, E (n,) eV, F (n, n_atoms, 3) eV/A)`` of one molecule's frames."""
    if not isinstance(data, AtomsData):
        raise TypeError(f"{what} must be a tfatoms.data.atoms.AtomsData, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{what} has no configurations")
    counts = data.n_atoms
    if np.any(counts != counts[0]):
        k = int(np.argmax(counts != counts[0]))
        raise ValueError(f"{what}: {data._where(k)} has {int(counts[k])} atoms, {data._where(0)} has "
                         f"{int(counts[0])}: GDML needs the frames of one molecule (same atoms, same order)")
    n, n_atoms = len(data), int(counts[0])
    if n_atoms < 2:
        raise ValueError(f"{what}: {data._where(0)} has one atom; GDML needs interatomic distances")
    z = data.numbers.reshape(n, n_atoms)
    bad = (z != z[0]).any(axis=1)
    if bad.any():
        k = int(np.argmax(bad))
        i = int(np.argmax(z[k] != z[0]))
        raise ValueError(f"{what}: {data._where(k)} has atomic number {int(z[k, i])} at atom {i}, {data._where(0)} "
                         f"has {int(z[0, i])}: GDML needs the frames of one molecule with the atoms in the same "
                         f"order (numbers {z[0].tolist()})")
    periodic = data.pbc.any(axis=1)
    if periodic.any():
        raise ValueError(f"{what}: {data._where(int(np.argmax(periodic)))} is periodic; this wrapper fits "
                         f"isolated molecules (no lattice)")
    for name in ("energy", "forces"):
        if name not in data.properties:
            raise ValueError(f"{what} has no {name!r} (properties: {sorted(data.properties)}); GDML is trained on "
                             f"forces and needs energies for the integration constant")
    energy = np.asarray(data.properties["energy"], dtype=np.float64)
    forces = np.asarray(data.properties["forces"], dtype=np.float64)
    if energy.size != n or "energy" in data.per_atom:
        raise ValueError(f"{what}: 'energy' must be one number per configuration, got shape {energy.shape}")
    if "forces" not in data.per_atom or forces.shape != (n * n_atoms, 3):
        raise ValueError(f"{what}: 'forces' must be per atom with shape ({n * n_atoms}, 3), got {forces.shape}")
    energy = energy.reshape(n) * unit_factor(data.units.get("energy", "eV"), "eV")
    forces = forces.reshape(n, n_atoms, 3) * unit_factor(data.units.get("forces", "eV/A"), "eV/A")
    for name, arr in (("energy", energy.reshape(n, 1)), ("forces", forces.reshape(n, -1))):
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"{what}: {data._where(k)} has a missing or non-finite {name!r} "
                             f"({int(bad.sum())} of {n} configurations); drop them, e.g. with "
                             f"data.subset(~data.missing({name!r}))")
    return z[0].copy(), data.positions.reshape(n, n_atoms, 3).copy(), energy, forces


def to_sgdml_dataset(data: AtomsData, name: str | None = None, what: str = "data") -> dict:
    """``data`` (frames of one molecule) as an sgdml dataset dict: ``z``, ``R`` (A), ``E`` (eV), ``F`` (eV/A),
    ``name``, ``theory``, ``r_unit``, ``e_unit``, ``md5`` (sgdml's fingerprint), ``type = 'd'``.

    Raises ``ValueError`` naming the configuration for frames of different molecules or atom orders, periodic
    frames, missing or non-finite energies/forces.
    """
    from sgdml.utils.io import dataset_md5

    z, R, E, F = _frames(data, what)
    src = data.metadata.get("source")
    theory = data.metadata.get("theory") or data.metadata.get("reference") or "unknown"
    ds = {"type": "d", "name": np.array(name or (Path(src).parent.name if src else "molecule")),
          "theory": np.array(str(theory)), "z": z, "R": R, "E": E, "F": F,
          "r_unit": np.array("Ang"), "e_unit": np.array("eV")}
    ds["md5"] = np.array(dataset_md5(ds))
    return ds


def _duplicates(R_a, R_b):
    """``(i, j)`` of the first frame of ``R_b`` identical to frame ``i`` of ``R_a`` (bitwise), or None."""
    seen = {r.tobytes(): i for i, r in enumerate(R_a)}
    for j, r in enumerate(R_b):
        if r.tobytes() in seen:
            return seen[r.tobytes()], j
    return None


def _errors(E, F, E_ref, F_ref) -> dict:
    de, df = E - E_ref, F - F_ref
    return {"energy_mae": float(np.mean(np.abs(de))), "energy_rmse": float(np.sqrt(np.mean(de ** 2))),
            "force_mae": float(np.mean(np.abs(df))), "force_rmse": float(np.sqrt(np.mean(df ** 2)))}


# ---------------------------------------------------------------------------------------------------- model
class GDMLModel:
    """A trained sgdml model (``.model``, sgdml's own dict) with the sigma search that chose it.

    Attributes:
        sigma: the kernel length scale chosen (1/A, the descriptor's unit).
        lam: regularisation strength.
        numbers: ``(n_atoms,)`` atomic numbers, in the order the model expects.
        n_train: training configurations.
        use_sym: sGDML symmetries used (False: GDML).
        solver: ``"analytic"`` (closed form) or ``"cg"`` (sgdml's iterative solver, when memory is short).
        validation: ``{sigma: {"energy_mae": eV, "energy_rmse": eV, "force_mae": eV/A, "force_rmse": eV/A,
            "seconds": s}}`` on the validation set, one entry per sigma tried (force errors per Cartesian
            component).
        energy_offset: sgdml's integration constant ``c`` (eV), fitted on the training energies.
    """

    def __init__(self, model: dict, validation: dict | None = None, info: dict | None = None):
        self.model = model
        self.validation = dict(validation or {})
        self.info = dict(info or {})
        self._predictor = None

    sigma = property(lambda self: self.model["sig"].item() if hasattr(self.model["sig"], "item")
                     else self.model["sig"])
    lam = property(lambda self: float(self.model["lam"]))
    numbers = property(lambda self: np.asarray(self.model["z"]).astype(np.int64))
    n_train = property(lambda self: int(np.asarray(self.model["R_desc"]).shape[1]))
    use_sym = property(lambda self: bool(np.asarray(self.model["perms"]).shape[0] > 1 or self.info.get("use_sym")))
    solver = property(lambda self: str(np.asarray(self.model["solver_name"])))
    energy_offset = property(lambda self: float(self.model["c"]))

    def __repr__(self) -> str:
        return (f"GDMLModel(sigma={self.sigma}, n_train={self.n_train}, n_atoms={len(self.numbers)}, "
                f"use_sym={self.use_sym}, solver={self.solver!r})")

    def _predict_fn(self):
        if self._predictor is None:
            _, GDMLPredict, _ = _import_sgdml()
            with _sgdml_logging(False):    # one process: no fork, fast for the few frames a baseline predicts
                self._predictor = GDMLPredict(self.model, max_processes=1)
        return self._predictor

    def predict(self, positions):
        """Energies and forces of configurations of the molecule.

        Args:
            positions: ``(n_frames, n_atoms, 3)`` Angstrom, atoms in the order of :attr:`numbers`; or an
                :class:`~tfatoms.data.atoms.AtomsData` of such frames (its atomic numbers are checked).

        Returns:
            ``(energies (n_frames,) eV, forces (n_frames, n_atoms, 3) eV/A)``; the energies are absolute (the
            integration constant fitted on the training energies), the forces minus their gradient.
        """
        n_atoms = len(self.numbers)
        if isinstance(positions, AtomsData):
            data = positions
            if len(data) and np.any(data.n_atoms != n_atoms):
                k = int(np.argmax(data.n_atoms != n_atoms))
                raise ValueError(f"{data._where(k)} has {int(data.n_atoms[k])} atoms, the model {n_atoms}")
            z = data.numbers.reshape(len(data), n_atoms)
            bad = (z != self.numbers).any(axis=1)
            if bad.any():
                k = int(np.argmax(bad))
                raise ValueError(f"{data._where(k)} has atomic numbers {z[k].tolist()}, the model was trained on "
                                 f"{self.numbers.tolist()} (same atoms in the same order)")
            positions = data.positions.reshape(len(data), n_atoms, 3)
        R = np.asarray(positions, dtype=np.float64)
        if R.ndim != 3 or R.shape[1:] != (n_atoms, 3):
            raise ValueError(f"positions must have shape (n_frames, {n_atoms}, 3) (Angstrom), got {R.shape}")
        bad = ~np.isfinite(R).all(axis=(1, 2))
        if bad.any():
            raise ValueError(f"positions of frame {int(np.argmax(bad))} are not finite")
        if len(R) == 0:
            return np.zeros(0), np.zeros((0, n_atoms, 3))
        E, F = self._predict_fn().predict(R.reshape(len(R), -1))
        return np.asarray(E, dtype=np.float64).reshape(len(R)), np.asarray(F, dtype=np.float64).reshape(R.shape)

    # ------------------------------------------------------------------------------------------ files
    def save(self, path) -> Path:
        """Write sgdml's model file (``.npz``, readable by ``sgdml`` itself) with the sigma search under the key
        ``tfatoms``; atomically."""
        from tfatoms._io import atomic_path

        path = Path(path)
        meta = json.dumps({"validation": {str(k): v for k, v in self.validation.items()}, "info": self.info})
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **self.model, tfatoms=np.array(meta))
        return path

    @classmethod
    def load(cls, path) -> "GDMLModel":
        """A model written by :meth:`save` (or any sgdml model file, without the sigma search)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=True) as f:
                model = {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError) as err:
            raise ValueError(f"cannot read a GDML model from {path}: {err}") from None
        kind = np.asarray(model.get("type", "")).item()
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind != "m":
            raise ValueError(f"{path} is not an sgdml model file (type {kind!r}, not 'm')")
        meta = json.loads(str(model.pop("tfatoms"))) if "tfatoms" in model else {}
        for k, v in list(model.items()):
            if isinstance(v, np.ndarray) and v.dtype == object and v.ndim == 0:
                model[k] = v.item()          # sgdml's dicts (f_err, e_err) and None (md5_test)
        validation = {float(k) if "." in k else int(k): v for k, v in meta.get("validation", {}).items()}
        return cls(model, validation, meta.get("info"))


# ---------------------------------------------------------------------------------------------------- fit
def fit_gdml(train: AtomsData, val: AtomsData, sigmas=SGDML_SIGMAS, lam: float = SGDML_LAMBDA, use_sym: bool = False,
             progress: bool = True, max_processes: int | None = None, max_memory: int | None = None) -> GDMLModel:
    """Train GDML (sgdml) on all frames of ``train`` for every sigma; keep the one of lowest validation force MAE.

    Args:
        train: configurations of one molecule (same atoms in the same order), with ``energy`` and per-atom
            ``forces``; all of them are used (N = ``len(train)``; the thesis: 1,000).
        val: configurations of the same molecule, disjoint from ``train``, for choosing sigma.
        sigmas: kernel length scales to try (1/A); default sgdml's command-line grid 10, 20, ..., 90.
        lam: regularisation (sgdml's default 1e-10).
        use_sym: False: GDML (Chmiela et al. 2017, the thesis' column); True: sGDML with the permutational
            symmetries sgdml finds in ``train``.
        progress: a progress bar over sigmas and sgdml's INFO lines; False: quiet (sgdml's warnings still come
            as ``RuntimeWarning``).
        max_processes: processes sgdml uses for descriptors and kernel assembly (None: all cores).
        max_memory: GB sgdml may use before it switches to its iterative solver (None: all of it).

    Returns:
        :class:`GDMLModel`; ``predict(positions A) -> (energies eV, forces eV/A)``.

    Raises ``ValueError`` naming the configuration for frames of different molecules or atom orders (also between
    ``train`` and ``val``), periodic frames, missing or non-finite energies/forces, frames in both sets; for an
    empty or non-positive sigma grid. Deterministic: every training frame is used, no sampling.
    """
    sig_list = list(sigmas) if np.ndim(sigmas) else [sigmas]
    if not sig_list:
        raise ValueError("sigmas is empty: give at least one kernel length scale (1/A), e.g. 10, 20, ..., 90")
    for s in sig_list:
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"every sigma must be a positive number (1/A), got {s!r} in {sig_list}")
    if len(set(sig_list)) != len(sig_list):
        raise ValueError(f"sigmas has duplicates: {sig_list}")
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    _, _, version = _import_sgdml()
    train_ds = to_sgdml_dataset(train, what="train")
    val_ds = to_sgdml_dataset(val, name=str(train_ds["name"]), what="val")
    if not np.array_equal(train_ds["z"], val_ds["z"]):
        raise ValueError(f"val holds another molecule or atom order than train: atomic numbers "
                         f"{val_ds['z'].tolist()} vs {train_ds['z'].tolist()}")
    dup = _duplicates(train_ds["R"], val_ds["R"])
    if dup is not None:
        raise ValueError(f"val: {val._where(dup[1])} is the same configuration as train: {train._where(dup[0])}; "
                         f"validation frames must not be training frames")
    n_train, n_val = len(train_ds["E"]), len(val_ds["E"])
    trainer = _trainer(max_memory, max_processes)
    from tqdm.auto import tqdm

    validation, best = {}, None
    bar = tqdm(sig_list, desc=f"GDML N={n_train}", unit="sigma", disable=not progress)
    stage = {"sigma": sig_list[0], "shown": None}

    def callback(current, total=1, disp_str="", sec_disp_str=None, done_with_warning=False, newline_when_done=True):
        pct = 100 * current / max(total, 1)
        shown = (stage["sigma"], disp_str, int(pct // 25))          # redraw at each step and every 25 %
        if shown != stage["shown"]:
            stage["shown"] = shown
            bar.set_postfix_str(f"sigma={stage['sigma']}: {disp_str} {pct:.0f}%")

    with _sgdml_logging(progress):
        # one task, its sigma set per model: how the sgdml CLI writes its task files (symmetries searched once)
        task = trainer.create_task(train_ds, n_train, val_ds, n_val, sig=sig_list[0], lam=lam, use_sym=use_sym,
                                   use_E=True, use_E_cstr=False, callback=callback if progress else None)
        for sig in bar:
            start = time.perf_counter()
            task["sig"] = stage["sigma"] = sig
            model = GDMLModel(trainer.train(task, callback=callback if progress else None),
                              info={"use_sym": bool(use_sym)})
            E, F = model.predict(val_ds["R"])
            err = _errors(E, F, val_ds["E"], val_ds["F"])
            model._predictor = None        # frees sgdml's copy of the training descriptors
            err["seconds"] = time.perf_counter() - start
            validation[sig] = err
            if best is None or err["force_mae"] < validation[best[0]]["force_mae"]:
                best = (sig, model)
            bar.set_postfix(sigma=sig, val_force_mae=f"{err['force_mae']:.4f} eV/A", best=best[0])
    bar.close()
    sig, model = best
    if len(sig_list) > 2 and sig in (min(sig_list), max(sig_list)):
        warnings.warn(f"the chosen sigma {sig} lies on the boundary of the grid {sorted(sig_list)}: a "
                      f"{'smaller' if sig == min(sig_list) else 'larger'} one may be better", RuntimeWarning,
                      stacklevel=2)
    model.validation = validation
    model.info.update({"sgdml_version": version, "n_train": n_train, "n_val": n_val, "sigmas": sig_list,
                       "lam": lam, "use_sym": bool(use_sym), "selected_by": "validation force MAE",
                       "units": {"positions": "A", "energy": "eV", "forces": "eV/A", "sigma": "1/A"},
                       "train_source": train.metadata.get("source"), "val_source": val.metadata.get("source")})
    return model


__all__ = ["GDMLModel", "SGDML_LAMBDA", "SGDML_SIGMAS", "fit_gdml", "to_sgdml_dataset"]
