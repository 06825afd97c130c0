"""``GradientAccumulator``: sums gradients over steps, per replica under a ``tf.distribute`` strategy.

The accumulators and the step counter are ``ON_READ`` variables aggregated ``ONLY_FIRST_REPLICA``:
each replica adds its own gradients, reading in cross-replica context gives the first replica's
value, and :meth:`GradientAccumulator.reset` zeroes every replica. Create it and call it in the
strategy's scope (in a replica context for the calls), as transformers' does.
"""
from __future__ import annotations

import tensorflow as tf

from hfopt_core.plugin import keras_backend as _keras_backend  # the Keras backend, answered by hfopt_core

__all__ = ["GradientAccumulator"]


def _sync_variable(initial):
    return tf.Variable(initial, trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


class GradientAccumulator:
    """Accumulates gradients of a custom TensorFlow training loop; read them with :attr:`gradients`.

    Takes no arguments. The first call fixes the number (and shapes) of gradients; ``None``
    gradients stay ``None``. Raises ``TypeError`` on a Keras 3 backend other than TensorFlow,
    pointing to ``gradient_accumulation_steps``.
    """

    def __init__(self):
        backend = _keras_backend()
        if backend != "tensorflow":
            raise TypeError(
                f"GradientAccumulator is TensorFlow-only, but the Keras backend is {backend!r}: use the "
                "optimizer's own accumulation instead, e.g. keras.optimizers.Adam(gradient_accumulation_steps=4)")
        self._gradients = []
        self._accum_steps = None

    @property
    def step(self):
        """Number of accumulated steps (an int64 tensor)."""
        if self._accum_steps is None:
            self._accum_steps = _sync_variable(tf.constant(0, dtype=tf.int64))
        return self._accum_steps.value()

    @property
    def gradients(self):
        """The accumulated gradients on the current replica (``None`` where the gradient was ``None``).

        Each is a tensor placed on the replica's device (``tf.identity`` of the variable's value):
        inside ``strategy.run`` in a ``tf.function`` a Keras 3 optimizer all-reduces the gradients,
        and a bare read of an ``ON_READ`` variable carries no device for it to reduce to
        ("destinations can not be empty" on a one-replica ``MirroredStrategy``).
        """
        if not self._gradients:
            raise ValueError("The accumulator should be called first to initialize the gradients")
        return [tf.identity(g.value()) if g is not None else None for g in self._gradients]

    def __call__(self, gradients):
        """Add ``gradients`` (a list of tensors or ``None``) to the accumulators and count one step."""
        gradients = list(gradients)
        if not self._gradients:
            _ = self.step  # create the step counter first
            self._gradients.extend(_sync_variable(tf.zeros_like(g)) if g is not None else None for g in gradients)
        if len(gradients) != len(self._gradients):
            raise ValueError(f"Expected {len(self._gradients)} gradients, but got {len(gradients)}")
        for accumulated, gradient in zip(self._gradients, gradients):
            if accumulated is not None and gradient is not None:
                accumulated.assign_add(gradient)
        self._accum_steps.assign_add(1)

    def reset(self):
        """Zero the step counter and every accumulator (on every replica when called per replica)."""
        if not self._gradients:
            return
        self._accum_steps.assign(0)
        for accumulated in self._gradients:
            if accumulated is not None:
                accumulated.assign(tf.zeros_like(accumulated))
