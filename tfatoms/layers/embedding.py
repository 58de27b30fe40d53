"""Embedding of atom types (Schütt, PhD thesis 2018, eq. 3.1)::

    x_i^(0) = A[Z_i, :]

the ``Z_i``-th row of a trainable lookup table ``A``. Shared by DTNN and
SchNet; the rows are learned "dressed atoms" that allow generalisation across
elements.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from tfatoms._validation import positive_int


@keras.saving.register_keras_serializable(package="tfatoms")
class AtomEmbedding(keras.layers.Layer):
    """Initial atom representation: row ``Z`` of a trainable table (thesis eq. 3.1).

    Args:
        n_features: embedding size ``F``.
        max_z: largest atomic number accepted; the table has ``max_z + 1``
            rows (row 0 is never used by real atoms).
        embeddings_initializer: initializer of the table; the default (``None``),
            a standard normal N(0, 1), is that of ``torch.nn.Embedding`` used by the
            reference SchNet implementation.

    Input: atomic numbers ``Z``, integer, shape ``(n_atoms,)`` (any shape works).
    Output: ``(n_atoms, n_features)`` in the layer's compute dtype.

    Atomic numbers outside ``0..max_z`` raise an error on CPU (on GPU
    ``tf.gather`` returns zeros instead); validate inputs upstream.
    """

    def __init__(self, n_features: int, max_z: int = 100, embeddings_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.n_features = positive_int(n_features, "n_features")
        self.max_z = positive_int(max_z, "max_z")
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.RandomNormal(mean=0.0, stddev=1.0)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.max_z + 1, self.n_features),
            initializer=self.embeddings_initializer, trainable=True)

    def call(self, inputs):
        z = tf.convert_to_tensor(inputs)
        if z.dtype not in (tf.int32, tf.int64):
            z = tf.cast(z, tf.int32)
        return tf.gather(tf.cast(self.embeddings, self.compute_dtype), z)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.n_features,)

    def get_config(self):
        config = super().get_config()
        config.update(n_features=self.n_features, max_z=self.max_z,
                      embeddings_initializer=keras.initializers.serialize(self.embeddings_initializer))
        return config
