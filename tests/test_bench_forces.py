"""bench/bench_schnet_forces.py: tfatoms SchNet weights exported under schnetpack 2's parameter names.

The benchmark loads these into schnetpack's SchNet and compares both frameworks' loss and gradients on the
same batch (against schnetpack itself, when its venv is there); this checks the export without torch:
every trainable weight lands on exactly one of schnetpack 2.1.1's parameters, in torch's (out, in) layout.
"""
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield load_script("bench/bench_schnet_forces.py")
    finally:
        sys.path.remove(str(BENCH))


def _model(**options):
    from tfatoms.models import SchNet
    from tfatoms.representations.padded import MoleculeBatches

    model = SchNet(n_features=8, n_interactions=2, rbf_cutoff=1.0, **options)      # 11 RBF centres
    data = MoleculeBatches([8, 1, 1], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], [0, 3], batch_size=1)
    model(next(data.batches())[1])
    return model


def schnetpack_shapes(f: int, t: int, n_rbf: int) -> dict:
    """schnetpack 2.1.1 ``SchNet`` + ``Atomwise`` parameters (``named_parameters`` of NeuralNetworkPotential)."""
    shapes = {"representation.embedding.weight": (100, f)}
    for k in range(t):
        p = f"representation.interactions.{k}."
        shapes.update({p + "in2f.weight": (f, f), p + "f2out.0.weight": (f, f), p + "f2out.0.bias": (f,),
                       p + "f2out.1.weight": (f, f), p + "f2out.1.bias": (f,),
                       p + "filter_network.0.weight": (f, n_rbf), p + "filter_network.0.bias": (f,),
                       p + "filter_network.1.weight": (f, f), p + "filter_network.1.bias": (f,)})
    shapes.update({"output_modules.0.outnet.0.weight": (f // 2, f), "output_modules.0.outnet.0.bias": (f // 2,),
                   "output_modules.0.outnet.1.weight": (1, f // 2), "output_modules.0.outnet.1.bias": (1,)})
    return shapes


def test_export_covers_schnetpack_parameters_in_torch_layout(bench):
    model = _model(cutoff=1.0, second_filter_activation="linear", max_z=99)
    state = bench.schnetpack_state(model)
    assert {k: v.shape for k, v in state.items()} == schnetpack_shapes(8, 2, 11)
    block = model.interactions[1]
    np.testing.assert_array_equal(state["representation.interactions.1.filter_network.0.weight"],
                                  block.cfconv.filter_network[0].kernel.numpy().T)
    np.testing.assert_array_equal(state["representation.interactions.1.f2out.1.bias"], block.dense.bias.numpy())
    np.testing.assert_array_equal(state["representation.embedding.weight"], model.embedding.weights[0].numpy())
    # gradients (one array per trainable weight) go through the same mapping
    grads = [np.full(v.shape, float(k)) for k, v in enumerate(model.trainable_weights)]
    assert {k: v.shape for k, v in bench.schnetpack_state(model, grads).items()} == schnetpack_shapes(8, 2, 11)


def test_weights_without_counterpart_are_refused(bench):
    with pytest.raises(KeyError, match="filter_2"):
        bench.schnetpack_state(_model(filter_layers=3))
    assert bench.schnetpack_key("rbf/centres") is None


def test_compare_flags_a_gradient_mismatch(bench):
    ours = {"energy": np.array([1.0, 2.0]), "forces": np.ones((3, 3)), "loss": 0.5,
            "grads": {"a": np.array([1.0, -2.0]), "b": np.array([3.0])}}
    theirs = {"energy": np.array([1.0, 2.0]), "forces": np.ones((3, 3)), "loss": 0.5,
              "grad/a": np.array([1.0, -2.0]), "grad/b": np.array([3.0])}
    assert bench.compare(ours, theirs)["passed"]
    theirs["grad/b"] = np.array([3.1])
    result = bench.compare(ours, theirs)
    assert not result["passed"] and result["grad_worst_parameter"] == "b"
