"""One worker process of tests/test_distributed_training.py: SchNet energy+force training of EMT Cu clusters
under ``MultiWorkerMirroredStrategy`` (``TF_CONFIG`` from the test) or ``MirroredStrategy`` over two logical
CPUs of one process, recording the loss of every step it runs.

    python tests/distributed_worker.py --mode multi-worker --index K --ckpt DIR --out FILE [--die-after N]

``--die-after N`` ends this process with ``os._exit(9)`` after its N-th step (a killed worker).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["multi-worker", "mirrored"], required=True)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--die-after", type=int, default=None)
    p.add_argument("--jit", action="store_true")
    args = p.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    else:
        from tfatoms.train.distribute import strategy_from_environment

        strategy = strategy_from_environment("multi-worker")      # before any other TensorFlow work
    sys.path.insert(0, str(Path(__file__).parent))
    from test_distributed_training import MAX_STEPS, make_trainer, training_sets

    train, val = training_sets()
    trainer = make_trainer(strategy, jit_compile=args.jit)
    state = Path(args.ckpt) / "state.json"
    first = json.loads(state.read_text())["step"] + 1 if state.exists() else 1
    record = {"first_step": first, "losses": []}
    step = trainer._train_step

    def recorded(*step_args):
        loss = float(step(*step_args))
        record["losses"].append(loss)
        Path(args.out).write_text(json.dumps(record))
        if args.die_after is not None and len(record["losses"]) >= args.die_after:
            os._exit(9)
        return loss

    trainer._train_step = recorded
    result = trainer.fit(train, val, args.ckpt, max_steps=MAX_STEPS, progress=False)
    record.update(best_val_mae=result.best_val_mae, steps=result.steps, chief=trainer.chief,
                  weights_sum=float(sum(abs(w).sum() for w in trainer.model.get_weights())))
    Path(args.out).write_text(json.dumps(record))


if __name__ == "__main__":
    main()
