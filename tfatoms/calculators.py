"""An ASE calculator around any tfatoms energy model.

:class:`TfatomsCalculator` gives ``energy``, ``free_energy`` (equal to it), ``forces`` and, for
cells periodic along all three axes, ``stress``, all by automatic differentiation of the model's
energy through :class:`tfatoms.models.Potential` (``F_i = -dE/dr_i``, thesis eq. 5.1; stress
``(1/V) dE/d eps`` in eV/A^3 with ASE's sign, returned as ASE's Voigt 6-vector
``xx, yy, zz, yz, xz, xy``). Units: eV, eV/A. It works wherever an ASE calculator does:
``ase.optimize``, ``ase.md``, ``ase.vibrations``.

Cutoff. The calculator reads the cutoff from the model itself (``model.cutoff``, Angstrom;
``None`` or no such attribute: the model uses every pair of a molecule), so the pairs it feeds
and the pairs the model was trained on cannot disagree. A ``cutoff=`` given to the calculator
must equal the model's; for a model without a cutoff it truncates the pairs at that distance
(needed for periodic cells; the energy then jumps where a pair crosses it, unless the model goes
to zero there by itself).

Skin neighbour list. Candidate pairs are searched at ``cutoff + skin`` (vesin, periodic images
as separate pairs with integer cell shifts) and reused while no atom has moved more than
``skin / 2`` since that search and the atomic numbers, cell and pbc are unchanged (then every
pair closer than ``cutoff`` now is among the candidates). At each call the candidates are
filtered to ``d_ij < cutoff``, exactly the pairs a fresh search would give, so reuse never
changes a result, for any model (also ones without a smooth cutoff function, or averaging over
neighbours). ``n_neighbor_builds`` counts the searches.

One compiled function. The Potential runs in one ``tf.function`` with an input signature of
``None`` sizes, so MD steps with changing pair counts do not retrace.
"""
from __future__ import annotations

import os

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.data import chemical_symbols
from ase.stress import full_3x3_to_voigt_6_stress

import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines)
import keras
import tensorflow as tf

import tfatoms.layers  # noqa: F401  (registers the layers for .keras loading)
from tfatoms import keys
from tfatoms._validation import (atomic_numbers_array, element_numbers, first_unknown_element, float_dtype,
                                 numeric_array, positions_array)
from tfatoms.models import Potential  # also registers the models
from tfatoms.models.base import example_batch
from tfatoms.representations.batch import MIN_DISTANCE, prepare_positions
from tfatoms.representations.neighbors import model_cutoff, neighbor_list, pairs_cutoff
from tfatoms.representations.padded import canonical_pairs, couples, reverse_pairs

__all__ = ["TfatomsCalculator", "LocalForceCalculator", "model_cutoff", "resolve_model"]


def resolve_model(model, who: str = "tfatoms"):
    """``(model, description, metadata)`` of a Keras model, a ``.keras`` path or the name of a shipped model.

    A name (no path separator, not ending in ``.keras``, not an existing file) loads the model shipped in
    :mod:`tfatoms.pretrained` with its metadata (what it was trained on); a path loads that file (metadata
    ``None``); a model is returned as it is. A missing or unreadable file is a ``ValueError`` naming it
    (``who`` says which tool asked).
    """
    if isinstance(model, str) and not os.path.exists(model) and os.sep not in model \
            and not model.endswith(".keras"):
        from tfatoms.pretrained import load_model

        loaded, meta = load_model(model)                # a shipped model, by name
        if getattr(loaded, "elements", None) is None and meta.get("elements"):
            loaded.elements = list(meta["elements"])     # what it was trained on: others are refused
        return loaded, f"pretrained {type(loaded).__name__} {meta.get('name', '')!r}", meta
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise ValueError(f"{who}: no model file {path!r}")
        try:
            loaded = keras.saving.load_model(path)
        except Exception as err:  # noqa: BLE001  (name the file whatever Keras raised)
            raise ValueError(f"{who}: cannot load a Keras model from {path!r}: {err}") from err
        return loaded, f"{type(loaded).__name__} model from {path!r}", None
    return model, f"{type(model).__name__} model {getattr(model, 'name', '')!r}".rstrip(), None


class _Pairs:
    """Candidate pairs of one neighbour search and the state they were built for."""

    def __init__(self, numbers, cell, pbc, positions, shift, idx_i, idx_j, shifts):
        self.numbers, self.cell, self.pbc = numbers, cell, pbc
        self.positions = positions      # (n, 3) float64, raw ASE positions at the search
        self.shift = shift              # (n, 3) float64, raw - wrapped positions (periodic structures)
        self.idx_i, self.idx_j, self.shifts = idx_i, idx_j, shifts   # shifts: (n_pairs, 3) int32 cell shifts
        # each pair's mirror-couple representative (keys.PAIR_HALF), found once per search, not per step
        self.canonical = canonical_pairs(reverse_pairs(idx_i, idx_j, shifts, [0, len(idx_i)]))

    def matches(self, numbers, cell, pbc):
        return (len(numbers) == len(self.numbers) and np.array_equal(numbers, self.numbers)
                and np.array_equal(cell, self.cell) and np.array_equal(pbc, self.pbc))


class TfatomsCalculator(Calculator):
    """ASE calculator for a tfatoms energy model (molecules and periodic cells).

    Args:
        model: an energy model taking an atomistic batch dict (``SchNet``, ``DTNN``, any
            :class:`~tfatoms.models.AtomisticModel`; a ``Potential`` is unwrapped), returning
            the energy in eV, the path of a ``.keras`` file holding one, or the name of a model
            shipped in :mod:`tfatoms.pretrained` (e.g. ``"schnet_rmd17_ethanol"``; its metadata,
            what it was trained on, is then ``self.metadata``).
        skin: extra radius of the neighbour search, Angstrom (0.5); pairs are searched again
            once an atom has moved more than ``skin / 2``.
        dtype: float type of positions, cell and offsets fed to the model, float32 or float64;
            ``None`` (default): the model's compute dtype. Use float64 with a float64 model for
            results exact to round-off (finite-difference checks).
        cutoff: optional, Angstrom. Must equal the model's own cutoff if it has one; for a model
            without one (all pairs) it truncates the pairs (periodic structures need it).
        tabulated_filters: for a SchNet, predict with its filter-generating networks as splines in the
            distance (:meth:`~tfatoms.models.SchNet.with_tabulated_filters`): the same energies and forces to
            float32 round-off, faster (``BENCHMARKS.md``). ``True`` for another model raises ``ValueError``.
        **kwargs: passed to :class:`ase.calculators.calculator.Calculator` (``label``, ``directory``).

    Raises ``ValueError`` for an element beyond the model's ``max_z`` (or outside the model's
    ``elements``, if it records them), naming the element and the model; for a periodic
    structure with a model that has no cutoff and no ``cutoff`` given; and for two atoms on top
    of each other. ``stress`` of a structure that is not periodic along all three axes raises
    ``PropertyNotImplementedError``.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model, skin: float = 0.5, dtype=None, cutoff: float | None = None,
                 tabulated_filters: bool = False, **kwargs):
        super().__init__(**kwargs)
        model, self.model_name, self.metadata = resolve_model(model, "TfatomsCalculator")
        if isinstance(model, Potential):
            model = model.energy_model
        if not callable(model):
            raise ValueError(f"TfatomsCalculator: model must be a Keras energy model or a .keras path, "
                             f"got {type(model).__name__}")
        if tabulated_filters:
            if not hasattr(model, "with_tabulated_filters"):
                raise ValueError(f"TfatomsCalculator: tabulated_filters=True needs a SchNet, got "
                                 f"{type(model).__name__}")
            model.build_from_config(None)          # builds it on the example batch unless built
            model = model.with_tabulated_filters()
        self.model = model

        skin = float(skin)
        if not np.isfinite(skin) or skin < 0:
            raise ValueError(f"skin must be a finite distance >= 0 in Angstrom, got {skin}")
        self.skin = skin
        self.cutoff = pairs_cutoff(model, cutoff, self.model_name)
        if dtype is None:
            compute = getattr(model, "compute_dtype", "float32")
            dtype = compute if compute in ("float32", "float64") else "float32"
        self.dtype = float_dtype(dtype)
        self.max_z = getattr(model, "max_z", None)
        elements = getattr(model, "elements", None)
        self.elements = None if elements is None else element_numbers(elements)
        self.parameters.update(skin=self.skin, cutoff=self.cutoff, dtype=self.dtype.name,
                               tabulated_filters=bool(tabulated_filters))

        self.n_neighbor_builds = 0
        self._pairs = None
        self._functions = {}

    # ------------------------------------------------------------------ model
    def _function(self, stress: bool):
        """The compiled ``Potential`` call (one per stress setting), traced once for all sizes."""
        fn = self._functions.get(stress)
        if fn is None:
            if not getattr(self.model, "built", True):
                self.model(example_batch(getattr(self.model, "compute_dtype", self.dtype.name)))
            potential = Potential(self.model, compute_forces=True, compute_stress=stress)
            float_t = tf.as_dtype(self.dtype)
            signature = {
                keys.ATOMIC_NUMBERS: tf.TensorSpec([None], tf.int32),
                keys.POSITIONS: tf.TensorSpec([None, 3], float_t),
                keys.CELL: tf.TensorSpec([None, 3, 3], float_t),
                keys.PBC: tf.TensorSpec([None, 3], tf.bool),
                keys.STRUCTURE_INDEX: tf.TensorSpec([None], tf.int32),
                keys.N_ATOMS: tf.TensorSpec([None], tf.int32),
                keys.IDX_I: tf.TensorSpec([None], tf.int32),
                keys.IDX_J: tf.TensorSpec([None], tf.int32),
                keys.CELL_SHIFTS: tf.TensorSpec([None, 3], tf.int32),
                keys.PAIR_HALF: tf.TensorSpec([None], tf.int32),
                keys.PAIR_INVERSE: tf.TensorSpec([None], tf.int32),
            }

            def call(batch):
                out = potential(batch, training=False)
                return {k: out[k] for k in (keys.ENERGY, keys.FORCES) + ((keys.STRESS,) if stress else ())}

            fn = tf.function(call, input_signature=[signature], reduce_retracing=True)
            self._functions[stress] = fn
        return fn

    def _check_elements(self, numbers):
        if self.max_z is not None and numbers.size and numbers.max() > self.max_z:
            k = int(np.argmax(numbers > self.max_z))
            z = int(numbers[k])
            raise ValueError(f"atom {k}: element {_symbol(z)} (Z = {z}) is beyond max_z = {self.max_z} of the "
                             f"{self.model_name}; the model cannot describe it")
        k = None if self.elements is None else first_unknown_element(numbers, self.elements)
        if k is not None:
            z = int(numbers[k])
            raise ValueError(f"atom {k}: element {_symbol(z)} (Z = {z}) is not among the elements of the "
                             f"{self.model_name}: {', '.join(_symbol(e) for e in self.elements)}")

    # ------------------------------------------------------------- neighbours
    def _search(self, numbers, positions, cell, pbc):
        """New candidate pairs at ``cutoff + skin`` (or all pairs of a molecule for no cutoff)."""
        if self.cutoff is None:
            if pbc.any():
                raise ValueError(f"the {self.model_name} has no cutoff (it takes every pair, molecules only), "
                                 f"but the structure is periodic (pbc={pbc.tolist()}): give a model with a "
                                 f"cutoff, or TfatomsCalculator(..., cutoff=...) to truncate its pairs")
            i, j = np.nonzero(~np.eye(len(positions), dtype=bool))
            shifts = np.zeros((len(i), 3), np.int32)
            shift = np.zeros_like(positions)
        else:
            wrapped = prepare_positions(positions, cell, pbc, name="atoms")
            shift = positions - wrapped
            i, j, shifts = neighbor_list(wrapped, cell, pbc, self.cutoff + self.skin)
        self.n_neighbor_builds += 1
        return _Pairs(numbers.copy(), cell.copy(), pbc.copy(), positions.copy(), shift,
                      np.asarray(i, np.int32), np.asarray(j, np.int32), np.asarray(shifts, np.int32))

    def _batch(self, atoms):
        numbers = atomic_numbers_array(atoms.get_atomic_numbers(), name="atomic numbers of the atoms")
        self._check_elements(numbers)
        positions = positions_array(numeric_array(atoms.get_positions(), "positions"), name="positions")
        cell = numeric_array(atoms.get_cell()[:], "cell")
        pbc = np.asarray(atoms.get_pbc(), dtype=bool)

        pairs = self._pairs
        if pairs is None or not pairs.matches(numbers, cell, pbc) or (
                self.cutoff is not None and
                np.max(np.sum((positions - pairs.positions) ** 2, axis=1), initial=0.0) > (0.5 * self.skin) ** 2):
            pairs = self._pairs = self._search(numbers, positions, cell, pbc)

        if pbc.any():
            pos = positions - pairs.shift      # the search's wrapping, so its offsets stay valid
        else:
            pos = positions - positions.mean(axis=0)   # offsets are zero: any translation is exact
        pos = pos.astype(self.dtype)
        i, j, shifts, canonical = pairs.idx_i, pairs.idx_j, pairs.shifts, pairs.canonical
        offsets = shifts.astype(self.dtype) @ cell.astype(self.dtype)    # as the model computes them
        if len(i):
            d = np.linalg.norm((pos[j] - pos[i] + offsets).astype(np.float64), axis=1)
            if self.cutoff is not None:
                keep = d < self.cutoff
                i, j, shifts, d = i[keep], j[keep], shifts[keep], d[keep]
                # a pair and its mirror have the same distance bit for bit (negated vectors), so both stay or
                # both go: the kept pairs' representatives are kept pairs, renumbered
                canonical = (np.cumsum(keep) - 1)[canonical[keep]]
            if len(d) and d.min() < MIN_DISTANCE:
                k = int(np.argmin(d))
                raise ValueError(f"atoms {int(i[k])} and {int(j[k])} are on top of each other "
                                 f"(distance {d[k]:.2e} A, closer than {MIN_DISTANCE:g} A)")
        n = len(pos)
        half, inverse = couples(canonical)
        batch = {
            keys.ATOMIC_NUMBERS: numbers.astype(np.int32),
            keys.POSITIONS: pos,
            keys.CELL: cell.astype(self.dtype)[None],
            keys.PBC: pbc[None],
            keys.STRUCTURE_INDEX: np.zeros(n, np.int32),
            keys.N_ATOMS: np.array([n], np.int32),
            keys.IDX_I: np.ascontiguousarray(i, np.int32),
            keys.IDX_J: np.ascontiguousarray(j, np.int32),
            keys.CELL_SHIFTS: np.ascontiguousarray(shifts.reshape(-1, 3), np.int32),
            keys.PAIR_HALF: half.astype(np.int32), keys.PAIR_INVERSE: inverse.astype(np.int32),
        }
        return batch, bool(pbc.all())

    # ------------------------------------------------------------------- ASE
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Fill ``self.results`` with energy, free_energy and forces (and stress for 3-D periodic cells)."""
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        batch, periodic = self._batch(atoms)
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError(
                f"stress needs a cell periodic along all three axes; these atoms have pbc={atoms.pbc.tolist()}")
        out = self._function(periodic)(batch)
        energy = float(out[keys.ENERGY].numpy().reshape(-1)[0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": out[keys.FORCES].numpy().astype(np.float64).reshape(-1, 3),
        }
        if periodic:
            stress = out[keys.STRESS].numpy().astype(np.float64).reshape(3, 3)
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)

    @property
    def tracing_count(self) -> int:
        """How many times the compiled model functions were traced (1 per kind of structure used)."""
        return sum(fn.experimental_get_tracing_count() for fn in self._functions.values())


def _symbol(z: int) -> str:
    return chemical_symbols[z] if 0 <= z < len(chemical_symbols) else "unknown"


class LocalForceCalculator(Calculator):
    """ASE calculator of a :class:`~tfatoms.models.LocalForceDNN`: forces only, predicted directly.

    The local force DNN (Kuritz et al.) maps each atom's N nearest neighbours to its force; there
    is no energy, so ``energy``, ``free_energy`` and ``stress`` raise
    ``PropertyNotImplementedError``. ``ase.md.VelocityVerlet`` and ``Langevin`` need only forces
    and run with it (without an ``MDLogger``, which asks for the energy).

    Such forces are not the gradient of any energy, so MD with them does not conserve energy, and
    their sum over the atoms is not zero, so it does not conserve momentum either: the cell drifts.
    ``remove_net_force=True`` subtracts the mean force from every atom (Newton's third law for the
    whole cell), the remedy for the drift; it does not make the field conservative.

    Args:
        model: a ``LocalForceDNN``, a ``.keras`` path, or the name of a shipped model.
        remove_net_force: subtract the mean predicted force from each atom.

    Raises ``ValueError`` for an element the model was not trained on (``model.elements``).
    """

    implemented_properties = ["forces"]

    def __init__(self, model, remove_net_force: bool = False, **kwargs):
        super().__init__(**kwargs)
        model, self.model_name, self.metadata = resolve_model(model, "LocalForceCalculator")
        if not hasattr(model, "n_neighbors"):
            raise ValueError(f"LocalForceCalculator takes a LocalForceDNN, got {type(model).__name__}")
        self.model = model
        self.remove_net_force = bool(remove_net_force)
        self.parameters.update(remove_net_force=self.remove_net_force, n_neighbors=model.n_neighbors)
        self._predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                                    input_signature=[tf.TensorSpec([None, model.n_neighbors, 5], tf.float32)])

    def get_property(self, name, atoms=None, allow_calculation=True):
        if name not in self.implemented_properties:
            raise PropertyNotImplementedError(
                f"the local force DNN predicts forces only, not {name!r}: its forces are not the gradient of an "
                f"energy (use TfatomsCalculator with an energy model for energies and stress)")
        return super().get_property(name, atoms, allow_calculation)

    def calculate(self, atoms=None, properties=("forces",), system_changes=all_changes):
        from tfatoms.representations.environments import environment_features

        unsupported = sorted(set(properties) - {"forces"})
        if unsupported:
            raise PropertyNotImplementedError(
                f"the local force DNN predicts forces only (no energy: they are not the gradient of one); "
                f"asked for {unsupported}")
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        numbers = atomic_numbers_array(atoms.get_atomic_numbers(), name="atomic numbers of the atoms")
        k = None if self.model.elements is None else first_unknown_element(numbers, self.model.elements)
        if k is not None:
            z = int(numbers[k])
            raise ValueError(f"element {_symbol(z)} (Z = {z}) is not among the elements the local force DNN was "
                             f"trained on: {', '.join(_symbol(e) for e in element_numbers(self.model.elements))}")
        features = environment_features(numbers, atoms.get_positions(), atoms.get_cell()[:], atoms.get_pbc(),
                                        self.model.n_neighbors, dtype=np.float32)
        forces = self._predict(tf.constant(features)).numpy().astype(np.float64)
        if self.remove_net_force:
            forces -= forces.mean(axis=0)
        self.results = {"forces": forces}
