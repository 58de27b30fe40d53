"""Names of the fields of an atomistic batch: one place, used everywhere.

An atomistic batch is a ``dict`` of tensors for ``n_structures`` structures
holding ``n_atoms`` atoms and ``n_pairs`` directed neighbour pairs in total:

=====================  =======================  =========  ==========================================
key                    shape                    dtype      meaning
=====================  =======================  =========  ==========================================
``ATOMIC_NUMBERS``     (n_atoms,)               int32      nuclear charge Z of each atom
``POSITIONS``          (n_atoms, 3)             float      Cartesian positions, Angstrom
``CELL``               (n_structures, 3, 3)     float      lattice vectors as rows, Angstrom
``PBC``                (n_structures, 3)        bool       periodic along each cell vector
``STRUCTURE_INDEX``    (n_atoms,)               int32      structure each atom belongs to
``N_ATOMS``            (n_structures,)          int32      atoms per structure
``IDX_I``              (n_pairs,)               int32      centre atom of each pair (global index)
``IDX_J``              (n_pairs,)               int32      neighbour atom of each pair (global index)
``CELL_SHIFTS``        (n_pairs, 3)             int32      integer cell shift S of the image of j
``OFFSETS``            (n_pairs, 3)             float      Cartesian shift of the image of j, Angstrom
``PAIR_HALF``          (n_half,)                int32      optional: one pair of each couple (i, j, S) /
                                                           (j, i, -S), whose distance-only terms (filters)
                                                           are computed once for both
``PAIR_INVERSE``       (n_pairs,)               int32      optional: each pair's entry in ``PAIR_HALF``
=====================  =======================  =========  ==========================================

``PAIR_HALF``/``PAIR_INVERSE`` (the batches tfatoms builds carry them): ``d_ij = d_ji`` exactly, so
SchNet evaluates its filter-generating networks on ``PAIR_HALF``'s pairs only and gathers the
filters back to all pairs (half the filter work, the same values); without them every pair's
filter is computed.

The pair vector is ``r_ij = positions[j] - positions[i] + S_ij @ cell`` with the cell of
the pair's structure: the batches tfatoms builds (:mod:`tfatoms.representations.padded`,
:func:`~tfatoms.representations.build_batch`, the ASE calculator) carry ``CELL_SHIFTS``
and the model computes the Cartesian offsets from the cell
(:func:`tfatoms.models.geometry.pair_vectors`), so forces, stress and variable-cell runs by
autodiff are exact under periodic boundaries. A batch written by hand may carry Cartesian
``OFFSETS`` instead (``r_ij = positions[j] - positions[i] + offsets``); a batch with both is
refused. Without either, pairs have no offset (molecules).

Outputs of models and labels of datasets:

=====================  =======================  ===================================================
key                    shape                    meaning
=====================  =======================  ===================================================
``ENERGY``             (n_structures,)          energy (or the model's pooled property), eV
``ATOMWISE_ENERGY``    (n_atoms,)               contributions ``E_i``, eV; ``ENERGY`` is their sum
``FORCES``             (n_atoms, 3)             ``-dE/dr``, eV/Angstrom
``STRESS``             (n_structures, 3, 3)     ``(1/V) dE/d eps``, eV/Angstrom^3
=====================  =======================  ===================================================
"""
ATOMIC_NUMBERS = "atomic_numbers"
POSITIONS = "positions"
CELL = "cell"
PBC = "pbc"
STRUCTURE_INDEX = "structure_index"
N_ATOMS = "n_atoms"
IDX_I = "idx_i"
IDX_J = "idx_j"
OFFSETS = "offsets"
CELL_SHIFTS = "cell_shifts"
PAIR_HALF = "pair_half"
PAIR_INVERSE = "pair_inverse"

# Outputs of models / labels of datasets.
ENERGY = "energy"
FORCES = "forces"
STRESS = "stress"
ATOMWISE_ENERGY = "atomwise_energy"  # per-atom contributions E_i (thesis eq. 3.8); ENERGY = sum_i E_i
