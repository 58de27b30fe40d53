"""Energy, forces and stress of any energy model by automatic differentiation.

``F_i = -dE/dr_i`` and, for periodic cells, ``sigma = (1/V) dE/d eps`` where the
symmetric strain ``eps`` deforms positions, cell and the Cartesian pair offsets
together (``r -> r (1 + eps)``), so the derivative is exact under periodic
boundaries (thesis eq. 5.1, F = -dE/dr, which makes the forces energy-conserving
and rotationally equivariant, eq. 5.3-5.6). Stress is in eV/A^3 with ASE's sign convention.

The inner tape is recorded by an outer tape only while training (force
training needs second derivatives); at inference the forces are cut from the
graph with ``stop_gradient`` so nothing higher-order is kept.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from tfatoms import keys
from tfatoms.models.base import AtomisticModel


@keras.saving.register_keras_serializable(package="tfatoms")
class Potential(AtomisticModel):
    """Wrap ``energy_model(batch, training)`` returning the energy or a dict of outputs.

    Args:
        energy_model: a Keras model taking an atomistic batch dict (``tfatoms.keys``) and
            returning the energy, ``(n_structures,)`` or ``(n_structures, 1)``, or a dict with
            the energy under ``keys.ENERGY`` (e.g. ``SchNet(return_atomwise=True)``); the dict's
            other outputs (``keys.ATOMWISE_ENERGY``, ...) are passed through.
        compute_forces: return ``forces`` (n_atoms, 3), eV/A.
        compute_stress: return ``stress`` (n_structures, 3, 3), eV/A^3; needs ``CELL``
            (and ``CELL_SHIFTS`` or ``OFFSETS`` for pairs across the boundary).

    Output: dict with ``energy`` (n_structures,) in eV, the requested derivatives and any other
    outputs of the energy model.

    Attributes:
        cutoff: the energy model's cutoff (Angstrom, or ``None`` for all pairs).
    """

    def __init__(self, energy_model, compute_forces: bool = True, compute_stress: bool = False, **kwargs):
        kwargs.setdefault("autocast", False)  # positions keep their dtype (float64 for finite-difference checks)
        super().__init__(**kwargs)
        self.energy_model = energy_model
        self.compute_forces = bool(compute_forces)
        self.compute_stress = bool(compute_stress)

    @property
    def cutoff(self):
        """The cutoff of the energy model, Angstrom (``None``: it takes every pair)."""
        return getattr(self.energy_model, "cutoff", None)

    def call(self, batch, training=False):
        batch = dict(batch)
        positions = tf.convert_to_tensor(batch[keys.POSITIONS])
        n_structures = tf.shape(batch[keys.N_ATOMS])[0]
        strain = tf.zeros(tf.stack([n_structures, 3, 3]), dtype=positions.dtype)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(positions)
            if self.compute_stress:
                tape.watch(strain)
                batch = _strained(batch, positions, strain)
            else:
                batch[keys.POSITIONS] = positions
            outputs = self.energy_model(batch, training=training)
            extra = {}
            if isinstance(outputs, dict):
                if keys.ENERGY not in outputs:
                    raise ValueError(f"{type(self.energy_model).__name__} returned a dict without "
                                     f"{keys.ENERGY!r} (keys {sorted(outputs)}): Potential needs the energy")
                extra = {k: v for k, v in outputs.items() if k != keys.ENERGY}
                clash = sorted(set(extra) & {keys.FORCES, keys.STRESS})
                if clash:
                    raise ValueError(f"{type(self.energy_model).__name__} returns {clash} itself; Potential "
                                     f"computes {keys.FORCES!r} and {keys.STRESS!r} as derivatives of the energy")
                outputs = outputs[keys.ENERGY]
            energy = tf.reshape(outputs, [-1])
        results = {keys.ENERGY: energy, **extra}
        if not (self.compute_forces or self.compute_stress):
            return results
        sources = [positions] + ([strain] if self.compute_stress else [])
        grads = tape.gradient(energy, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        grads = [tf.convert_to_tensor(g) for g in grads]  # gathers give IndexedSlices
        if not training:
            grads = [tf.stop_gradient(g) for g in grads]
        if self.compute_forces:
            results[keys.FORCES] = -grads[0]
        if self.compute_stress:
            volume = tf.abs(tf.linalg.det(tf.convert_to_tensor(batch[keys.CELL], dtype=positions.dtype)))
            results[keys.STRESS] = grads[1] / volume[:, None, None]
        return results

    def get_config(self):
        config = super().get_config()
        config.update(energy_model=keras.saving.serialize_keras_object(self.energy_model),
                      compute_forces=self.compute_forces, compute_stress=self.compute_stress)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["energy_model"] = keras.saving.deserialize_keras_object(config["energy_model"])
        return cls(**config)


def _strained(batch, positions, strain):
    """Apply the symmetric deformation ``1 + eps`` of each structure to positions, cell and offsets.

    Offsets computed from ``CELL_SHIFTS`` follow the strained cell inside the model
    (:func:`tfatoms.models.geometry.pair_offsets`); Cartesian ``OFFSETS`` are strained here.
    """
    sym = 0.5 * (strain + tf.linalg.matrix_transpose(strain))
    structure = batch[keys.STRUCTURE_INDEX]
    batch[keys.POSITIONS] = positions + tf.einsum("ni,nij->nj", positions, tf.gather(sym, structure))
    cell = tf.convert_to_tensor(batch[keys.CELL], dtype=positions.dtype)
    batch[keys.CELL] = cell + tf.einsum("sai,sij->saj", cell, sym)
    if keys.OFFSETS in batch and keys.CELL_SHIFTS not in batch:   # with shifts the offsets follow the cell
        offsets = tf.convert_to_tensor(batch[keys.OFFSETS], dtype=positions.dtype)
        pair_structure = tf.gather(structure, batch[keys.IDX_I])
        batch[keys.OFFSETS] = offsets + tf.einsum("pi,pij->pj", offsets, tf.gather(sym, pair_structure))
    return batch
