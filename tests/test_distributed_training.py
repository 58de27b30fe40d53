"""Data-parallel training through tf.distribute (tfatoms.train.distribute, BatchTrainer(strategy=...)).

The main test starts two worker processes on localhost under MultiWorkerMirroredStrategy: their loss at every
step equals one process' with the same global batch to float32 round-off, also across a worker killed in the
middle of an epoch and the run started again (it resumes from the chief's last checkpoint, which is written
once). Measured on 2 cores: the largest relative difference of the 12 losses is about 2e-7.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from test_energy_force_training import BUCKETS, as_batches, emt_clusters, small_schnet
from tfatoms.train import EnergyForceLoss, EnergyLoss
from tfatoms.train.distribute import describe, is_chief, local_tf_config, shard, strategy_from_environment
from tfatoms.train.trainer import BatchTrainer, budget_learning_rate

WORKER = Path(__file__).with_name("distributed_worker.py")
MAX_STEPS, N_TRAIN = 12, 17


def training_sets():
    """17 training clusters (global batches of 8, 8, 1) and 8 validation clusters, EMT energies and forces."""
    clusters = emt_clusters(N_TRAIN + 8)
    return as_batches(clusters[:N_TRAIN], **BUCKETS), as_batches(clusters[N_TRAIN:], **BUCKETS)


def make_trainer(strategy=None, jit_compile=False):
    keras.utils.set_random_seed(0)
    clusters = emt_clusters(N_TRAIN + 8)
    return BatchTrainer(small_schnet(clusters[:N_TRAIN]), learning_rate=budget_learning_rate(5e-3, 2e-4, MAX_STEPS),
                        loss=EnergyForceLoss(rho=0.01), strategy=strategy, jit_compile=jit_compile)


def recorded_fit(trainer, ckpt):
    losses, step = [], trainer._train_step
    trainer._train_step = lambda *a: losses.append(float(step(*a))) or losses[-1]
    train, val = training_sets()
    return trainer.fit(train, val, ckpt, max_steps=MAX_STEPS, progress=False), losses


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: one process, no strategy, the same global batches."""
    trainer = make_trainer()
    result, losses = recorded_fit(trainer, tmp_path_factory.mktemp("single") / "ck")
    return result, losses, float(sum(abs(w).sum() for w in trainer.model.get_weights()))


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start_workers(ckpt, out, die_after=None):
    ports = _free_ports(2)
    procs = []
    for k in range(2):
        env = {**os.environ, "TF_CONFIG": local_tf_config(ports, k), "TF_CPP_MIN_LOG_LEVEL": "2"}
        cmd = [sys.executable, str(WORKER), "--mode", "multi-worker", "--index", str(k), "--ckpt", str(ckpt),
               "--out", str(out / f"worker{k}.json")]
        if die_after is not None and k == 1:
            cmd += ["--die-after", str(die_after)]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return procs


def _finish(procs, timeout=240):
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise AssertionError("a worker did not finish within the timeout") from None
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]


def test_two_workers_match_one_process_through_a_kill_and_resume(one_process, tmp_path):
    ref_result, ref_losses, ref_weights = one_process
    ckpt, first, second = tmp_path / "ck", tmp_path / "run1", tmp_path / "run2"
    first.mkdir()
    second.mkdir()
    # run 1: worker 1 dies after its 5th step (epoch 2 of 4; the checkpoint holds epoch 1); the chief then
    # waits in the next all-reduce and is killed as a scheduler would
    procs = _start_workers(ckpt, first, die_after=5)
    try:
        assert procs[1].wait(timeout=240) == 9, procs[1].communicate()[0][-3000:]
    finally:
        procs[0].kill()
        procs[0].wait()
    assert json.loads((ckpt / "state.json").read_text())["step"] == 3
    killed = json.loads((first / "worker1.json").read_text())
    assert killed["first_step"] == 1 and len(killed["losses"]) == 5
    # run 2: both resume from step 3 and finish
    _finish(_start_workers(ckpt, second))
    chief, other = (json.loads((second / f"worker{k}.json").read_text()) for k in range(2))
    assert chief["chief"] and not other["chief"]
    assert chief["first_step"] == other["first_step"] == 4 and chief["steps"] == other["steps"] == MAX_STEPS
    assert chief["losses"] == other["losses"]                       # one global loss, seen by both
    losses = killed["losses"][:3] + chief["losses"]
    np.testing.assert_allclose(killed["losses"], ref_losses[:5], rtol=2e-6)
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-6)
    np.testing.assert_allclose(chief["best_val_mae"], ref_result.best_val_mae, rtol=1e-5)
    assert chief["best_val_mae"] == other["best_val_mae"]
    np.testing.assert_allclose(chief["weights_sum"], ref_weights, rtol=1e-5)
    # the checkpoint was written once: one history line per epoch, epoch 1 from run 1 and 2-4 from run 2
    epochs = [json.loads(line)["epoch"] for line in (ckpt / "history.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]


@pytest.mark.slow
@pytest.mark.parametrize("jit", [False, True])
def test_mirrored_two_replicas_in_one_process_match_one_process(one_process, tmp_path, jit):
    """MirroredStrategy over two logical CPUs (the several-GPUs-per-machine path), with and without XLA."""
    _, ref_losses, _ = one_process
    cmd = [sys.executable, str(WORKER), "--mode", "mirrored", "--ckpt", str(tmp_path / "ck"),
           "--out", str(tmp_path / "out.json")] + (["--jit"] if jit else [])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    np.testing.assert_allclose(out["losses"], ref_losses, rtol=2e-6)


def test_one_replica_strategy_is_the_one_process_run(one_process, tmp_path):
    """The distributed code path with one replica (this process' CPU) gives the same losses and model."""
    ref_result, ref_losses, ref_weights = one_process
    trainer = make_trainer(tf.distribute.MirroredStrategy(["/cpu:0"]))
    result, losses = recorded_fit(trainer, tmp_path / "ck")
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-6)
    np.testing.assert_allclose(result.best_val_mae, ref_result.best_val_mae, rtol=1e-5)
    np.testing.assert_allclose(sum(abs(w).sum() for w in trainer.model.get_weights()), ref_weights, rtol=1e-5)
    assert trainer.chief and describe(trainer.strategy).startswith("MirroredStrategy, 1 replicas")


def test_model_built_outside_the_scope_is_refused(tmp_path):
    trainer = make_trainer()
    train, val = training_sets()
    trainer.model(next(train.batches())[1])       # built without the strategy
    distributed = BatchTrainer(trainer.model, loss=EnergyForceLoss(), strategy=tf.distribute.MirroredStrategy(["/cpu:0"]))
    with pytest.raises(ValueError, match=r"created outside the strategy's scope: build the model"):
        distributed.fit(train, val, tmp_path / "ck", max_steps=1, progress=False)
    assert not (tmp_path / "ck" / "state.json").exists()


def test_shards_cover_the_global_batch_in_order():
    sel = np.array([5, 3, 9, 1, 7])
    parts = [shard(sel, r, 2) for r in range(2)]
    assert [p.tolist() for p in parts] == [[5, 3, 9], [1, 7]]
    assert [len(shard(sel[:1], r, 3)) for r in range(3)] == [1, 0, 0]
    np.testing.assert_array_equal(np.concatenate([shard(sel, r, 4) for r in range(4)]), sel)


def test_padding_only_shard_has_zero_loss_and_gradient():
    """An empty shard (weights all 0) adds nothing: loss 0 and gradient 0, not NaN."""
    train, _ = training_sets()
    _, batch, targets, weights = next(train.batches())
    zero = tf.nest.map_structure(np.zeros_like, weights)
    model = make_trainer().potential
    with tf.GradientTape() as tape:
        loss = EnergyForceLoss(rho=0.01)(targets, model(batch, training=True), zero, batch)
    grads = tape.gradient(loss, model.trainable_variables)
    assert float(loss) == 0.0 and all(np.all(tf.convert_to_tensor(g).numpy() == 0) for g in grads if g is not None)
    e = EnergyLoss()(np.ones(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32))
    assert float(e) == 0.0


def test_strategy_from_environment_errors(monkeypatch):
    with pytest.raises(ValueError, match="strategy must be one of"):
        strategy_from_environment("horovod")
    assert strategy_from_environment("none") is None and is_chief(None)
    for var in ("TF_CONFIG", "SLURM_JOB_ID", "SLURM_PROCID"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        strategy_from_environment("multi-worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not JSON"):
        strategy_from_environment("multi-worker")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"ps": ["localhost:1"]}, "task": {}}))
    with pytest.raises(ValueError, match="no 'worker' or 'chief'"):
        strategy_from_environment("multi-worker")
    assert json.loads(local_tf_config([1, 2], 1)) == {"cluster": {"worker": ["localhost:1", "localhost:2"]},
                                                      "task": {"type": "worker", "index": 1}}


def test_slurm_step_of_cpu_nodes_gives_one_worker_per_task(monkeypatch):
    """Inside `srun -N 2 --ntasks-per-node 2` on CPU nodes: four workers, ports from the base up on each node."""
    from tfatoms.train.distribute import slurm_resolver

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")            # no nvidia-smi
    env = {"SLURM_JOB_ID": "7", "SLURM_PROCID": "3", "SLURM_STEP_NUM_TASKS": "4",
           "SLURM_STEP_NODELIST": "cn[01-02]", "SLURM_STEP_TASKS_PER_NODE": "2(x2)", "TFATOMS_PORT_BASE": "9100"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    resolver = slurm_resolver()
    assert resolver.cluster_spec().as_dict() == {"worker": ["cn01:9100", "cn01:9101", "cn02:9100", "cn02:9101"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 3)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def _srun_command(script: Path) -> list[str]:
    """The switches the Slurm example gives reproductions/schnet_qm9.py."""
    text = script.read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("srun"))
    words = line.split("schnet_qm9.py", 1)[1].split()
    return [w for w in words if "$" not in w and "${" not in w and not w.startswith('"')]


def test_slurm_example_switches_parse():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reproductions"))
    import schnet_qm9

    args = _srun_command(Path(__file__).resolve().parents[1] / "mpi" / "slurm_train.sh")
    assert "--strategy" in args
    _, parsed = schnet_qm9.parse_args([a for a in args if a not in ("--cache-dir", "--tag")])
    assert parsed.strategy == "multi-worker" and parsed.full and parsed.n_train == [110000]


@pytest.mark.slow
def test_schnet_qm9_two_workers_equal_one_process(qm9_cache_dir, tmp_path):
    """The main job, `schnet_qm9.py --quick --strategy multi-worker` on two local workers: the chief's test MAE
    equals one process' to float32 round-off (measured: 22.226035 vs 22.226039 kcal/mol after 40 steps), and
    the other worker's results go to a temporary directory. About 90 s on 2 cores."""
    from tfatoms.data.qm9 import load_qm9

    load_qm9(cache_dir=qm9_cache_dir, progress=False)          # parsed once, before the workers read it
    script = Path(__file__).resolve().parents[1] / "reproductions" / "schnet_qm9.py"
    common = ["--quick", "--no-jit", "--n-train", "600", "--max-steps", "40"]
    maes = {}
    for name, n in (("dist", 2), ("single", 1)):
        cache = tmp_path / f"cache_{name}"
        cache.mkdir()
        for entry in Path(qm9_cache_dir).iterdir():             # the parsed QM9, without anyone's checkpoints
            if entry.name != "runs":
                (cache / entry.name).symlink_to(entry)
        ports = _free_ports(n)
        procs = []
        for k in range(n):
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
            extra = []
            if n > 1:
                env["TF_CONFIG"] = local_tf_config(ports, k)
                extra = ["--strategy", "multi-worker"]
            procs.append(subprocess.Popen([sys.executable, str(script), *common, *extra, "--cache-dir", str(cache),
                                           "--out", str(tmp_path / name)], env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
        _finish(procs, timeout=400)
        maes[name] = json.loads((tmp_path / name / "schnet_qm9_quick" / "metrics.json").read_text())["mae.U0.n600"]
    assert len(list((tmp_path / "dist").iterdir())) == 1      # the chief's results only
    np.testing.assert_allclose(maes["dist"], maes["single"], rtol=1e-5)


def test_the_scripts_offer_the_strategies_there_are():
    from tfatoms.reproduce import cli
    from tfatoms.train import distribute

    assert cli.STRATEGIES == distribute.STRATEGIES
