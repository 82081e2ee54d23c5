"""Runs a training step several times in a row: in a tf.while_loop or unrolled, the one place that decides how."""
from typing import Callable, Dict, Tuple

import tensorflow as tf

Logs = Dict[str, tf.Tensor]


def repeat(step: Callable[[tf.Tensor], Logs], times: int, in_loop: bool) -> Tuple[Logs, Logs]:
    """Runs step(0), ..., step(times - 1), each after the previous one's updates.

    Args:
      step: k (a Python int when unrolled, an int32 scalar in the loop) -> logs, a dict of scalars with the same
        names and dtypes at every k.
      times: how many steps (a Python int, at least 1).
      in_loop: run them in a tf.while_loop, so that the graph holds one step, which a graph compiler (XLA, the
        NPU's graph engine) compiles once instead of `times` times; else unrolled. A tf.distribute strategy needs
        them unrolled: it updates mirrored variables in a merge_call, which TensorFlow refuses inside a loop.

    Returns:
      (the last step's logs, each log summed over the steps).
    """
    if not in_loop:
        last = totals = step(0)
        for k in range(1, times):
            last = step(k)
            totals = {name: totals[name] + value for name, value in last.items()}
        return last, totals
    # Traced once, as a function: its outputs tell the loop what it carries, so no list of names is kept by hand.
    body = tf.function(step, autograph=False).get_concrete_function(tf.TensorSpec([], tf.int32))
    zeros = {name: tf.zeros(value.shape, value.dtype) for name, value in body.structured_outputs.items()}

    def one_more(k, last, totals):
        logs = body(k)
        return k + 1, logs, {name: totals[name] + value for name, value in logs.items()}

    # parallel_iterations=1: each step's updates land before the next one reads the weights.
    _, last, totals = tf.while_loop(lambda k, last, totals: k < times, one_more, (tf.constant(0), zeros, zeros),
                                    maximum_iterations=times, parallel_iterations=1)
    return last, totals
