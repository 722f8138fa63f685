"""Data-parallel training (``--devices``) measured: the same AdaIN decoder steps on one and on two
devices (here the CPU split in two with STUDIO_CPU_DEVICES=2: what the code does on two GPUs,
not how fast two GPUs are), their losses side by side, the step times, and the time one
all-reduce of the decoder's gradients takes (the communication a step adds), for each backend.

    python benchmarks/multi_device.py --weights-dir ../shared/data/weights --json-out /tmp/multi.json
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUN = r"""
import json, os, time, numpy as np, keras
from offline import backend
from offline.adain_train import make_trainer
backend.device_count(2)
steps, batch, size = STEPS, BATCH, SIZE
weights = "imagenet" if os.environ.get("STUDIO_WEIGHTS_DIR") else None
result = {"backend": backend.name()}
for n in (1, 2):
    with backend.data_parallel(n):
        keras.utils.set_random_seed(0)
        trainer = make_trainer("relu3_1", weights=weights, learning_rate=1e-4)
        rng = np.random.default_rng(0)
        data = [tuple(rng.uniform(0, 255, (batch, size, size, 3)).astype("float32") for _ in range(2))
                for _ in range(steps)]
        losses, times = [], []
        for x in data:
            t = time.perf_counter()
            losses.append(float(trainer.train_on_batch(x, return_dict=True)["loss"]))
            times.append(time.perf_counter() - t)
        result[n] = {"losses": [round(v, 4) for v in losses], "step_ms": round(1000 * float(np.median(times[3:])), 1)}
shapes = [tuple(w.shape) for w in trainer.decoder.trainable_weights]
result["gradient_mb"] = round(sum(int(np.prod(s)) for s in shapes) * 4 / 2**20, 2)
# one all-reduce (sum over the two devices) of tensors shaped like the decoder's gradients
if backend.name() == "jax":
    import jax
    reduce = jax.pmap(lambda xs: [jax.lax.psum(x, "d") for x in xs], axis_name="d", devices=jax.devices()[:2])
    grads = [np.ones((2,) + s, np.float32) for s in shapes]
    jax.block_until_ready(reduce(grads))
    t = time.perf_counter()
    for _ in range(20):
        jax.block_until_ready(reduce(grads))
else:
    import tensorflow as tf
    strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")][:2])
    with strategy.scope():
        @tf.function
        def reduce():
            def one():
                ctx = tf.distribute.get_replica_context()
                return ctx.all_reduce("SUM", [tf.ones(s) for s in shapes])
            return strategy.run(one)
        reduce()
        t = time.perf_counter()
        for _ in range(20):
            reduce()
result["allreduce_ms"] = round(1000 * (time.perf_counter() - t) / 20, 2)
result["communication_share_of_2_device_step"] = round(result["allreduce_ms"] / result[2]["step_ms"], 4)
print("RESULT " + json.dumps(result))
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--weights-dir", default=os.environ.get("STUDIO_WEIGHTS_DIR"))
    p.add_argument("--json-out", default=None)
    args = p.parse_args()
    code = RUN.replace("STEPS", str(args.steps)).replace("BATCH", str(args.batch)).replace("SIZE", str(args.size))
    results = []
    for name in ("tensorflow", "jax"):
        env = dict(os.environ, KERAS_BACKEND=name, STUDIO_CPU_DEVICES="2", PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
        if args.weights_dir:
            env["STUDIO_WEIGHTS_DIR"] = args.weights_dir
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
        line = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            raise SystemExit(res.stderr[-3000:])
        r = json.loads(line[0][7:])
        one, two = r["1"]["losses"], r["2"]["losses"]
        r["max_relative_loss_difference"] = round(max(abs(a - b) / max(abs(a), 1e-9) for a, b in zip(one, two)), 6)
        results.append(r)
        print(json.dumps(r), flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
