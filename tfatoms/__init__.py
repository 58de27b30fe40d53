"""tfatoms: deep learning for atomistic systems in TensorFlow/Keras.

Sub-packages follow the data flow of DESIGN.md, each arrow one way::

    data -> representations -> layers -> models -> train / inference -> reproductions

Units inside the package are Angstrom, eV and eV/Angstrom.
"""
__version__ = "0.1.0"
