"""The local force DNN of Kuritz, Gordon and Natan: forces directly from the N nearest neighbours.

Paper sec. 2 ("Network architecture"): for each atom the N nearest neighbours (N = 12 in
most runs), sorted by distance, each described by ``(Z_n, d_n, 1/d_n)``
(:func:`tfatoms.representations.environments.environment_features`, an ``(N, 5)`` block
per atom), feed "a fully connected neural network with two hidden layers. The first hidden
layer has L nodes and the second hidden layer has L/3 nodes" with CReLU activations
(:class:`tfatoms.layers.CReLU`), and "the output corresponds to the 3 Cartesian forces".
L is about 250 for Al and Na and about 3,800 for Si; Adam at 1e-4 with mini-batches of 100.
Fig. 8 varies the number of hidden layers: the first has L units, every further one L/3.

What the paper leaves open, and what is chosen here:

* CReLU doubles the features, so a hidden layer of L nodes is a Dense of L units followed by
  CReLU (2L outputs), as in the paper's Fig. 1 where the node count is that of the Dense layer.
* The inputs are standardised per feature with the training set's mean and standard deviation
  (:meth:`LocalForceDNN.adapt`; a constant feature such as ``Z_n`` of a one-element set gets
  std 1), and the output is ``force_scale`` times the last Dense, with ``force_scale`` the
  standard deviation of the training forces: a fixed affine map on both ends that changes
  nothing the network can represent but lets Adam at 1e-4 start at the right scale.
* The prediction is not a gradient field and not rotation-equivariant: the input holds
  Cartesian vectors, so a rotated structure gives other inputs and, in general, forces that are
  not the rotated ones (the paper's choice; ``tests/test_local_force.py`` states it). Rotation
  augmentation of the training data is an option of the training code, beyond the paper.

Input: ``(n_atoms, N, 5)`` float; output: ``(n_atoms, 3)`` forces in eV/A.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfatoms.layers.activations import CReLU
from tfatoms.representations.environments import N_FEATURES

#: L of the paper: about 250 for Al and Na, about 3,800 for Si.
PAPER_WIDTH = {"Al": 250, "Na": 250, "Si": 3800}


@keras.saving.register_keras_serializable(package="tfatoms")
class LocalForceDNN(keras.Model):
    """Per-atom forces from the N nearest neighbours (Kuritz et al., sec. 2, Fig. 1).

    Args:
        n_neighbors: N, neighbours per atom (12 in the paper's Table 1).
        width: L, units of the first hidden layer (paper: ~250 Al/Na, ~3,800 Si).
        depth: hidden layers (2 in the paper): the first of L units, each further one of L // 3.
        feature_mean, feature_std: ``N * 5`` numbers standardising the flattened input (``adapt``
            sets them; ``None``: 0 and 1).
        force_scale: eV/A, the output multiplier (``adapt``: std of the training forces; default 1).
        elements: atomic numbers the model was trained on (``adapt`` records them); the calculator
            refuses others.
    """

    def __init__(self, n_neighbors: int = 12, width: int = 250, depth: int = 2, feature_mean=None,
                 feature_std=None, force_scale: float = 1.0, elements=None, **kwargs):
        super().__init__(**kwargs)
        self.n_neighbors = int(n_neighbors)
        self.width = int(width)
        self.depth = int(depth)
        if self.n_neighbors < 1 or self.width < 3 or self.depth < 1:
            raise ValueError(f"LocalForceDNN needs n_neighbors >= 1, width >= 3 and depth >= 1, got "
                             f"{n_neighbors}, {width}, {depth}")
        n_in = self.n_neighbors * N_FEATURES
        self.feature_mean = np.zeros(n_in) if feature_mean is None else np.asarray(feature_mean, np.float64)
        self.feature_std = np.ones(n_in) if feature_std is None else np.asarray(feature_std, np.float64)
        if self.feature_mean.shape != (n_in,) or self.feature_std.shape != (n_in,) or np.any(self.feature_std <= 0):
            raise ValueError(f"feature_mean and feature_std must hold {n_in} numbers (std > 0)")
        self.force_scale = float(force_scale)
        self.elements = None if elements is None else [int(z) for z in elements]
        widths = [self.width] + [self.width // 3] * (self.depth - 1)
        self.hidden = [keras.layers.Dense(w, name=f"hidden_{k}") for k, w in enumerate(widths)]
        self.activations = [CReLU(name=f"crelu_{k}") for k in range(len(widths))]
        self.output_layer = keras.layers.Dense(3, name="forces")

    @property
    def hidden_widths(self) -> list[int]:
        return [layer.units for layer in self.hidden]

    def adapt(self, features, forces, numbers=None) -> "LocalForceDNN":
        """Set the input standardisation and ``force_scale`` from training features ``(n, N, 5)`` and forces
        ``(n, 3)``; ``numbers``: the training atoms' atomic numbers (recorded as ``elements``)."""
        x = np.asarray(features, np.float64).reshape(len(features), -1)
        if x.shape[1] != self.n_neighbors * N_FEATURES:
            raise ValueError(f"features have {x.shape[1] // N_FEATURES} neighbours, the model takes "
                             f"{self.n_neighbors}")
        std = x.std(axis=0)
        self.feature_mean = x.mean(axis=0)
        self.feature_std = np.where(std > 1e-12, std, 1.0)
        self.force_scale = float(np.std(np.asarray(forces, np.float64)))
        if numbers is not None:
            self.elements = sorted({int(z) for z in np.asarray(numbers).ravel()})
        return self

    def call(self, features, training=False):
        x = tf.convert_to_tensor(features)
        x = tf.reshape(tf.cast(x, self.compute_dtype), [-1, self.n_neighbors * N_FEATURES])
        x = (x - tf.constant(self.feature_mean, self.compute_dtype)) / tf.constant(self.feature_std,
                                                                                     self.compute_dtype)
        for dense, act in zip(self.hidden, self.activations):
            x = act(dense(x))
        return self.force_scale * self.output_layer(x)

    def build_from_config(self, config):
        if not self.built:
            self(np.ones((1, self.n_neighbors, N_FEATURES), "float32"))

    def get_config(self):
        config = super().get_config()
        config.update(n_neighbors=self.n_neighbors, width=self.width, depth=self.depth,
                      feature_mean=self.feature_mean.tolist(), feature_std=self.feature_std.tolist(),
                      force_scale=self.force_scale, elements=self.elements)
        return config
