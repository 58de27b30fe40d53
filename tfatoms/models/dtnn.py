"""Deep tensor neural network (Schütt, PhD thesis 2018, ch. 3; Schütt et al., Nat. Commun. 8, 13890 (2017)).

Architecture (thesis Fig. 3.1, sec. 3.2-3.4)::

    x_i^0 = A[Z_i]                                       embedding, 30 features   (eq. 3.1)
    d_hat_ij = exp(-gamma (d_ij - k dmu)^2), 0..20 A       dmu = 0.2 A              (eq. 3.4)
    x_i^(t+1) = x_i^t + sum_{j != i} v_ij,  t = 1..T       T in {1, 2, 3}           (eq. 3.2)
    v_ij = tanh[W^xf((W^fx x_j + b^f1) o (W^fd d_hat_ij + b^f2))]   60 factors      (eq. 3.7)
    E_i = E_sigma * o(x_i^T) + E_mu,   o = Dense(1)(tanh(Dense(H)))                   (sec. 3.4)
    E = sum_i E_i                                                                     (eq. 3.8)

The interaction weights are shared across the T passes ("in contrast to
DTNN, we do not tie the weights across interaction blocks", thesis sec.
4.3.2 on SchNet); ``shared_interactions=False`` unties them. The Gaussian
width is not given in the thesis; we use a width equal to the spacing,
sigma = 0.2 A, i.e. ``gamma = 1 / (2 sigma^2) = 12.5`` A^-2, and a hidden
output layer of ``n_features // 2 = 15`` tanh units.
"""
from __future__ import annotations

import keras

from tfatoms import keys
from tfatoms._validation import positive_int
from tfatoms.layers.embedding import AtomEmbedding
from tfatoms.layers.radial import GaussianRBF
from tfatoms.layers.readout import AtomwiseReadout
from tfatoms.layers.tensor_interaction import FactorizedTensorInteraction
from tfatoms.models.base import AtomwisePropertyModel
from tfatoms.models.geometry import couple_distances, pair_vectors
from tfatoms.models.schnet import checked_atomic_numbers


@keras.saving.register_keras_serializable(package="tfatoms")
class DTNN(AtomwisePropertyModel):
    """DTNN energy model on an atomistic batch dict (thesis ch. 3).

    Args:
        n_features: size of the chemical-environment vectors (30).
        n_factors: factor-space size of the tensor layer (60).
        n_interactions: number of interaction passes ``T`` (1, 2 or 3 in Table 3.1).
        rbf_cutoff, rbf_spacing, gamma: radial basis (0-20 A, 0.2 A, 12.5 A^-2).
        n_hidden: hidden tanh units of the output network (``n_features // 2`` if ``None``).
        shared_interactions: tie the interaction weights across passes (DTNN).
        aggregation, e_mu, e_sigma, element_references, max_z, return_atomwise:
            as in :class:`tfatoms.models.SchNet` (atomic numbers above ``max_z`` raise a
            ``ValueError`` naming the element).

    Input: an atomistic batch dict; all pairs ``j != i`` of each molecule (no cutoff:
    :attr:`cutoff` is ``None``).
    Output: ``(n_structures,)``, or ``{keys.ENERGY, keys.ATOMWISE_ENERGY}`` with
    ``return_atomwise``. With ``element_references`` (``max_z + 1`` entries, eV,
    e.g. from :func:`tfatoms.models.references.fit_atom_refs`) and ``e_mu``,
    ``e_sigma`` the output is the total energy, ``sum_i (e_sigma * o(x_i) + e_mu + ref[Z_i])``.
    """

    def __init__(self, n_features: int = 30, n_factors: int = 60, n_interactions: int = 3,
                 rbf_cutoff: float = 20.0, rbf_spacing: float = 0.2, gamma: float = 12.5,
                 n_hidden: int | None = None, shared_interactions: bool = True, aggregation: str = "sum",
                 e_mu=0.0, e_sigma=1.0, element_references=None, max_z: int = 100,
                 return_atomwise: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.n_features = positive_int(n_features, "n_features")
        self.n_interactions = positive_int(n_interactions, "n_interactions")
        n_factors = positive_int(n_factors, "n_factors")
        n_hidden = max(1, self.n_features // 2) if n_hidden is None else positive_int(n_hidden, "n_hidden")
        self.max_z = positive_int(max_z, "max_z")
        dt = self.dtype_policy
        self.embedding = AtomEmbedding(self.n_features, max_z=max_z, dtype=dt, name="embedding")
        self.rbf = GaussianRBF(cutoff=rbf_cutoff, spacing=rbf_spacing, gamma=gamma, dtype=dt, name="rbf")
        n_distinct = 1 if shared_interactions else self.n_interactions
        self.interactions = [FactorizedTensorInteraction(self.n_features, n_factors, dtype=dt,
                                                         name=f"interaction_{t}") for t in range(n_distinct)]
        self.output_hidden = keras.layers.Dense(n_hidden, activation="tanh", dtype=dt, name="output_hidden")
        self.output_layer = keras.layers.Dense(1, dtype=dt, name="output")
        self.readout = AtomwiseReadout(aggregation, e_mu=e_mu, e_sigma=e_sigma,
                                       element_references=element_references,
                                       return_atomwise=return_atomwise, dtype=dt, name="readout")
        self._config = dict(n_features=self.n_features, n_factors=n_factors, n_interactions=self.n_interactions,
                            rbf_cutoff=rbf_cutoff, rbf_spacing=rbf_spacing, gamma=gamma, n_hidden=n_hidden,
                            shared_interactions=bool(shared_interactions), aggregation=aggregation, max_z=max_z,
                            return_atomwise=bool(return_atomwise))

    def representation(self, batch):
        """Chemical-environment vectors ``x^T`` (n_atoms, n_features) after ``T`` passes."""
        _, d = pair_vectors(batch)
        idx_i, idx_j = batch[keys.IDX_I], batch[keys.IDX_J]
        d, inverse = couple_distances(batch, d)     # d_ij = d_ji: W^fd d_hat once per couple
        rbf = self.rbf(d)
        x = self.embedding(checked_atomic_numbers(batch[keys.ATOMIC_NUMBERS], self.max_z, type(self).__name__))
        for t in range(self.n_interactions):
            x = self.interactions[t % len(self.interactions)](x, rbf, idx_i, idx_j, filter_index=inverse)
        return x
