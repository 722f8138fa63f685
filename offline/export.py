"""The per-frame function of a stylize model, exported for other runtimes (ONNX Runtime, OpenCV
DNN, TouchDesigner, a saved model for TensorFlow Serving / TF.js converters):

    inputs   image      (1, H, W, 3) float32 RGB 0..255
             style_mean (1, C) float32   } a style's cached statistics (AdaIN: relu3_1's;
             style_std  (1, C) float32   }  fast model: its code), from OUT.styles.json
    output   (1, H, W, 3) float32 RGB 0..255, clipped

The graph is ``Stylizer.stylize`` itself (the padding to the network's multiple, the networks,
the crop back), traced at one frame size; Keras' exporter writes it (``model.export``: tf2onnx
for ONNX). The styles file holds the model's presets as plain lists, so another program needs
nothing of ours to pick a style.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np

from offline.errors import UserError

FORMATS = ("onnx", "saved_model")


def frame_model(stylizer, size):
    """A Keras model of the per-frame function (its ``call`` is ``stylizer.stylize``)."""
    import keras

    class Frame(keras.Model):
        def __init__(self):
            super().__init__(name=f"{stylizer.kind}_frame")
            # the networks as attributes: their weights belong to this model (and its export)
            self.parts = [getattr(stylizer, n) for n in ("network", "encoder", "decoder") if hasattr(stylizer, n)]

        def call(self, inputs):
            image, mean, std = inputs
            return stylizer.stylize(image, keras.ops.reshape(mean, (-1, 1, 1, stylizer.channels)),
                                    keras.ops.reshape(std, (-1, 1, 1, stylizer.channels)))

    return Frame()


def signature(stylizer, size):
    import keras

    w, h = size
    return [keras.InputSpec(shape=(1, h, w, 3), dtype="float32", name="image"),
            keras.InputSpec(shape=(1, stylizer.channels), dtype="float32", name="style_mean"),
            keras.InputSpec(shape=(1, stylizer.channels), dtype="float32", name="style_std")]


def styles_json(stylizer):
    return {name: {"mean": np.asarray(s.mean, float).round(6).tolist(), "std": np.asarray(s.std, float).round(6).tolist()}
            for name, s in sorted(stylizer.presets.items())}


def export(stylizer, path, fmt="onnx", size=(640, 360)):
    """Write the per-frame function to ``path`` (a .onnx file or a saved-model folder) and the
    presets to ``path`` + ``.styles.json``; returns (model, styles file)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    model = frame_model(stylizer, size)
    w, h = size
    model([np.zeros((1, h, w, 3), np.float32), np.zeros((1, stylizer.channels), np.float32),
           np.ones((1, stylizer.channels), np.float32)])  # the exporter wants a model that has run once
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        if importlib.util.find_spec("tf2onnx") is None:  # Keras' ONNX exporter needs it
            raise UserError("ONNX export needs tf2onnx: pip install 'neural-studio[export]' (tf2onnx onnxruntime)")
        import warnings

        with warnings.catch_warnings():  # the exporter's own NumPy deprecation chatter
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(path), format="onnx", verbose=False, input_signature=[signature(stylizer, size)])
    else:
        model.export(str(path), format="tf_saved_model", verbose=False, input_signature=[signature(stylizer, size)])
    from offline.media import atomic_write_text

    styles = path.with_name(path.name + ".styles.json")
    atomic_write_text(styles, json.dumps({"kind": stylizer.kind, "channels": stylizer.channels,
                                          "size": list(size), "styles": styles_json(stylizer)}))
    return model, styles


def onnx_parity(model, path, stylizer, size, seed=0):
    """Largest difference (grey levels) between ONNX Runtime's output and Keras' on a test frame
    with the first preset (or neutral statistics); None without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return None
    w, h = size
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal(128, 60, (1, h, w, 3)), 0, 255).astype(np.float32)
    presets = stylizer.presets
    s = next(iter(presets.values())) if presets else None
    mean = (np.asarray(s.mean) if s is not None else np.zeros(stylizer.channels))[None].astype(np.float32)
    std = (np.asarray(s.std) if s is not None else np.ones(stylizer.channels))[None].astype(np.float32)
    ref = np.asarray(model([image, mean, std]))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    out = session.run(None, dict(zip(names, (image, mean, std))))[0]
    return float(np.abs(out - ref).max())
