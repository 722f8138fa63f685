"""The one progress bar of every long job (renders, optimisations, dreams): keras' ``Progbar``
(bar, rate, ETA), created at the first update so that a start-up error prints before it, with
every metric shown at its latest value (not Progbar's running average)."""

import sys


class Progress:
    """``update(done, values=[(name, value), ...])`` like ``keras.utils.Progbar``; calling it as
    ``progress(done, total, loss)`` is the gradient-ascent engine's callback (``offline.ascent``)."""

    def __init__(self, total, unit="step", title=None, loss_name="loss"):
        self.total, self.unit, self.title, self.loss_name = total, unit, title, loss_name
        self.bar = None

    def start(self, names=()):
        """Start the clock now (e.g. at ``on_train_begin``, when the first update comes only after a
        whole epoch); ``names``: the metrics shown at their latest value."""
        if self.bar is None:
            import keras

            if self.title:
                print(self.title, file=sys.stderr)
            self.bar = keras.utils.Progbar(self.total or None, unit_name=self.unit, stateful_metrics=list(names))
        return self

    def update(self, done, values=()):
        values = [(k, float(v)) for k, v in values]
        self.start([k for k, _ in values])
        self.bar.update(done, values=values)

    def __call__(self, done, total=None, loss=None):
        self.update(done, [] if loss is None else [(self.loss_name, loss)])


def epoch_bar(epochs, terms=("loss",)):
    """A Keras callback: the bar in epochs for ``fit`` runs with few, long epochs (Keras' own
    prints one bar per epoch), showing ``terms`` from the logs; the clock starts with training."""
    import keras

    class EpochBar(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.bar = Progress(epochs, unit="epoch")

        def on_train_begin(self, logs=None):
            self.bar.start(terms)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.update(epoch + 1, [(k, logs[k]) for k in terms if k in logs])

    return EpochBar()
