"""The only backend-specific code: gradients with respect to an input, compiling a function, and
feeding arrays to ``fit``.

Everything else is written with ``keras`` and ``keras.ops`` and runs on TensorFlow (the default)
and on JAX (``KERAS_BACKEND=jax``).
"""

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
    per-frame loop asserts that it stays at 1 after warm-up.
    """

    def __init__(self, fn, jit_compile=False):
        self.traces = 0

        def traced(*args):
            self.traces += 1
            return fn(*args)

        if name() == "jax":
            import jax

            self._fn = jax.jit(traced)
        elif name() == "tensorflow":
            import tensorflow as tf

            self._fn = tf.function(traced, jit_compile=jit_compile, reduce_retracing=True)
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
    """Numpy ``(x, y)`` as ``fit``/``evaluate`` input: keyword arguments ``x`` (and ``y``, ``batch_size``,
    ``shuffle`` where Keras batches the arrays itself).

    Under TensorFlow a ``tf.data`` pipeline with tf.data's autotuning switched off. Keras' own
    adapter for numpy arrays leaves it on, and then destroying each epoch's iterator waited for
    the autotuning thread: 13-29 s with the CPU idle, in about half the epochs of a 10-epoch
    Fashion-MNIST run on the 2-core machine (py-spy: ``~LogicalThreadWrapper`` under
    ``~IteratorResource``). Other backends: the arrays themselves (Keras batches them)."""
    if name() != "tensorflow":
        return {"x": x, "y": y, "batch_size": batch_size, "shuffle": shuffle}
    import tensorflow as tf

    x, y = tf.constant(x), tf.constant(y)
    n = int(x.shape[0])
    order = tf.data.Dataset.range(n)
    if shuffle:
        order = order.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    data = order.batch(batch_size).map(lambda i: (tf.gather(x, i), tf.gather(y, i))).prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    return {"x": data.with_options(options), "shuffle": False}  # it shuffles itself
