"""Atom-wise readout: scale per-atom outputs and pool them per structure.

Following Schütt, PhD thesis 2018, sec. 3.4 (eq. 3.8 and the scaling below
it), the output network predicts a scaled contribution ``E_hat_i`` per atom;
the contribution is::

    E_i = E_sigma * E_hat_i + E_mu + ref[Z_i]

with ``E_mu``, ``E_sigma`` the mean and standard deviation of the per-atom
energy of the training set and ``ref`` optional per-element reference
(e.g. free-atom) energies. The structure property is ``sum_i E_i`` (extensive
properties such as the energy) or ``mean_i E_i`` (intensive ones such as
HOMO/LUMO energies, thesis sec. 4.4.1).

With ``E_mu``, ``E_sigma`` and ``ref`` in the model, a saved model predicts the
property in its own units (total energies in eV) from the atoms alone: no
scaling or reference has to be undone outside it. The references can come
from a table (QM9's free atoms, :mod:`tfatoms.data.qm9`) or be fitted by least
squares on the training compositions (:func:`tfatoms.models.references.fit_atom_refs`).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfatoms import keys


def _scalar_or_list(value, name):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a number or a 1-D sequence (one per output), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(arr) if arr.ndim == 0 else arr.tolist()


@keras.saving.register_keras_serializable(package="tfatoms")
class AtomwiseReadout(keras.layers.Layer):
    """Scale atom-wise outputs, add element references and pool per structure (thesis sec. 3.4).

    Args:
        aggregation: ``"sum"`` (extensive properties, eq. 3.8) or ``"mean"``
            (intensive ones; divides by the ``n_atoms`` of the structure).
        e_mu: shift ``E_mu`` added to each atom, a number or one per output
            column (units of the property, e.g. eV).
        e_sigma: scale ``E_sigma`` of each atom's output, a number or one per
            output column.
        element_references: optional per-element references ``ref[Z]`` indexed by
            ``Z``, in the units of the property (eV for energies): shape
            ``(max_z + 1,)`` (added to every output column) or
            ``(max_z + 1, n_out)``. ``None`` (default) means no references
            (all zero). They are constants (stored in the config, not
            trained), e.g. from :func:`tfatoms.models.references.fit_atom_refs`.
            Requires ``atomic_numbers`` in ``call``.
        return_atomwise: if true, ``call`` returns
            ``{keys.ENERGY: pooled, keys.ATOMWISE_ENERGY: E_i}`` (``"energy"``,
            ``"atomwise_energy"``), the per-atom contributions ``E_i`` as well
            (names from :mod:`tfatoms.keys` whatever the property is, so
            :class:`tfatoms.models.Potential` and the losses read them).

    Call arguments:
        atom_values: ``(n_atoms, n_out)`` float, the scaled predictions ``E_hat_i``.
        structure_index: ``(n_atoms,)`` int, structure of each atom.
        n_atoms: ``(n_structures,)`` int, atoms per structure; its length sets
            the number of structures (structures with no atom give 0).
        atomic_numbers: ``(n_atoms,)`` int, needed with ``element_references``.

    Returns:
        ``(n_structures, n_out)``; or the dict described above, with
        ``keys.ATOMWISE_ENERGY`` of shape ``(n_atoms, n_out)``.
    """

    def __init__(self, aggregation: str = "sum", e_mu=0.0, e_sigma=1.0, element_references=None,
                 return_atomwise: bool = False, **kwargs):
        super().__init__(**kwargs)
        if aggregation not in ("sum", "mean"):
            raise ValueError(f"aggregation must be 'sum' or 'mean', got {aggregation!r}")
        self.aggregation = aggregation
        self.e_mu = _scalar_or_list(e_mu, "e_mu")
        self.e_sigma = _scalar_or_list(e_sigma, "e_sigma")
        if element_references is not None:
            refs = np.asarray(element_references, dtype=np.float64)
            if refs.ndim not in (1, 2) or refs.shape[0] < 2:
                raise ValueError("element_references must have shape (max_z + 1,) or (max_z + 1, n_out), "
                                 f"got {refs.shape}")
            if not np.all(np.isfinite(refs)):
                raise ValueError("element_references must be finite")
            element_references = refs.tolist()
        self.element_references = element_references
        self.return_atomwise = bool(return_atomwise)

    def call(self, atom_values, structure_index, n_atoms, atomic_numbers=None):
        dtype = self.compute_dtype
        y = tf.cast(atom_values, dtype)
        y = y * tf.constant(self.e_sigma, dtype) + tf.constant(self.e_mu, dtype)
        if self.element_references is not None:
            if atomic_numbers is None:
                raise ValueError("AtomwiseReadout has element_references: pass atomic_numbers")
            refs = tf.constant(self.element_references, dtype)
            ref_i = tf.gather(refs, tf.cast(atomic_numbers, tf.int32))
            if len(refs.shape) == 1:
                ref_i = ref_i[:, tf.newaxis]
            y = y + ref_i
        n_atoms = tf.convert_to_tensor(n_atoms)
        total = tf.math.unsorted_segment_sum(y, tf.cast(structure_index, tf.int32), tf.shape(n_atoms)[0])
        if self.aggregation == "mean":
            count = tf.maximum(tf.cast(n_atoms, dtype), tf.ones([], dtype))
            total = total / count[:, tf.newaxis]
        if self.return_atomwise:
            return {keys.ENERGY: total, keys.ATOMWISE_ENERGY: y}
        return total

    def get_config(self):
        config = super().get_config()
        config.update(aggregation=self.aggregation, e_mu=self.e_mu, e_sigma=self.e_sigma,
                      element_references=self.element_references, return_atomwise=self.return_atomwise)
        return config
