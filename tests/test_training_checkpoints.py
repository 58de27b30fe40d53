"""BatchTrainer and fit_resumable: targets checked before any step, divergence and damaged or foreign
checkpoints reported with the file's name, checkpoint files written atomically (stale temporaries of
killed runs removed), a checkpoint directory locked against a second run, and a finished run that says
it was loaded instead of printing optimizer warnings."""
import json
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from tfatoms._io import DirectoryInUse
from tfatoms.models import SchNet
from tfatoms.representations.padded import MoleculeBatches
from tfatoms.train import fit_resumable
from tfatoms.train.trainer import BatchTrainer


def _molecules(n=24, seed=0):
    """``n`` random 3-atom molecules (H, C, O) and a smooth target, as a batch source of 8."""
    rng = np.random.default_rng(seed)
    z = rng.choice([1, 6, 8], size=3 * n)
    pos = rng.normal(size=(n, 3, 3)) + np.array([[0, 0, 0], [1.5, 0, 0], [0, 1.5, 0]])
    d = np.linalg.norm(pos[:, 1] - pos[:, 0], axis=1)
    return MoleculeBatches(z, pos.reshape(-1, 3), np.arange(0, 3 * n + 1, 3), targets=np.sin(d), batch_size=8)


def _trainer(n_features=8, seed=0):
    keras.utils.set_random_seed(seed)
    return BatchTrainer(SchNet(n_features=n_features, n_interactions=1, rbf_cutoff=6.0, rbf_spacing=0.5),
                        learning_rate=1e-3)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _hold_lock(directory):
    """A second process that holds the lock of ``directory`` until it is killed."""
    code = ("import sys, time\nfrom tfatoms._io import exclusive\n"
            "with exclusive(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _temporaries(directory):
    return sorted(p.name for p in directory.rglob("*") if ".tmp-" in p.name or p.name.startswith("tmp-"))


# ----------------------------------------------------------------------------- BatchTrainer

def test_nan_target_refused_before_training(tmp_path):
    train, val = _molecules(), _molecules(8, seed=1)
    train.targets[5] = np.nan  # after construction, which refuses it too
    with pytest.raises(ValueError, match=r"training targets must be finite: example 5 has nan"):
        _trainer().fit(train, val, tmp_path / "ck", max_steps=6, progress=False)
    assert not (tmp_path / "ck" / "state.json").exists()
    with pytest.raises(ValueError, match="targets contains NaN"):
        MoleculeBatches(train.numbers, train.positions, train.offsets, targets=train.targets)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="max_steps must be a positive integer"):
            _trainer().fit(_molecules(), val, tmp_path / "ck2", max_steps=bad, progress=False)


def test_diverged_training_gives_a_clear_error(tmp_path):
    trainer = _trainer()
    train, val = _molecules(), _molecules(8, seed=1)
    trainer.predict(val)  # builds the model
    trainer.model.embedding.embeddings.assign(np.full(trainer.model.embedding.embeddings.shape, np.nan))
    with pytest.raises(FloatingPointError, match=r"training diverged: validation MAE is nan after epoch 1.*"
                                                 r"no epoch had a finite validation MAE"):
        trainer.fit(train, val, tmp_path / "ck", max_steps=6, progress=False)


def test_finished_run_is_loaded_and_says_so(tmp_path, capsys):
    train, val = _molecules(), _molecules(8, seed=1)
    first = _trainer().fit(train, val, tmp_path / "ck", max_steps=6, progress=True)
    assert "epoch 1: step 3, train MSE" in capsys.readouterr().out  # a line per epoch
    again = _trainer(seed=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = again.fit(train, val, tmp_path / "ck", max_steps=6, progress=True)
    assert result.stopped == "done" and result.best_val_mae == first.best_val_mae
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    out = capsys.readouterr().out
    assert f"loaded finished model from checkpoint {tmp_path / 'ck' / 'best.weights.h5'} (trained 6 steps" in out
    assert "skipping training" in out


def test_damaged_checkpoint_named(tmp_path):
    train, val = _molecules(), _molecules(8, seed=1)
    _trainer().fit(train, val, tmp_path / "ck", max_steps=9, time_limit_s=0.0, progress=False)  # one epoch
    last = tmp_path / "ck" / "last.weights.h5"
    last.write_bytes(last.read_bytes()[:500])
    with pytest.raises(ValueError, match=rf"{last} cannot be read, it is damaged or truncated.*delete it"):
        _trainer().fit(train, val, tmp_path / "ck", max_steps=9, progress=False)
    (tmp_path / "ck" / "state.json").write_text('{"epoch": 1')
    with pytest.raises(ValueError, match=rf"checkpoint {tmp_path / 'ck' / 'state.json'} cannot be read.*delete"):
        _trainer().fit(train, val, tmp_path / "ck", max_steps=9, progress=False)


def test_checkpoint_of_another_configuration_named(tmp_path):
    train, val = _molecules(), _molecules(8, seed=1)
    for ck, kwargs in ((tmp_path / "finished", {}), (tmp_path / "interrupted", {"time_limit_s": 0.0})):
        _trainer(n_features=8).fit(train, val, ck, max_steps=9, progress=False, **kwargs)
        with pytest.raises(ValueError, match=rf"checkpoint {ck / 'last.weights.h5'} belongs to a different model "
                                             r"configuration .*use another checkpoint directory or delete"):
            _trainer(n_features=12).fit(train, val, ck, max_steps=9, progress=False)


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    ck = tmp_path / "ck"
    ck.mkdir()
    stale = [ck / f".best.weights.h5.tmp-{_dead_pid()}.weights.h5", ck / f".state.json.tmp-{_dead_pid()}.json",
             ck / f"tmp-{_dead_pid()}-last.weights.h5"]  # the last: the temporary name of earlier versions
    for path in stale:
        path.write_bytes(b"half")
    train, val = _molecules(), _molecules(8, seed=1)
    _trainer().fit(train, val, ck, max_steps=6, progress=False)
    assert not any(p.exists() for p in stale) and _temporaries(ck) == []

    trainer = _trainer()
    original = trainer.model.save_weights

    def full_disk(path, *args, **kwargs):
        original(path, *args, **kwargs)
        with open(path, "r+b") as fh:  # a partly written file, then the disk is full
            fh.truncate(100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer.model, "save_weights", full_disk)
    with pytest.raises(OSError, match="No space left"):
        trainer.fit(train, val, tmp_path / "full", max_steps=6, progress=False)
    assert _temporaries(tmp_path / "full") == []
    assert not (tmp_path / "full" / "best.weights.h5").exists()


def test_second_run_on_a_checkpoint_directory_refused(tmp_path):
    holder = _hold_lock(tmp_path / "ck")
    try:
        with pytest.raises(DirectoryInUse, match=rf"checkpoint directory {tmp_path / 'ck'} is in use by another "
                                                 rf"run \(pid {holder.pid}\)"):
            _trainer().fit(_molecules(), _molecules(8, seed=1), tmp_path / "ck", max_steps=6, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert _trainer().fit(_molecules(), _molecules(8, seed=1), tmp_path / "ck", max_steps=6,
                          progress=False).steps == 6


# ----------------------------------------------------------------------------- fit_resumable

def _dense(units=4, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(units, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    return model


def _xy():
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    return x, x.sum(axis=1)


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def test_fit_resumable_resumes_and_reports_damaged_backup(tmp_path, capsys):
    x, y = _xy()
    straight = fit_resumable(_dense(), x, y, tmp_path / "a", epochs=4, batch_size=16, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        fit_resumable(_dense(), x, y, tmp_path / "b", epochs=4, batch_size=16, verbose=0,
                      callbacks=[_Interrupt(2)])
    backup = tmp_path / "b" / "backup"
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    assert _temporaries(tmp_path / "b") == []
    resumed_model = _dense()
    resumed = fit_resumable(resumed_model, x, y, tmp_path / "b", epochs=4, batch_size=16, verbose=2)
    assert "resuming from checkpoint" in capsys.readouterr().out
    np.testing.assert_allclose(resumed["loss"], straight["loss"], rtol=1e-4)
    assert not backup.exists() and (tmp_path / "b" / "final.weights.h5").exists()

    with pytest.raises(KeyboardInterrupt):
        fit_resumable(_dense(), x, y, tmp_path / "c", epochs=4, batch_size=16, verbose=0, callbacks=[_Interrupt(2)])
    weights = tmp_path / "c" / "backup" / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[:300])  # a backup damaged on disk
    with pytest.raises(ValueError, match=rf"training backup {weights} cannot be read.*delete it"):
        fit_resumable(_dense(), x, y, tmp_path / "c", epochs=4, batch_size=16, verbose=0)


def test_fit_resumable_finished_run_loads_quietly_and_names_foreign_checkpoint(tmp_path, capsys):
    x, y = _xy()
    fit_resumable(_dense(), x, y, tmp_path / "a", epochs=2, batch_size=16, verbose=0)
    model = _dense(seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit_resumable(model, x, y, tmp_path / "a", epochs=2, batch_size=16, verbose=2)
    assert len(history["loss"]) == 2
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    final = tmp_path / "a" / "final.weights.h5"
    assert f"loaded finished model from checkpoint {final} (trained 2 epochs); skipping training" in \
        capsys.readouterr().out
    with pytest.raises(ValueError, match=rf"{final} belongs to a different model configuration"):
        fit_resumable(_dense(units=5), x, y, tmp_path / "a", epochs=2, batch_size=16, verbose=0)


def test_fit_resumable_refuses_a_second_run_and_writes_atomically(tmp_path):
    x, y = _xy()
    holder = _hold_lock(tmp_path / "a")
    try:
        with pytest.raises(DirectoryInUse, match="checkpoint directory .* is in use by another run"):
            fit_resumable(_dense(), x, y, tmp_path / "a", epochs=2, batch_size=16, verbose=0)
    finally:
        holder.kill()
        holder.wait()
    stale = [tmp_path / "a" / f".final.weights.h5.tmp-{_dead_pid()}.weights.h5",
             tmp_path / "a" / f"tmp-{_dead_pid()}.weights.h5"]  # the temporary name of earlier versions
    for path in stale:
        path.write_bytes(b"half")
    fit_resumable(_dense(), x, y, tmp_path / "a", epochs=2, batch_size=16, verbose=0)
    assert not any(p.exists() for p in stale) and _temporaries(tmp_path / "a") == []
    log = (tmp_path / "a" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in log] == [0, 1]
