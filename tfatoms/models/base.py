"""Base class of models that take an atomistic batch dict (``tfatoms.keys``).

Keras cannot build a model with dict inputs from its recorded input shapes when
a ``.keras`` file is loaded, so :class:`AtomisticModel` builds itself by calling
itself on a tiny example batch (two atoms, one structure) before the weights
are restored. Every atomistic model and the ``Potential`` wrapper subclass it.
"""
from __future__ import annotations

import keras
import numpy as np

from tfatoms import keys


def example_batch(dtype="float32") -> dict:
    """A minimal valid batch: an H2-like pair 0.74 A apart in a 10 A periodic box, both pair directions."""
    return {
        keys.ATOMIC_NUMBERS: np.array([1, 1], np.int32),
        keys.POSITIONS: np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.74]], dtype),
        keys.CELL: (10.0 * np.eye(3, dtype=dtype))[None],
        keys.PBC: np.ones((1, 3), bool),
        keys.STRUCTURE_INDEX: np.zeros(2, np.int32),
        keys.N_ATOMS: np.array([2], np.int32),
        keys.IDX_I: np.array([0, 1], np.int32),
        keys.IDX_J: np.array([1, 0], np.int32),
        keys.CELL_SHIFTS: np.zeros((2, 3), np.int32),
    }


class AtomisticModel(keras.Model):
    """A ``keras.Model`` whose ``call`` takes an atomistic batch dict; loadable from ``.keras`` files.

    Attributes:
        cutoff: the neighbour cutoff the model was built for, Angstrom, or
            ``None`` if it takes every pair of a structure (molecules). The
            batch builders and :class:`tfatoms.calculators.TfatomsCalculator`
            read it, so the pairs a model sees cannot disagree with the pairs it
            was trained on. Subclasses with a cutoff set it (``SchNet(cutoff=...)``
            sets its cosine cutoff radius); :class:`~tfatoms.models.Potential`
            reports its energy model's.
    """

    cutoff: float | None = None

    def build_from_config(self, config):
        if not self.built:
            self(example_batch(self.compute_dtype))


class AtomwisePropertyModel(AtomisticModel):
    """Shared head of DTNN and SchNet: ``representation(batch)`` -> atom-wise output network -> readout.

    Subclasses define ``representation``, ``output_hidden``, ``output_layer``
    and ``readout`` (:class:`tfatoms.layers.AtomwiseReadout`). ``call`` returns
    ``(n_structures,)``, or, when the readout returns atom-wise contributions,
    ``{keys.ENERGY: (n_structures,), keys.ATOMWISE_ENERGY: (n_atoms,)}``
    (:class:`~tfatoms.models.Potential` takes either).
    """

    @property
    def return_atomwise(self) -> bool:
        return self.readout.return_atomwise

    def call(self, batch, training=False):
        x = self.representation(batch)
        e_hat = self.output_layer(self.output_hidden(x))
        out = self.readout(e_hat, batch[keys.STRUCTURE_INDEX], batch[keys.N_ATOMS], batch[keys.ATOMIC_NUMBERS])
        if self.readout.return_atomwise:
            return {keys.ENERGY: out[keys.ENERGY][:, 0], keys.ATOMWISE_ENERGY: out[keys.ATOMWISE_ENERGY][:, 0]}
        return out[:, 0]

    def get_config(self):
        config = super().get_config()
        config.update(self._config, e_mu=self.readout.e_mu, e_sigma=self.readout.e_sigma,
                      element_references=self.readout.element_references)
        return config
