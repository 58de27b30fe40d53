"""What SchNet, DTNN and Potential output and declare: named outputs (tfatoms.keys), the model's cutoff, the
CFConv neighbour mean (thesis eq. 4.14) through SchNet, and per-element references + scaling inside the readout
(thesis sec. 3.4, App. A.1), so a saved model predicts total energies in eV from the atoms alone."""
import math

import ase
import ase.build
import keras
import numpy as np
import pytest

from tfatoms import keys
from tfatoms.calculators import model_cutoff
from tfatoms.models import DTNN, AtomisticModel, Potential, SchNet
from tfatoms.models.references import composition_matrix, fit_atom_refs, per_atom_scaling, reference_energies
from tfatoms.representations import build_batch

SMALL_SCHNET = dict(n_features=8, n_interactions=2, rbf_cutoff=6.0, rbf_spacing=0.5, gamma=2.0, max_z=10,
                    dtype="float64")
SMALL_DTNN = dict(n_features=6, n_factors=7, n_interactions=2, rbf_cutoff=6.0, rbf_spacing=0.5, max_z=10,
                  dtype="float64")


def molecules():
    water = ase.build.molecule("H2O")
    methanol = ase.build.molecule("CH3OH")
    methanol.rattle(0.05, seed=3)
    return [methanol, water, ase.build.molecule("NH3")]


def crystal():
    cell = np.array([[3.2, 0.0, 0.0], [0.9, 3.0, 0.0], [0.4, 0.6, 3.4]])
    return ase.Atoms(numbers=[6, 8, 1, 6], cell=cell, pbc=True,
                     scaled_positions=[[0, 0, 0], [0.5, 0.4, 0.3], [0.2, 0.7, 0.6], [0.7, 0.1, 0.8]])


def twin(cls, kwargs, **changes):
    """Two models that differ only in ``changes``, with the same weights (a float64 batch builds both)."""
    keras.utils.set_random_seed(11)
    a = cls(**kwargs)
    b = cls(**{**kwargs, **changes})
    batch = build_batch(molecules(), dtype="float64")
    a(batch), b(batch)
    b.set_weights(a.get_weights())
    return a, b, batch


def per_structure_sum(values, batch):
    return np.bincount(batch[keys.STRUCTURE_INDEX], weights=np.asarray(values), minlength=len(batch[keys.N_ATOMS]))


# ----------------------------------------------------------------------------- 1. named outputs
@pytest.mark.parametrize("cls,kwargs", [(SchNet, SMALL_SCHNET), (DTNN, SMALL_DTNN)], ids=["SchNet", "DTNN"])
def test_atomwise_outputs_are_named_by_keys_and_sum_to_the_energy(cls, kwargs):
    plain, atomwise, batch = twin(cls, kwargs, return_atomwise=True, e_mu=-0.3, e_sigma=1.7)
    plain = cls(**{**kwargs, "e_mu": -0.3, "e_sigma": 1.7})
    plain(batch)
    plain.set_weights(atomwise.get_weights())
    out = atomwise(batch)
    assert set(out) == {keys.ENERGY, keys.ATOMWISE_ENERGY}
    assert out[keys.ENERGY].shape == (3,) and out[keys.ATOMWISE_ENERGY].shape == (len(batch[keys.POSITIONS]),)
    np.testing.assert_allclose(out[keys.ENERGY].numpy(), per_structure_sum(out[keys.ATOMWISE_ENERGY], batch),
                               rtol=1e-13)
    np.testing.assert_array_equal(out[keys.ENERGY].numpy(), plain(batch).numpy())


@pytest.mark.parametrize("cls,kwargs", [(SchNet, SMALL_SCHNET), (DTNN, SMALL_DTNN)], ids=["SchNet", "DTNN"])
def test_potential_of_an_atomwise_model(cls, kwargs):
    """Potential(SchNet(return_atomwise=True)): energy = sum of E_i, forces = the plain model's, E_i passed on."""
    plain, atomwise, batch = twin(cls, kwargs, return_atomwise=True)
    ref = Potential(plain)(batch)
    out = Potential(atomwise)(batch)
    assert set(out) == {keys.ENERGY, keys.FORCES, keys.ATOMWISE_ENERGY}
    np.testing.assert_allclose(out[keys.ENERGY].numpy(), per_structure_sum(out[keys.ATOMWISE_ENERGY], batch),
                               rtol=1e-13)
    np.testing.assert_array_equal(out[keys.ENERGY].numpy(), ref[keys.ENERGY].numpy())
    np.testing.assert_array_equal(out[keys.FORCES].numpy(), ref[keys.FORCES].numpy())
    assert np.abs(ref[keys.FORCES].numpy()).max() > 0
    stress = Potential(atomwise, compute_stress=True)(batch)
    np.testing.assert_allclose(stress[keys.FORCES].numpy(), ref[keys.FORCES].numpy(), rtol=1e-12, atol=1e-14)


@keras.saving.register_keras_serializable(package="tfatoms_tests")
class DictModel(AtomisticModel):
    """Returns a dict with chosen keys around a trivial harmonic energy."""

    def __init__(self, names=(keys.ENERGY,), **kwargs):
        kwargs.setdefault("dtype", "float64")
        super().__init__(**kwargs)
        self.names = tuple(names)

    def call(self, batch, training=False):
        import tensorflow as tf
        e = tf.math.unsorted_segment_sum(tf.reduce_sum(tf.square(batch[keys.POSITIONS]), axis=1),
                                         batch[keys.STRUCTURE_INDEX], tf.shape(batch[keys.N_ATOMS])[0])
        return {name: e for name in self.names}


@pytest.mark.filterwarnings("ignore:Layer .* looks like it has unbuilt state")   # Keras, on the refused calls
def test_potential_refuses_dicts_without_energy_or_with_its_own_forces():
    batch = build_batch(molecules(), dtype="float64")
    out = Potential(DictModel())(batch)
    np.testing.assert_allclose(out[keys.FORCES].numpy(), -2.0 * batch[keys.POSITIONS], rtol=1e-14)
    with pytest.raises(ValueError, match="without 'energy'"):
        Potential(DictModel(names=("total",)))(batch)
    with pytest.raises(ValueError, match="forces"):
        Potential(DictModel(names=(keys.ENERGY, keys.FORCES)))(batch)


# ----------------------------------------------------------------------------- 2. the cutoff
def test_every_atomistic_model_exposes_its_cutoff():
    assert AtomisticModel.cutoff is None
    assert SchNet(**SMALL_SCHNET).cutoff is None                       # original SchNet: all pairs
    schnet = SchNet(**{**SMALL_SCHNET, "cutoff": 4})
    assert schnet.cutoff == 4.0 and isinstance(schnet.cutoff, float)
    assert all(block.cfconv.cutoff == 4.0 for block in schnet.interactions)   # the cosine cutoff of the filters
    assert DTNN(**SMALL_DTNN).cutoff is None
    assert Potential(schnet).cutoff == 4.0 and Potential(DTNN(**SMALL_DTNN)).cutoff is None
    assert model_cutoff(Potential(schnet)) == 4.0 and model_cutoff(schnet) == 4.0
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="cutoff"):
            SchNet(**{**SMALL_SCHNET, "cutoff": bad})


def test_cutoff_survives_a_keras_round_trip(tmp_path):
    model = Potential(SchNet(**{**SMALL_SCHNET, "cutoff": 3.5}))
    model(build_batch([crystal()], cutoff=3.5, dtype="float64"))
    model.save(tmp_path / "p.keras")
    loaded = keras.saving.load_model(tmp_path / "p.keras")
    assert loaded.cutoff == 3.5 and loaded.energy_model.cutoff == 3.5


# ----------------------------------------------------------------------------- 3. CFConv neighbour mean
def ssp(x):
    return np.logaddexp(x, 0.0) - math.log(2.0)


def naive_schnet(model, atoms_list, cutoff):
    """Thesis Fig. 4.2 with eq. 4.14 (mean over the neighbour pairs of i), one structure, atom and pair at a time."""
    table = model.embedding.get_weights()[0]
    centres, widths = model.rbf.get_weights()

    def dense(layer, x, act=lambda v: v):
        return act(x @ layer.kernel.numpy() + (layer.bias.numpy() if layer.use_bias else 0.0))

    energies = []
    for atoms in atoms_list:
        b = build_batch([atoms], cutoff=cutoff, dtype="float64")
        pos, z = b[keys.POSITIONS], b[keys.ATOMIC_NUMBERS]
        pairs = [(i, j, np.linalg.norm(pos[j] - pos[i] + off))
                 for i, j, off in zip(b[keys.IDX_I], b[keys.IDX_J], b[keys.CELL_SHIFTS] @ b[keys.CELL][0])]
        x = table[z]
        for block in model.interactions:
            h = dense(block.in2f, x)
            conv = np.zeros_like(h)
            for i in range(len(x)):
                mine = [(j, d) for (ii, j, d) in pairs if ii == i]
                for j, d in mine:
                    w = np.exp(-widths * (d - centres) ** 2)
                    w = dense(block.cfconv.filter_network[1], dense(block.cfconv.filter_network[0], w, ssp), ssp)
                    if cutoff is not None:
                        w = w * 0.5 * (math.cos(math.pi * d / cutoff) + 1.0)
                    conv[i] += h[j] * w
                if mine:
                    conv[i] /= len(mine)
            x = x + dense(block.dense, dense(block.f2out, conv, ssp))
        e_hat = dense(model.output_layer, dense(model.output_hidden, x, ssp))[:, 0]
        energies.append(np.sum(model.readout.e_sigma * e_hat + model.readout.e_mu))
    return np.array(energies)


@pytest.mark.parametrize("cutoff", [None, 3.0], ids=["molecules", "periodic+cutoff"])
def test_schnet_passes_the_cfconv_neighbour_mean_through(cutoff):
    kwargs = {**SMALL_SCHNET, "cutoff": cutoff, "e_mu": 0.2, "e_sigma": 1.3}
    atoms_list = molecules() if cutoff is None else [crystal(), molecules()[0]]
    summed, mean, _ = twin(SchNet, kwargs, cfconv_aggregation="mean")
    assert all(block.cfconv.aggregation == "mean" for block in mean.interactions)
    assert all(block.cfconv.aggregation == "sum" for block in summed.interactions)   # default: eq. 4.5
    batch = build_batch(atoms_list, cutoff=cutoff, dtype="float64")
    got = mean(batch).numpy()
    np.testing.assert_allclose(got, naive_schnet(mean, atoms_list, cutoff), rtol=1e-12, atol=1e-12)
    assert np.abs(got - summed(batch).numpy()).max() > 1e-3               # the option changes the model
    assert mean.get_config()["cfconv_aggregation"] == "mean"
    with pytest.raises(ValueError, match="cfconv_aggregation"):
        SchNet(**SMALL_SCHNET, cfconv_aggregation="max")


# ----------------------------------------------------------------------------- 4. references and scaling
def test_fit_atom_refs_recovers_exact_references():
    rng = np.random.default_rng(5)
    true = np.zeros(101)
    true[[1, 6, 7, 8, 9]] = [-13.6, -1029.8, -1485.3, -2042.6, -2713.5]      # eV, QM9-like magnitudes
    structures = [rng.choice([1, 6, 7, 8, 9], size=rng.integers(2, 20)) for _ in range(60)]
    energies = composition_matrix(structures) @ true
    refs = fit_atom_refs(structures, energies)
    assert refs.shape == (101,) and refs.dtype == np.float64
    np.testing.assert_allclose(refs, true, rtol=1e-12, atol=1e-9)
    assert np.all(refs[np.setdiff1d(np.arange(101), [1, 6, 7, 8, 9])] == 0.0)   # absent elements: exactly 0
    np.testing.assert_allclose(reference_energies(structures, refs), energies, rtol=1e-12)
    # an undetermined fit (one stoichiometry, as in MD17) still reproduces the energies
    ethanol = [np.array([6, 6, 8, 1, 1, 1, 1, 1, 1])] * 5
    e = np.full(5, -4209.0)
    np.testing.assert_allclose(reference_energies(ethanol, fit_atom_refs(ethanol, e, max_z=9)), e, rtol=1e-12)
    assert fit_atom_refs(ethanol, e, max_z=9).shape == (10,)


def test_fit_atom_refs_errors_name_the_structure():
    with pytest.raises(ValueError, match="structure 1: atomic number 12"):
        fit_atom_refs([[1, 1], [12]], [1.0, 2.0], max_z=10)
    with pytest.raises(ValueError, match="one value per structure"):
        fit_atom_refs([[1, 1], [6]], [1.0])
    with pytest.raises(ValueError, match="structure 0: energy"):
        fit_atom_refs([[1, 1], [6]], [np.nan, 1.0])
    with pytest.raises(ValueError, match="structure 1"):
        fit_atom_refs([[1], []], [1.0, 2.0])


def test_per_atom_scaling_is_thesis_sec_3_4():
    structures = [[1, 8, 1], [6, 1, 1, 1, 1], [8, 8]]
    energies = np.array([-2080.0, -1085.0, -4086.0])
    refs = np.zeros(10)
    refs[[1, 6, 8]] = [-13.0, -1030.0, -2040.0]
    mu, sigma = per_atom_scaling(structures, energies, refs)
    per = (energies - np.array([-2066.0, -1082.0, -4080.0])) / np.array([3, 5, 2])
    assert mu == pytest.approx(per.mean(), rel=1e-14)
    assert sigma == pytest.approx(np.sqrt(np.sum((per - per.mean()) ** 2) / 2), rel=1e-14)
    assert per_atom_scaling(structures, energies)[0] == pytest.approx(np.mean(energies / [3, 5, 2]), rel=1e-14)


def qm9_like_refs(max_z=10):
    refs = np.zeros(max_z + 1)
    refs[[1, 6, 7, 8]] = [-13.6, -1029.8, -1485.3, -2042.6]
    return refs


@pytest.mark.parametrize("cls,kwargs", [(SchNet, SMALL_SCHNET), (DTNN, SMALL_DTNN)], ids=["SchNet", "DTNN"])
def test_references_are_added_inside_the_model(cls, kwargs):
    """E = sum_i (e_sigma * y_i + e_mu + ref[Z_i]): the same weights without refs plus the sum of refs."""
    refs = qm9_like_refs()
    plain, with_refs, batch = twin(cls, {**kwargs, "e_mu": -0.4, "e_sigma": 0.8}, element_references=refs)
    expected = plain(batch).numpy() + reference_energies(
        np.split(batch[keys.ATOMIC_NUMBERS], np.cumsum(batch[keys.N_ATOMS])[:-1]), refs)
    np.testing.assert_allclose(with_refs(batch).numpy(), expected, rtol=1e-14)
    # constant references leave the forces alone
    np.testing.assert_allclose(Potential(with_refs)(batch)[keys.FORCES].numpy(),
                               Potential(plain)(batch)[keys.FORCES].numpy(), rtol=1e-12, atol=1e-14)
    # zero output layer: E = n_atoms * e_mu + sum of references, exactly
    with_refs.output_layer.set_weights([np.zeros_like(w) for w in with_refs.output_layer.get_weights()])
    exact = np.array([len(a) * -0.4 + refs[a.numbers].sum() for a in molecules()])
    np.testing.assert_allclose(with_refs(batch).numpy(), exact, rtol=1e-15)


def test_fitted_references_give_total_energies_from_atoms_alone():
    """Fit refs and scaling on synthetic energies, put them in a SchNet: it predicts totals in eV before training."""
    atoms = molecules()
    true = qm9_like_refs()
    numbers = [a.numbers for a in atoms]
    energies = composition_matrix(numbers, 10) @ true + np.array([-0.9, -0.3, -0.5])   # + binding energies
    refs = fit_atom_refs(numbers, energies, max_z=10)
    e_mu, e_sigma = per_atom_scaling(numbers, energies, refs)
    model = SchNet(**{**SMALL_SCHNET, "e_mu": e_mu, "e_sigma": e_sigma}, element_references=refs)
    batch = build_batch(atoms, dtype="float64")
    model(batch)
    model.output_layer.set_weights([np.zeros_like(w) for w in model.output_layer.get_weights()])
    pred = model(batch).numpy()
    np.testing.assert_allclose(pred, energies, atol=0.5)      # the per-atom mean predictor on top of the refs
    np.testing.assert_allclose(pred, reference_energies(numbers, refs) + e_mu * np.array([len(a) for a in atoms]),
                               rtol=1e-14)


@pytest.mark.parametrize("cls,kwargs", [(SchNet, SMALL_SCHNET), (DTNN, SMALL_DTNN)], ids=["SchNet", "DTNN"])
def test_keras_round_trip_keeps_references_scaling_and_options(cls, kwargs, tmp_path):
    extra = dict(element_references=qm9_like_refs(), e_mu=-0.25, e_sigma=1.5, return_atomwise=True)
    if cls is SchNet:
        extra.update(cfconv_aggregation="mean", cutoff=3.0)
    keras.utils.set_random_seed(4)
    model = cls(**kwargs, **extra)
    batch = build_batch(molecules(), cutoff=3.0, dtype="float64")
    before = model(batch)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    config = loaded.get_config()
    np.testing.assert_array_equal(config["element_references"], qm9_like_refs())
    assert (config["e_mu"], config["e_sigma"]) == (-0.25, 1.5)
    after = loaded(batch)
    for key in (keys.ENERGY, keys.ATOMWISE_ENERGY):
        np.testing.assert_array_equal(after[key].numpy(), before[key].numpy())
    if cls is SchNet:
        assert config["cfconv_aggregation"] == "mean" and loaded.cutoff == 3.0


@pytest.mark.parametrize("cls,kwargs", [(SchNet, SMALL_SCHNET), (DTNN, SMALL_DTNN)], ids=["SchNet", "DTNN"])
def test_configs_saved_before_the_new_options_still_load(cls, kwargs):
    """A config without cfconv_aggregation / element_references / return_atomwise gives today's model."""
    keras.utils.set_random_seed(8)
    model = cls(**kwargs)
    batch = build_batch(molecules(), dtype="float64")
    model(batch)
    old = model.get_config()
    for key in ("cfconv_aggregation", "element_references", "return_atomwise"):
        old.pop(key, None)
    rebuilt = cls.from_config(old)
    rebuilt(batch)
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt(batch).numpy(), model(batch).numpy())
    assert rebuilt.readout.element_references is None and rebuilt.cutoff is None
    if cls is SchNet:
        assert all(block.cfconv.aggregation == "sum" for block in rebuilt.interactions)
