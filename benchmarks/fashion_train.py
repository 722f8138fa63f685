"""Fashion-MNIST: the seed lab's MLP (5 epochs) next to our CNN (defaults), trained in one run.

    python benchmarks/fashion_train.py                 # both, side by side (~11 min on 2 cores)
    python benchmarks/fashion_train.py --models mlp    # just the seed MLP

Prints test accuracy, training time and parameters per model, and a JSON line with all of it.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


@click.command()
@click.option("--models", default="mlp,cnn", show_default=True)
@click.option("--mlp-epochs", default=5, show_default=True)
@click.option("--data-dir", default=None)
def main(models, mlp_epochs, data_dir):
    from offline import fashion

    rows = []
    for name in models.split(","):
        epochs = mlp_epochs if name == "mlp" else None
        with tempfile.TemporaryDirectory() as out:
            kwargs = {"epochs": epochs} if epochs else {}
            start = time.perf_counter()
            manifest = fashion.train(name, out_dir=out, data_dir=data_dir, verbose=0,
                                     **({"batch_size": 32, "learning_rate": 1e-3} if name == "mlp" else {}), **kwargs)
            wall = time.perf_counter() - start
        rows.append({"model": name, "epochs": manifest["hyperparameters"]["epochs"],
                     "epochs_run": manifest["epochs_run_this_invocation"],
                     "test_accuracy": manifest["metrics"]["test_accuracy"],
                     "train_seconds": manifest["train_seconds_this_invocation"], "wall_seconds": round(wall, 1),
                     "parameters": manifest["parameters"]})
        r = rows[-1]
        print(f"{name:4} epochs {r['epochs_run']:2}  test acc {r['test_accuracy']:.4f}  "
              f"fit {r['train_seconds']:6.1f}s  wall {r['wall_seconds']:6.1f}s  params {r['parameters']:,}", flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
