"""SchNet (Schütt, PhD thesis 2018, ch. 4; Schütt et al., J. Chem. Phys. 148, 241722 (2018)).

Architecture of thesis Fig. 4.2::

    x_i^0 = A[Z_i]                                   embedding, F = 64       (eq. 3.1)
    d_hat_ij = exp(-gamma (d_ij - mu_k)^2)            0.1 A spacing, gamma = 10 (eq. 3.4)
    x^(t+1) = x^t + v^t,  t = 1..T                    T = 6 interaction blocks (eq. 4.7)
        v = Dense(F)(ssp(Dense(F)(cfconv(Dense(F, no bias)(x), W(d)))))
        W(d) = ssp(Dense(F)(ssp(Dense(F)(d_hat))))    filter-generating network
    E_i = E_sigma * Dense(1)(ssp(Dense(F/2)(x^T)))_i + E_mu (+ ref[Z_i])
    E = sum_i E_i   (extensive properties)   or   mean_i E_i   (HOMO, LUMO, gap)

No distance cutoff by default, as for QM9 in the thesis (sec. 4.4.1); the
radial basis then has to cover every distance that occurs (``rbf_cutoff``).
``cutoff`` switches on the schnetpack 2 cosine cutoff on the filters
(thesis sec. 4.5 trains QM9 with a 4 A cutoff at equal accuracy); the
neighbour list must then use the same cutoff.

``shared_filters=True`` shares one filter-generating network ``W(d)`` across
the T interaction blocks (thesis sec. 5.2.1, the "shared" rows of Tables 5.1
and 5.2); the default gives every block its own, as the thesis does after sec. 5.2.1.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfatoms import keys
from tfatoms._validation import atomic_numbers_within, positive_int
from tfatoms.layers.activations import shifted_softplus
from tfatoms.layers.cfconv import SchNetInteraction
from tfatoms.layers.embedding import AtomEmbedding
from tfatoms.layers.filter_table import DEFAULT_SPACING, filter_table
from tfatoms.layers.radial import GaussianRBF, _positive_float
from tfatoms.layers.readout import AtomwiseReadout
from tfatoms.models.base import AtomwisePropertyModel
from tfatoms.models.geometry import couple_distances, pair_vectors


def checked_atomic_numbers(numbers, max_z: int, model: str = "the model"):
    """``numbers`` after checking that every one fits an embedding of ``max_z + 1`` rows.

    Eagerly (NumPy input or eager tensors) a ``ValueError`` names the element and
    ``max_z``; inside a traced function an assertion fails with the same text
    (XLA drops assertions: :class:`~tfatoms.train.trainer.BatchTrainer` and
    :class:`~tfatoms.representations.padded.MoleculeBatches` check before training).
    """
    if tf.executing_eagerly() and not isinstance(numbers, keras.KerasTensor):
        atomic_numbers_within(np.asarray(numbers), max_z, model)
        return numbers
    z = tf.convert_to_tensor(numbers)
    check = tf.debugging.assert_less_equal(
        z, tf.cast(max_z, z.dtype), message=f"an atomic number is beyond {model}'s max_z = {max_z}")
    with tf.control_dependencies([check]):
        return tf.identity(z)


@keras.saving.register_keras_serializable(package="tfatoms")
class SchNet(AtomwisePropertyModel):
    """SchNet energy (or property) model on an atomistic batch dict (thesis Fig. 4.2).

    Args:
        n_features: atom-wise feature size ``F`` (64; 30 for the DTNN-sized
            model of Fig. 4.6).
        n_interactions: number of interaction blocks ``T`` (6).
        n_filters: convolution filters (``F`` if ``None``; 60 for Fig. 4.6).
        rbf_cutoff: largest radial basis centre, Angstrom. The thesis uses
            0-30 A; on QM9 (largest distance about 12 A, see
            :mod:`tfatoms.data.qm9`) a basis ending above it gives the same
            model, since centres further out are zero for every pair.
        rbf_spacing, gamma: radial basis spacing (0.1 A) and inverse squared
            width (10 A^-2).
        cutoff: cosine cutoff radius of the filters (schnetpack 2), Angstrom;
            ``None`` (default, original SchNet) uses all pairs given. It is the
            model's :attr:`cutoff`, read by the batch builders and the calculator.
        filter_layers, second_filter_activation: see :class:`CFConv`
            (2 layers, ``"ssp"`` in the original; ``"linear"`` in schnetpack 2).
        aggregation: pooling over the atoms of a structure, ``"sum"`` for
            extensive properties, ``"mean"`` for intensive ones (thesis sec. 4.4.1).
        cfconv_aggregation: pooling of the continuous-filter convolution over
            the neighbours of each atom, ``"sum"`` (default, eq. 4.5) or
            ``"mean"`` (divide by the number of neighbour pairs of ``i``,
            eq. 4.14, for periodic systems); see :class:`CFConv`.
        shared_filters: ``False`` (default, the original SchNet: each
            interaction block has its own filter-generating network) or
            ``True``: all ``T`` blocks use one and the same filter-generating
            network (the ``filter_layers`` Dense layers mapping the radial basis
            to ``W(d)``; thesis sec. 5.2.1, the "shared" rows of Tables 5.1/5.2),
            which saves ``T - 1`` filter networks of parameters; in2f, f2out and
            dense stay per block. The shared variables belong to block 0 and are
            listed once, in block 0's place of the weights order.
        e_mu, e_sigma, element_references: output scaling and per-element
            references of :class:`AtomwiseReadout` (thesis sec. 3.4):
            ``E = sum_i (e_sigma * E_hat_i + e_mu + element_references[Z_i])``,
            so with them the model predicts total energies in eV from the atoms
            alone. ``element_references`` has ``max_z + 1`` entries indexed by
            ``Z`` (eV; ``None`` = zeros), e.g. from
            :func:`tfatoms.models.references.fit_atom_refs`, and
            :func:`tfatoms.models.references.per_atom_scaling` gives
            ``e_mu``, ``e_sigma`` of what is left.
        max_z: largest atomic number (the embedding has rows 0..max_z); a larger one
            raises a ``ValueError`` naming the element (in graph mode, an
            ``InvalidArgumentError`` from an assertion).
        return_atomwise: return ``{keys.ENERGY: (n_structures,), keys.ATOMWISE_ENERGY: (n_atoms,)}``
            (``"energy"``, ``"atomwise_energy"``) instead of the ``(n_structures,)`` tensor.

    Input: an atomistic batch dict (:mod:`tfatoms.keys`); uses
    ``ATOMIC_NUMBERS``, ``POSITIONS``, ``IDX_I``, ``IDX_J`` (and ``OFFSETS``),
    ``STRUCTURE_INDEX``, ``N_ATOMS``.
    Output: ``(n_structures,)`` in the unit of the training targets.
    """

    def __init__(self, n_features: int = 64, n_interactions: int = 6, n_filters: int | None = None,
                 rbf_cutoff: float = 30.0, rbf_spacing: float = 0.1, gamma: float = 10.0,
                 cutoff: float | None = None, filter_layers: int = 2, second_filter_activation: str = "ssp",
                 aggregation: str = "sum", e_mu=0.0, e_sigma=1.0, element_references=None, max_z: int = 100,
                 return_atomwise: bool = False, cfconv_aggregation: str = "sum", shared_filters: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.n_features = positive_int(n_features, "n_features")
        self.n_interactions = positive_int(n_interactions, "n_interactions")
        self.n_filters = self.n_features if n_filters is None else positive_int(n_filters, "n_filters")
        self.cutoff = None if cutoff is None else _positive_float(cutoff, "cutoff")
        if cfconv_aggregation not in ("sum", "mean"):
            raise ValueError(f"cfconv_aggregation must be 'sum' or 'mean', got {cfconv_aggregation!r}")
        if not isinstance(shared_filters, (bool, np.bool_)):
            raise ValueError(f"shared_filters must be True or False, got {shared_filters!r}")
        self.shared_filters = bool(shared_filters)
        self.max_z = positive_int(max_z, "max_z")
        dt = self.dtype_policy
        self.embedding = AtomEmbedding(self.n_features, max_z=max_z, dtype=dt, name="embedding")
        self.rbf = GaussianRBF(cutoff=rbf_cutoff if cutoff is None else min(rbf_cutoff, cutoff),
                               spacing=rbf_spacing, gamma=gamma, dtype=dt, name="rbf")
        interactions = []
        for t in range(self.n_interactions):
            shared = interactions[0].cfconv.filter_network if self.shared_filters and t else None
            interactions.append(
                SchNetInteraction(self.n_features, self.n_filters, cutoff=cutoff, filter_layers=filter_layers,
                                  second_filter_activation=second_filter_activation,
                                  aggregation=cfconv_aggregation, filter_network=shared, dtype=dt,
                                  name=f"interaction_{t}"))
        self.interactions = interactions
        self.output_hidden = keras.layers.Dense(max(1, self.n_features // 2), activation=shifted_softplus,
                                                dtype=dt, name="output_hidden")
        self.output_layer = keras.layers.Dense(1, dtype=dt, name="output")
        self.readout = AtomwiseReadout(aggregation, e_mu=e_mu, e_sigma=e_sigma,
                                       element_references=element_references,
                                       return_atomwise=return_atomwise, dtype=dt, name="readout")
        self._config = dict(n_features=self.n_features, n_interactions=self.n_interactions,
                            n_filters=self.n_filters, rbf_cutoff=rbf_cutoff, rbf_spacing=rbf_spacing, gamma=gamma,
                            cutoff=cutoff, filter_layers=filter_layers,
                            second_filter_activation=second_filter_activation, aggregation=aggregation,
                            max_z=max_z, return_atomwise=bool(return_atomwise),
                            cfconv_aggregation=cfconv_aggregation, shared_filters=self.shared_filters)

    def representation(self, batch):
        """Atom-wise features ``x^T`` (n_atoms, F) after the last interaction block."""
        _, d = pair_vectors(batch)
        idx_i, idx_j = batch[keys.IDX_I], batch[keys.IDX_J]
        d, inverse = couple_distances(batch, d)     # d_ij = d_ji: filters once per couple, gathered to all
        tabulated = all(block.cfconv.filter_table is not None for block in self.interactions)
        rbf = None if tabulated else self.rbf(d)
        x = self.embedding(checked_atomic_numbers(batch[keys.ATOMIC_NUMBERS], self.max_z, type(self).__name__))
        for block in self.interactions:
            x = block(x, rbf, d, idx_i, idx_j, filter_index=inverse)
        return x

    def with_tabulated_filters(self, spacing: float = DEFAULT_SPACING) -> "SchNet":
        """A prediction-only copy whose filter-generating networks are cubic splines in the distance
        (:mod:`tfatoms.layers.filter_table`, grid ``spacing`` A): the same energies and forces to float32
        round-off at the default spacing, without the filter networks' dense layers and softplus per pair.

        The copy has this model's config and weights, no trainable weights (the tables do not follow weight
        updates: tabulate again after training) and :attr:`filter_tables_spacing` set; it is not meant to be
        saved (save the original)."""
        if not self.built:
            raise ValueError("with_tabulated_filters needs a built model (call it on a batch or load it first)")
        copy = type(self).from_config(self.get_config())
        copy.build_from_config(None)
        copy.set_weights(self.get_weights())
        tables = {}
        for block in copy.interactions:
            key = id(block.cfconv.filter_network[0])       # shared filter networks share one table
            if key not in tables:
                tables[key] = filter_table(block.cfconv, copy.rbf, spacing)
            block.cfconv.filter_table = tables[key]
        copy.trainable = False
        copy.filter_tables_spacing = float(spacing)
        if getattr(self, "elements", None) is not None:      # a loaded model's trained elements (calculator check)
            copy.elements = list(self.elements)
        return copy
