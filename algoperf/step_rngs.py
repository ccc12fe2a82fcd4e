"""Per-step random keys: fold_in(rng, step) split into one key per use (data selection, update, ...).

Deriving them one step at a time would cost the runner two small device dispatches per step (JAX) or a
dozen Python-level hashes (the numpy keys of PyTorch runs); instead blocks of steps are derived in one
jitted or vectorised call and handed out as host copies, which are the same keys. The JAX derivation is jitted once per process (not per trial), and the first block is derived when the
object is built, in the runner's untimed set-up, so no compile is charged to a submission's time.
"""
import functools
from typing import Any, Tuple

import numpy as np

from algoperf import random_utils as prng

_BLOCK = 256


@functools.lru_cache(maxsize=None)
def _jitted_derive(num_splits: int):
  import jax  # pylint: disable=import-outside-toplevel

  def derive(key, steps):
    return jax.vmap(lambda s: jax.random.split(jax.random.fold_in(key, s), num_splits))(steps)
  return jax.jit(derive)


class StepRngs:

  def __init__(self, rng: Any, num_splits: int, framework: str):
    self._rng = rng
    if framework == 'jax':
      jitted = _jitted_derive(num_splits)
      # Host copies: handing a jitted step a numpy key costs ~2 us more than a device key, while a
      # device array per key (one transfer each, or 1,024 outputs of one jitted call) costs far more.
      self._derive = lambda steps: np.asarray(jitted(rng, steps))
    else:
      root_seed = prng.seed_of(rng)
      self._derive = lambda steps: prng.numpy_step_keys(root_seed, steps, num_splits)
    self._derive_block(0)

  def _derive_block(self, start: int) -> None:
    self._block_start = start
    self._block = self._derive(np.arange(start, start + _BLOCK, dtype=np.uint32))

  def __call__(self, global_step: int) -> Tuple[Any, ...]:
    if not 0 <= global_step - self._block_start < _BLOCK:
      self._derive_block(global_step)
    return tuple(self._block[global_step - self._block_start])
