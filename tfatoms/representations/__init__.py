"""Featurizers: Gaussian images of atoms, periodic neighbour lists, atomistic batches."""
from tfatoms.representations.gaussian_image import gaussian_image, rasterize_window
from tfatoms.representations.neighbors import neighbor_list, neighbor_pairs
from tfatoms.representations.batch import build_batch
from tfatoms.representations.padded import MoleculeBatches, StructureBatches

__all__ = ["gaussian_image", "rasterize_window", "neighbor_list", "neighbor_pairs", "build_batch",
           "StructureBatches", "MoleculeBatches"]
