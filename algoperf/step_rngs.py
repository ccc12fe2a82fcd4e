"""Per-step random keys: fold_in(rng, step) split into one key per use (data selection, update, ...).

Deriving them one step at a time would cost the runner two small device dispatches per step; for JAX we
derive blocks of steps in one jitted call and hand out host copies, which are the same keys.
"""
from typing import Any, Tuple

import numpy as np

from algoperf import random_utils as prng

_BLOCK = 256


class StepRngs:

  def __init__(self, rng: Any, num_splits: int, framework: str):
    self._rng = rng
    self._num_splits = num_splits
    self._framework = framework
    self._block_start = None
    self._block = None
    if framework == 'jax':
      import jax  # pylint: disable=import-outside-toplevel

      def derive(key, steps):
        return jax.vmap(lambda s: jax.random.split(jax.random.fold_in(key, s), num_splits))(steps)
      self._derive = jax.jit(derive)

  def __call__(self, global_step: int) -> Tuple[Any, ...]:
    if self._framework != 'jax':
      return tuple(prng.split(prng.fold_in(self._rng, global_step), self._num_splits))
    if self._block_start is None or not 0 <= global_step - self._block_start < _BLOCK:
      self._block_start = global_step
      steps = np.arange(global_step, global_step + _BLOCK, dtype=np.uint32)
      self._block = np.asarray(self._derive(self._rng, steps))
    return tuple(self._block[global_step - self._block_start])
