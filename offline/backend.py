"""The only backend-specific code: gradients with respect to an input, compiling a function,
feeding arrays to ``fit``, and data-parallel training over several devices.

Everything else is written with ``keras`` and ``keras.ops`` and runs on TensorFlow (the default)
and on JAX (``KERAS_BACKEND=jax``).
"""

import os

import keras


def name():
    return keras.backend.backend()


def value_and_grad(loss_fn):
    """Compile ``loss_fn(x, *args) -> (loss, aux)`` into ``f(x, *args) -> (loss, aux, dloss/dx)``.

    ``x`` is the image being optimised (Gatys, DeepDream, saliency, feature inversion); ``aux``
    is anything to report alongside (e.g. a dict of loss terms). Models called inside are frozen.
    """
    if name() == "jax":
        import jax

        grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))

        def step(x, *args):
            (loss, aux), grad = grad_fn(x, *args)
            return loss, aux, grad

        return step
    if name() == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def step(x, *args):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss, aux = loss_fn(x, *args)
            return loss, aux, tape.gradient(loss, x)

        return step
    raise RuntimeError(f"backend {name()!r} is not supported; use tensorflow or jax")


class Compiled:
    """``fn`` compiled once per input signature (tf.function / jax.jit).

    ``traces`` counts how many times the Python body ran, i.e. how often it was (re)traced: a
    per-frame loop asserts that it stays at 1 after warm-up. ``reduce_retracing=False`` keeps one
    static trace per frame shape (TensorFlow otherwise relaxes the shape after the second one):
    the live loop's ladder of processing sizes, a few shapes known at warm-up.
    """

    def __init__(self, fn, jit_compile=False, reduce_retracing=True):
        self.traces = 0

        def traced(*args):
            self.traces += 1
            return fn(*args)

        if name() == "jax":
            import jax

            self._fn = jax.jit(traced)
        elif name() == "tensorflow":
            import tensorflow as tf

            self._fn = tf.function(traced, jit_compile=jit_compile, reduce_retracing=reduce_retracing)
        else:
            self._fn = traced

    def __call__(self, *args):
        return self._fn(*args)


def has_gpu():
    """True when the current backend sees a GPU."""
    if name() == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if name() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return False


def array_batches(x, y, batch_size, shuffle=False, seed=0):
    """Numpy ``(x, y)`` (``y`` None: inputs only, e.g. an autoencoder's or a GAN's) as
    ``fit``/``evaluate`` input: keyword arguments ``x`` (and ``y``, ``batch_size``, ``shuffle``
    where Keras batches the arrays itself).

    Under TensorFlow a ``tf.data`` pipeline with tf.data's autotuning switched off. Keras' own
    adapter for numpy arrays leaves it on, and then destroying each epoch's iterator waited for
    the autotuning thread: 13-29 s with the CPU idle, in about half the epochs of a 10-epoch
    Fashion-MNIST run on the 2-core machine (py-spy: ``~LogicalThreadWrapper`` under
    ``~IteratorResource``); a 10-minute GAN run lost a third of its epochs to it. Other backends:
    the arrays themselves (Keras batches them)."""
    if name() != "tensorflow":
        return {"x": x, "y": y, "batch_size": batch_size, "shuffle": shuffle}
    import tensorflow as tf

    arrays = (tf.constant(x),) if y is None else (tf.constant(x), tf.constant(y))
    n = int(arrays[0].shape[0])
    order = tf.data.Dataset.range(n)
    if shuffle:
        order = order.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    data = order.batch(batch_size).map(lambda i: tuple(tf.gather(a, i) for a in arrays)).prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    return {"x": data.with_options(options), "shuffle": False}  # it shuffles itself


# --- several devices -------------------------------------------------------------------------------

def device_count(requested):
    """``--devices N|all`` -> a number of devices this backend can train on: the GPUs when there are
    any, else the CPU: one, or N for testing with STUDIO_CPU_DEVICES=N."""
    available = len(_devices())
    if str(requested) == "all":
        return available
    n = int(requested)
    if n < 1:
        from offline.errors import UserError

        raise UserError(f"--devices must be 1 or more, got {n}")
    if n > available:
        from offline.errors import UserError

        hint = "" if has_gpu() else " (to test on a CPU: STUDIO_CPU_DEVICES=N splits it)"
        raise UserError(f"--devices {n}: this machine has {available} device(s) for {name()}{hint}")
    return n


def _devices():
    """The devices data-parallel training uses (GPUs first), as the backend names them."""
    if name() == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return gpus or jax.devices("cpu")
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return [d.name for d in tf.config.list_logical_devices("GPU")]
    split = os.environ.get("STUDIO_CPU_DEVICES", "")
    if split.isdigit() and int(split) > 1:
        try:  # one CPU as several logical devices: only before TensorFlow's runtime starts (listing
            # logical devices starts it)
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(split))
        except RuntimeError:
            pass
    return [d.name for d in tf.config.list_logical_devices("CPU")]


class data_parallel:
    """``with data_parallel(n):`` build, compile and fit a model data-parallel on ``n`` devices:
    every step splits the global batch over them, runs the copies and averages the gradients.
    JAX: ``keras.distribution.DataParallel``; TensorFlow: ``tf.distribute.MirroredStrategy``.
    With ``n`` = 1 it does nothing."""

    def __init__(self, n=1):
        self.n = int(n)

    def __enter__(self):
        if self.n <= 1:
            return self.n
        if name() == "jax":
            self._previous = keras.distribution.distribution()
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=_devices()[:self.n]))
        else:
            import tensorflow as tf

            self._scope = tf.distribute.MirroredStrategy(_devices()[:self.n]).scope()
            self._scope.__enter__()
        return self.n

    def __exit__(self, *exc):
        if self.n <= 1:
            return False
        if name() == "jax":
            keras.distribution.set_distribution(self._previous)
        else:
            self._scope.__exit__(*exc)
        return False


def per_replica(loss):
    """A ``compute_loss`` override's loss as one replica's share. Under ``tf.distribute`` the
    replicas' gradients are summed, so each returns mean / replicas (Keras' own losses do the same);
    under JAX one program sees the whole batch and the mean is already right."""
    if name() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss / replicas


def resolve_precision(precision, kind=None):
    """``auto`` -> the fastest correct precision here for a model of ``kind``: fp16 on a GPU; on a
    CPU bf16 where it has native bfloat16 arithmetic (AVX-512 BF16 or AMX: AdaIN's VGG runs 2x
    faster), else fp32. The fast model stays fp32 on a CPU: its few-channel convolutions gain
    nothing from bf16 even on AMX (27.6 against 29.0 FPS at 640x360, 2026-12-04; emulated bf16 is
    slower still)."""
    from offline.backbone import precision_name

    if precision != "auto":
        return precision_name(precision)
    if has_gpu():
        return "float16"
    return "bfloat16" if cpu_has_bf16() and kind != "fast" else "float32"


def cpu_has_bf16():
    """True when /proc/cpuinfo lists native bfloat16 arithmetic (avx512_bf16 or amx_bf16)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False
