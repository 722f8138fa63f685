"""``offline fashion``: train, evaluate and use the Fashion-MNIST classifier (the library is
``offline/fashion.py``)."""

import json
import shlex
import sys
from pathlib import Path

import click
import numpy as np

from offline.commands import outputs
from offline.options import FLOAT, PRECISION
from offline.fashion import (CLASS_NAMES, DEFAULT_DATA_DIR, evaluate, garment_to_28x28, load_classifier, load_data,
                             misclassified_grid, plot_confusion, train)


@click.group(name="fashion")
def cli():
    """Fashion-MNIST classifier: train, eval, predict.

    \b
    offline fashion train --model cnn --out trained/fashion_mnist
    offline fashion eval --report report/
    offline fashion predict shirt.jpg
    """


@cli.command(name="train")
@click.option("--model", "model_name", default="cnn", show_default=True, help="mlp (the seed lab's) or cnn.")
@click.option("--epochs", default=8, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(1))
@click.option("--out", "out_dir", default="runs/fashion", show_default=True, type=click.Path(file_okay=False),
              help="Folder for checkpoints, model.keras and manifest.json (--resume continues it).")
@click.option("--logdir", default=None, type=click.Path(file_okay=False), help="TensorBoard log folder.")
@click.option("--data-dir", default=None, type=click.Path(), help=f"IDX files [default: {DEFAULT_DATA_DIR}, else download].")
@click.option("--patience", default=3, show_default=True, type=click.IntRange(1), help="Early-stopping patience (epochs).")
@click.option("--learning-rate", default=2e-3, show_default=True, type=FLOAT, help="Peak Adam learning rate (cosine decay).")
@click.option("--precision", type=PRECISION, default="float32", show_default=True,
              help="bf16 mixed precision trains faster on CPUs with AMX/AVX512-BF16 and on GPUs; export is fp32.")
@click.option("--seed", default=0, show_default=True, type=int)
@outputs.devices_option()
@outputs.resume_options
def train_cmd(model_name, epochs, batch_size, out_dir, logdir, data_dir, patience, learning_rate, precision, seed,
              devices, resume, force):
    """Train a classifier; after an interruption --resume continues it."""
    outputs.training_folder(out_dir, {"model": model_name, "batch_size": batch_size, "patience": patience,
                                      "learning_rate": learning_rate, "precision": precision, "seed": seed,
                                      "epochs": epochs}, resume, force, finished=("manifest.json", "model.keras"))
    command = "offline " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    manifest = train(model_name, epochs, out_dir, logdir, data_dir, batch_size, patience, seed,
                     learning_rate=learning_rate, command=command, precision=precision, log=click.echo,
                     devices=devices)
    m = manifest["metrics"]
    click.echo(f"test accuracy {m['test_accuracy']:.4f} (best val {m['best_val_accuracy']:.4f}) "
               f"in {manifest['train_seconds_this_invocation']:.0f}s -> {Path(out_dir) / 'model.keras'}")


@cli.command(name="eval")
@click.option("--model", "model_path", default=None, type=click.Path(), help="model.keras [default: the shipped one].")
@click.option("--data-dir", default=None, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--report", default=None, type=outputs.OutputFolder("report folder"),
              help="Folder for confusion_matrix.png and misclassified.png.")
def eval_cmd(model_path, data_dir, as_json, report):
    """Test accuracy, per-class accuracy, confusion matrix and the worst mistakes."""
    model, path = load_classifier(model_path)
    data = load_data(data_dir)
    metrics, pred, probs = evaluate(model, data["x_test"], data["y_test"])
    metrics["model"] = str(path)
    if report:
        report = Path(report)
        plot_confusion(metrics["confusion_matrix"], report / "confusion_matrix.png")
        misclassified_grid(data["x_test"], data["y_test"], pred, probs, report / "misclassified.png")
        metrics["report"] = str(report)
    if as_json:
        click.echo(json.dumps(metrics))
        return
    click.echo(f"test accuracy {metrics['test_accuracy']:.4f} on {metrics['n']} images ({path})")
    for name, acc in metrics["per_class_accuracy"].items():
        click.echo(f"  {name:<12} {acc:.4f}")
    if report:
        click.echo(f"wrote {report / 'confusion_matrix.png'} and {report / 'misclassified.png'}")


@cli.command(name="predict")
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--model", "model_path", default=None, type=click.Path(), help="model.keras [default: the shipped one].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image.")
@click.option("--top", default=1, show_default=True, type=click.IntRange(1, 10), help="How many classes to show.")
def predict_cmd(images, model_path, as_json, top):
    """Classify photos or drawings of garments.

    Each image is made to look like Fashion-MNIST first: grayscale, inverted when its background
    is light, cropped to the garment, padded square and shrunk to 28x28."""
    from offline.media import read_gray

    model, _ = load_classifier(model_path)
    batch = np.stack([garment_to_28x28(read_gray(p)) for p in images])
    probs = np.asarray(model.predict(batch, verbose=0))
    for path, p in zip(images, probs):
        best = np.argsort(-p)[:top]
        if as_json:
            click.echo(json.dumps({"image": path, "class": CLASS_NAMES[best[0]], "index": int(best[0]),
                                   "probability": round(float(p[best[0]]), 4),
                                   "top": [{"class": CLASS_NAMES[i], "probability": round(float(p[i]), 4)} for i in best]}))
        else:
            click.echo(f"{path}: " + ", ".join(f"{CLASS_NAMES[i]} {p[i]:.2f}" for i in best))
