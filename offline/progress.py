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

    def update(self, done, values=()):
        values = [(k, float(v)) for k, v in values]
        if self.bar is None:
            import keras

            if self.title:
                print(self.title, file=sys.stderr)
            self.bar = keras.utils.Progbar(self.total or None, unit_name=self.unit,
                                           stateful_metrics=[k for k, _ in values])
        self.bar.update(done, values=values)

    def __call__(self, done, total=None, loss=None):
        self.update(done, [] if loss is None else [(self.loss_name, loss)])
