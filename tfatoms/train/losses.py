"""Training losses keyed by property (``tfatoms.keys``), with padding masked.

Two losses, both taking ``(targets, predictions, weights, batch)`` and returning a
scalar tensor:

* :class:`EnergyLoss`: the weighted mean squared error of one scalar per structure
  (thesis sec. 4.4, the QM9 setting), exactly the loss :class:`BatchTrainer` has
  always used.
* :class:`EnergyForceLoss`: the combined energy and force loss of thesis eq. 5.7
  (Pukrittayakamee et al. 2009), with an optional stress term.

Layout of keyed ``targets`` / ``weights`` (what
:class:`~tfatoms.representations.padded.StructureBatches` gives when it has forces or stress):

=========================  =================  =============================================
key                        shape              meaning
=========================  =================  =============================================
``targets[ENERGY]``        (n_structures,)    reference energy, eV (0 in padding slots)
``targets[FORCES]``        (n_atoms, 3)       reference forces, eV/A (0 on padding atoms)
``targets[STRESS]``        (n_structures,3,3) reference stress, eV/A^3 (optional)
``weights[ENERGY]``        (n_structures,)    1 for real structures (or an importance weight), 0 for padding
``weights[FORCES]``        (n_atoms,)         atom mask: 1 for real atoms, 0 for padding
=========================  =================  =============================================

``predictions`` is the dict a :class:`~tfatoms.models.Potential` returns
(``ENERGY`` (n_structures,), ``FORCES`` (n_atoms, 3), ``STRESS``).
"""
from __future__ import annotations

import tensorflow as tf

from tfatoms import keys


def _energy_pair(targets, weights):
    """``(energy targets, structure weights)`` of keyed or plain targets."""
    if isinstance(targets, dict):
        return targets[keys.ENERGY], weights[keys.ENERGY]
    return targets, weights


def _n_real(weights):
    """The number of real examples (weight > 0), at least 1e-12: a batch (or a replica's shard) of padding only has
    loss 0, gradient 0, where 0/0 would give NaN. Dividing by the count, not the sum, lets a weight other than 1
    scale an example's share of the loss (``ConcatenatedSources(..., loss_weights=)``); with 0/1 weights the two
    are the same number."""
    weights = tf.convert_to_tensor(weights)
    total = tf.reduce_sum(tf.cast(weights > 0, weights.dtype))
    return tf.maximum(total, tf.constant(1e-12, total.dtype))


class EnergyLoss:
    """Weighted mean squared error of one scalar per structure (thesis sec. 4.4).

    ``L = sum_s w_s (E_s - E_hat_s)^2 / n_real``, ``w_s`` = 1 for real structures (or an importance weight),
    0 for padding slots, ``n_real`` the number of real structures. Takes plain arrays (``targets`` (B,), ``predictions`` of any
    shape with B entries) or keyed ones (then ``ENERGY`` is used).
    """

    needs_forces = False
    needs_stress = False
    #: what :class:`BatchTrainer` stops on by default (the validation MAE of the scalar).
    default_monitor = "mae"

    def __call__(self, targets, predictions, weights, batch=None):
        targets, weights = _energy_pair(targets, weights)
        if isinstance(predictions, dict):
            predictions = predictions[keys.ENERGY]
        targets = tf.convert_to_tensor(targets)
        pred = tf.reshape(predictions, tf.shape(targets))
        if targets.shape.rank == 1:
            return tf.reduce_sum(weights * tf.square(pred - targets)) / _n_real(weights)
        # vector targets (B, ...): the mean over the components of the real examples
        sq = tf.reduce_sum(tf.reshape(tf.square(pred - targets), [tf.shape(targets)[0], -1]), axis=1)
        components = tf.cast(tf.reduce_prod(tf.shape(targets)[1:]), sq.dtype)
        return tf.reduce_sum(weights * sq) / (_n_real(weights) * components)

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class DirectForceLoss(EnergyLoss):
    """Weighted mean squared error of per-atom force vectors predicted directly (the local force DNN).

    One example per atom: ``targets`` (B, 3) eV/A, ``weights`` (B,) (0 for padding);
    ``L = sum_a w_a |F_a - F_hat_a|^2 / (3 sum_a w_a)``, the mean over force components (the
    paper's Adam on mini-batches of 100 atoms). :class:`BatchTrainer` reports the component MAE.
    """


class EnergyForceLoss:
    """Combined energy and force loss, thesis eq. 5.7, averaged over the structures of a batch.

    Thesis eq. 5.7 for one structure of ``n_atoms`` atoms::

        l = rho ||E - E_hat||^2 + (1 / n_atoms) sum_i ||F_i - (-dE_hat/dR_i)||^2

    ``rho`` multiplies the *energy* term (thesis: "energy loss scale rho", Table 5.6;
    ``rho = 0.01`` for MD17, ISO17 and C20; ``rho = 0`` is force-only training).
    Normalisation used here, exactly:

    * force term of structure ``s``: the squared error summed over the 3 Cartesian
      components and over the real atoms of ``s``, divided by the number of real
      atoms ``N_s`` (the thesis' ``1/n_atoms``; it is *not* divided by 3, so it is
      3x a per-component mean squared error);
    * energy term: ``rho (E_s - E_hat_s)^2`` in eV^2, not divided by ``N_s`` (as in the thesis);
    * stress term (optional, not in the thesis): ``stress_weight * (1/9) sum_ab (sigma_ab - sigma_hat_ab)^2``;
    * the batch loss is the plain mean of ``l_s`` over the real structures of the batch
      (weights 0 for padding slots, atom mask 0 for padding atoms, so padding never counts).

    So ``L = sum_s w_s [rho dE_s^2 + (1/N_s) sum_{i in s} m_i |dF_i|^2 + c/9 |dsigma_s|^2] / sum_s w_s``.
    The thesis' forces are per-atom vectors of one molecule; batching by the mean over
    structures is what its mini-batch SGD with 32 examples does.

    Args:
        rho: energy-force trade-off (0.01 in the thesis), >= 0.
        stress_weight: weight ``c`` of the stress term (0: no stress; needs batches with a cell).
        forces_weight: weight of the force term (1 in the thesis; 0 gives energy-only training
            through the force path).
    """

    needs_forces = True

    def __init__(self, rho: float = 0.01, stress_weight: float = 0.0, forces_weight: float = 1.0):
        for name, value in (("rho", rho), ("stress_weight", stress_weight), ("forces_weight", forces_weight)):
            value = float(value)
            if not (value >= 0.0 and value < float("inf")):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        self.rho = float(rho)
        self.stress_weight = float(stress_weight)
        self.forces_weight = float(forces_weight)
        if self.rho == 0.0 and self.forces_weight == 0.0 and self.stress_weight == 0.0:
            raise ValueError("EnergyForceLoss with rho = forces_weight = stress_weight = 0 trains nothing")

    @property
    def needs_stress(self) -> bool:
        return self.stress_weight > 0.0

    #: the monitor :class:`BatchTrainer` stops on by default: :meth:`combined_mae`.
    default_monitor = "combined_mae"

    def combined_mae(self, metrics: dict) -> float:
        """Validation number for early stopping: ``rho * energy_mae + forces_weight * forces_mae``.

        The MAEs weighted as eq. 5.7 weighs the squared errors (+ ``stress_weight * stress_mae``).
        """
        value = self.rho * metrics["energy_mae"] + self.forces_weight * metrics["forces_mae"]
        if self.needs_stress:
            value += self.stress_weight * metrics["stress_mae"]
        return float(value)

    def terms(self, targets, predictions, weights, batch):
        """``{ENERGY, FORCES[, STRESS]}``: each term of eq. 5.7 averaged over the batch's real structures."""
        w = tf.convert_to_tensor(weights[keys.ENERGY])
        dtype = w.dtype
        n_real = _n_real(w)
        e_true = tf.convert_to_tensor(targets[keys.ENERGY], dtype)
        e_pred = tf.reshape(tf.cast(predictions[keys.ENERGY], dtype), tf.shape(e_true))
        out = {keys.ENERGY: tf.reduce_sum(w * tf.square(e_pred - e_true)) / n_real}
        mask = tf.cast(weights[keys.FORCES], dtype)
        n_atoms = tf.cast(batch[keys.N_ATOMS], dtype)
        per_atom = mask / tf.maximum(tf.gather(n_atoms, batch[keys.STRUCTURE_INDEX]), 1.0)   # 1/N_s, 0 on padding
        f_true = tf.convert_to_tensor(targets[keys.FORCES], dtype)
        f_pred = tf.cast(predictions[keys.FORCES], dtype)
        sq = tf.reduce_sum(tf.square(f_pred - f_true), axis=-1)                                 # |dF_i|^2
        out[keys.FORCES] = tf.reduce_sum(per_atom * sq) / n_real
        if self.needs_stress:
            s_true = tf.convert_to_tensor(targets[keys.STRESS], dtype)
            s_pred = tf.cast(predictions[keys.STRESS], dtype)
            sq_s = tf.reduce_mean(tf.square(tf.reshape(s_pred - s_true, [-1, 9])), axis=-1)
            out[keys.STRESS] = tf.reduce_sum(w * sq_s) / n_real
        return out

    def __call__(self, targets, predictions, weights, batch):
        t = self.terms(targets, predictions, weights, batch)
        loss = self.rho * t[keys.ENERGY] + self.forces_weight * t[keys.FORCES]
        if self.needs_stress:
            loss = loss + self.stress_weight * t[keys.STRESS]
        return loss

    def get_config(self) -> dict:
        return {"rho": self.rho, "stress_weight": self.stress_weight, "forces_weight": self.forces_weight}

    def __repr__(self) -> str:
        return (f"EnergyForceLoss(rho={self.rho}, stress_weight={self.stress_weight}, "
                f"forces_weight={self.forces_weight})")
