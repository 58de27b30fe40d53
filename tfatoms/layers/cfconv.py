"""Continuous-filter convolution and the SchNet interaction block.

Continuous-filter convolution (Schütt, PhD thesis 2018, eq. 4.5)::

    x_i^(l+1) = sum_{pairs (i, j)} x_j^l o W(d_ij)

where ``o`` is the element-wise product and the filter ``W`` is generated from
the radial basis expansion ``d_hat_ij`` of the distance (eq. 3.4) by a
filter-generating network (Fig. 4.2, right): two dense layers of
``n_filters`` units, both with shifted softplus (eq. 4.8) in the original
SchNet. The sum runs over the neighbour pairs of the batch, so periodic images
appear as separate pairs with their own distance, which sums the filter over
images as in eq. 4.14; ``aggregation="mean"`` divides by the number of
neighbours of ``i`` as eq. 4.14 prescribes for periodic systems.

Options of later implementations (schnetpack 2): a cosine cutoff multiplying
the filter (``cutoff=rc``), so the energy is smooth when atoms cross the
cutoff sphere, and a linear last filter layer
(``second_filter_activation="linear"``).

Shared filters (thesis sec. 5.2.1, Tables 5.1/5.2): a :class:`CFConv` (or
:class:`SchNetInteraction`) given ``filter_network=`` another one's
``filter_network`` uses that very filter-generating network (the same Dense
layers and variables) instead of creating its own; :class:`~tfatoms.models.SchNet`
with ``shared_filters=True`` shares one across all its interaction blocks.

SchNet interaction block (Fig. 4.2, middle; residual eq. 4.7)::

    v_i = Dense(F)(ssp(Dense(F)(cfconv(Dense(n_filters, no bias)(x))_i)))
    x_i^(t+1) = x_i^(t) + v_i
"""
from __future__ import annotations

import keras
import tensorflow as tf

from tfatoms._validation import positive_int
from tfatoms.layers.activations import shifted_softplus
from tfatoms.layers.radial import CosineCutoff, _positive_float

_ACTIVATIONS = {"ssp": shifted_softplus, "linear": None}


def _check_indices_rank(idx_i, idx_j):
    if idx_i.shape.rank not in (None, 1) or idx_j.shape.rank not in (None, 1):
        raise ValueError(f"idx_i and idx_j must be 1-D, got shapes {idx_i.shape} and {idx_j.shape}")


def aggregate_pairs(messages, idx_i, n_atoms, aggregation="sum"):
    """Sum (or average) pair messages ``(n_pairs, F)`` onto their centre atoms.

    Returns ``(n_atoms, F)``; atoms without pairs get 0. With
    ``aggregation="mean"`` the sum is divided by the number of pairs of ``i``.
    """
    out = tf.math.unsorted_segment_sum(messages, idx_i, n_atoms)
    if aggregation == "mean":
        ones = tf.ones(tf.shape(idx_i), dtype=messages.dtype)
        count = tf.math.unsorted_segment_sum(ones, idx_i, n_atoms)
        out = out / tf.maximum(count, tf.ones([], messages.dtype))[:, tf.newaxis]
    return out


@keras.saving.register_keras_serializable(package="tfatoms")
class CFConv(keras.layers.Layer):
    """Continuous-filter convolution (thesis eq. 4.5) with a filter-generating network.

    Args:
        n_filters: number of filters ``F_f``, equal to the feature size of ``x``.
        cutoff: if set (Angstrom), the filter is multiplied by
            ``CosineCutoff(cutoff)(d_ij)`` (schnetpack 2); ``None`` (original
            SchNet) uses the filter as is.
        filter_layers: number of dense layers of the filter-generating
            network, all ``n_filters`` wide (2 in SchNet).
        second_filter_activation: activation of the last filter layer,
            ``"ssp"`` (original SchNet) or ``"linear"`` (schnetpack 2); the
            layers before it use shifted softplus.
        aggregation: ``"sum"`` (eq. 4.5) or ``"mean"`` over the neighbours of
            ``i`` (eq. 4.14, periodic systems).
        filter_network: ``None`` (default) creates this layer's own
            filter-generating network; another CFConv's ``filter_network``
            (a list of ``filter_layers`` Dense layers of ``n_filters`` units
            with the activations above) shares it: both layers then compute
            their filters with the same variables (thesis sec. 5.2.1, "shared"
            rows of Tables 5.1/5.2). It is not part of :meth:`get_config` (not
            serializable on its own): the owner that shares it, e.g.
            :class:`~tfatoms.models.SchNet` with ``shared_filters=True``,
            recreates the sharing from its own config.

    Call arguments:
        x: ``(n_atoms, n_filters)`` float, atom features ``x_j``.
        rbf: ``(n_pairs, n_rbf)`` float, radial basis of the pair distances.
        distances: ``(n_pairs,)`` float, Angstrom; only used with ``cutoff``
            (may be ``None`` otherwise).
        idx_i: ``(n_pairs,)`` int, centre atom of each pair (receives the message).
        idx_j: ``(n_pairs,)`` int, neighbour atom of each pair.
        filter_index: ``None`` (``rbf`` and ``distances`` are those of every pair), or ``(n_pairs,)`` int:
            ``rbf`` and ``distances`` are those of fewer pairs (one per couple (i, j) / (j, i), whose
            distances are equal: the batch's ``PAIR_HALF``) and pair ``k`` takes filter ``filter_index[k]``
            (``PAIR_INVERSE``). The same filters, at half the cost of the filter-generating network.

    Returns:
        ``(n_atoms, n_filters)``; atoms without neighbours get 0.

    Weights (``get_weights`` order): for each filter layer ``k``, kernel
    ``(n_in, n_filters)`` then bias ``(n_filters,)``, with ``n_in = n_rbf``
    for the first layer. A shared filter network's variables are listed once,
    by the first layer that tracks them (its owner's ``weights`` deduplicate).
    """

    def __init__(self, n_filters: int, cutoff: float | None = None, filter_layers: int = 2,
                 second_filter_activation: str = "ssp", aggregation: str = "sum", filter_network=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.n_filters = positive_int(n_filters, "n_filters")
        self.cutoff = None if cutoff is None else _positive_float(cutoff, "cutoff")
        self.filter_layers = positive_int(filter_layers, "filter_layers")
        if second_filter_activation not in _ACTIVATIONS:
            raise ValueError(f"second_filter_activation must be 'ssp' or 'linear', got {second_filter_activation!r}")
        self.second_filter_activation = second_filter_activation
        if aggregation not in ("sum", "mean"):
            raise ValueError(f"aggregation must be 'sum' or 'mean', got {aggregation!r}")
        self.aggregation = aggregation
        if filter_network is None:
            self.filter_network = [
                keras.layers.Dense(
                    self.n_filters,
                    activation=(_ACTIVATIONS[second_filter_activation] if k == self.filter_layers - 1
                                else shifted_softplus),
                    dtype=self.dtype_policy, name=f"filter_{k}")
                for k in range(self.filter_layers)
            ]
        else:
            self.filter_network = self._checked_filter_network(filter_network)
        self.cutoff_fn = None if self.cutoff is None else CosineCutoff(self.cutoff, dtype=self.dtype_policy,
                                                                        name="cutoff_fn")
        #: a :class:`~tfatoms.layers.filter_table.FilterTable` of the filter network, or None (the network itself);
        #: set by :meth:`tfatoms.models.SchNet.with_tabulated_filters` on a prediction-only copy
        self.filter_table = None

    def _checked_filter_network(self, filter_network):
        """``filter_network`` as a list after checking it is the network this layer would create."""
        layers = list(filter_network)
        activations = [shifted_softplus] * (self.filter_layers - 1) + [_ACTIVATIONS[self.second_filter_activation]]
        if len(layers) != self.filter_layers or not all(
                isinstance(dense, keras.layers.Dense) and dense.units == self.n_filters
                and dense.activation is keras.activations.get(act) for dense, act in zip(layers, activations)):
            raise ValueError(f"filter_network must be {self.filter_layers} Dense layers of {self.n_filters} units "
                             f"(last activation {self.second_filter_activation!r}), as CFConv(n_filters="
                             f"{self.n_filters}, filter_layers={self.filter_layers}) creates; got {layers!r}")
        return layers

    def build(self, x_shape, rbf_shape):
        if x_shape[-1] is not None and x_shape[-1] != self.n_filters:
            raise ValueError(f"CFConv expects x with {self.n_filters} features, got shape {tuple(x_shape)}")
        n_in = rbf_shape[-1]
        for dense in self.filter_network:
            if not dense.built:                  # a shared network is built by the first layer that uses it
                dense.build((None, n_in))
            elif n_in is not None and dense.kernel.shape[0] != n_in:
                raise ValueError(f"the shared filter network takes {dense.kernel.shape[0]} inputs, got {n_in}")
            n_in = self.n_filters

    def filters(self, rbf, distances=None):
        """Filter values ``W(d_ij)``, ``(n_pairs, n_filters)`` (cutoff applied if set); with a
        :attr:`filter_table`, from the distances alone (``rbf`` is not used and may be ``None``)."""
        if self.filter_table is not None:
            if distances is None:
                raise ValueError("CFConv with a filter table needs the pair distances")
            w = tf.cast(self.filter_table(distances), self.compute_dtype)
        else:
            w = tf.cast(rbf, self.compute_dtype)
            for dense in self.filter_network:
                w = dense(w)
        if self.cutoff_fn is not None:
            if distances is None:
                raise ValueError("CFConv with a cutoff needs the pair distances")
            w = w * self.cutoff_fn(distances)[:, tf.newaxis]
        return w

    def call(self, x, rbf, distances, idx_i, idx_j, filter_index=None):
        x = tf.cast(x, self.compute_dtype)
        idx_i = tf.convert_to_tensor(idx_i)
        idx_j = tf.convert_to_tensor(idx_j)
        _check_indices_rank(idx_i, idx_j)
        w = self.filters(rbf, distances)
        if filter_index is not None:        # filters of one pair per (i, j) / (j, i) couple, to every pair
            w = tf.gather(w, filter_index)
        messages = tf.gather(x, idx_j) * w
        return aggregate_pairs(messages, idx_i, tf.shape(x)[0], self.aggregation)

    def get_config(self):
        config = super().get_config()
        config.update(n_filters=self.n_filters, cutoff=self.cutoff, filter_layers=self.filter_layers,
                      second_filter_activation=self.second_filter_activation, aggregation=self.aggregation)
        return config


@keras.saving.register_keras_serializable(package="tfatoms")
class SchNetInteraction(keras.layers.Layer):
    """SchNet interaction block with residual update (thesis Fig. 4.2, eq. 4.7).

    ``x + Dense(F)(ssp(Dense(F)(CFConv(Dense(n_filters, use_bias=False)(x)))))``.

    Args:
        n_features: atom feature size ``F`` (64 in SchNet).
        n_filters: number of convolution filters (64 in SchNet).
        cutoff, filter_layers, second_filter_activation, aggregation,
            filter_network: passed to :class:`CFConv` (``filter_network``: another
            block's ``cfconv.filter_network`` to share it, thesis sec. 5.2.1;
            not in :meth:`get_config`).

    Call arguments:
        x: ``(n_atoms, n_features)`` float.
        rbf: ``(n_pairs, n_rbf)`` float.
        distances: ``(n_pairs,)`` float, Angstrom (only used with ``cutoff``).
        idx_i, idx_j: ``(n_pairs,)`` int, global atom indices of each pair.
        filter_index: see :class:`CFConv` (filters of half the pairs gathered to all).

    Returns:
        ``(n_atoms, n_features)``, the refined representation ``x + v``.

    Weights (``get_weights`` order): in2f kernel ``(F, n_filters)``; the
    filter network of :class:`CFConv`; f2out kernel ``(n_filters, F)`` and bias
    ``(F,)``; dense kernel ``(F, F)`` and bias ``(F,)``.
    """

    def __init__(self, n_features: int = 64, n_filters: int = 64, cutoff: float | None = None,
                 filter_layers: int = 2, second_filter_activation: str = "ssp", aggregation: str = "sum",
                 filter_network=None, **kwargs):
        super().__init__(**kwargs)
        self.n_features = positive_int(n_features, "n_features")
        self.n_filters = positive_int(n_filters, "n_filters")
        policy = self.dtype_policy
        self.in2f = keras.layers.Dense(self.n_filters, use_bias=False, dtype=policy, name="in2f")
        self.cfconv = CFConv(self.n_filters, cutoff=cutoff, filter_layers=filter_layers,
                             second_filter_activation=second_filter_activation, aggregation=aggregation,
                             filter_network=filter_network, dtype=policy, name="cfconv")
        self.f2out = keras.layers.Dense(self.n_features, activation=shifted_softplus, dtype=policy, name="f2out")
        self.dense = keras.layers.Dense(self.n_features, dtype=policy, name="dense")

    def build(self, x_shape, rbf_shape):
        if x_shape[-1] is not None and x_shape[-1] != self.n_features:
            raise ValueError(f"SchNetInteraction expects x with {self.n_features} features, got {tuple(x_shape)}")
        self.in2f.build((None, self.n_features))
        self.cfconv.build(x_shape=(None, self.n_filters), rbf_shape=rbf_shape)
        self.f2out.build((None, self.n_filters))
        self.dense.build((None, self.n_features))

    def call(self, x, rbf, distances, idx_i, idx_j, filter_index=None):
        x = tf.cast(x, self.compute_dtype)
        h = self.in2f(x)
        h = self.cfconv(h, rbf, distances, idx_i, idx_j, filter_index=filter_index)
        v = self.dense(self.f2out(h))
        return x + v

    def get_config(self):
        config = super().get_config()
        config.update(n_features=self.n_features, n_filters=self.n_filters, cutoff=self.cfconv.cutoff,
                      filter_layers=self.cfconv.filter_layers,
                      second_filter_activation=self.cfconv.second_filter_activation,
                      aggregation=self.cfconv.aggregation)
        return config
