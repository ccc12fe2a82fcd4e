"""PRNG keys for both frameworks: JAX keys, or a numpy emulation (int32 pairs, hashed) for PyTorch.

`PRNGKey` follows the framework chosen with `set_framework` (the runner sets it); `split` and `fold_in`
dispatch on the key itself, so a JAX key never meets the numpy path by accident.
"""
from typing import Any, List

import numpy as np

_MAX_INT32 = 2**31 - 1
_framework = 'jax'


def set_framework(framework: str) -> None:
  global _framework
  if framework not in ('jax', 'pytorch'):
    raise ValueError(f'framework must be "jax" or "pytorch", not {framework!r}.')
  _framework = framework


def get_framework() -> str:
  return _framework


def _is_numpy_key(key: Any) -> bool:
  return isinstance(key, (np.ndarray, list, tuple, int, np.integer)) and not _is_jax_key(key)


def _is_jax_key(key: Any) -> bool:
  module = type(key).__module__
  return module.startswith('jax') or module.startswith('jaxlib')


def _mix(*words: int) -> int:
  """A 31-bit hash of integers (splitmix64 steps): cheap enough to run every training step."""
  x = 0x9E3779B97F4A7C15
  for word in words:
    x = (x ^ (int(word) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
    x = (x ^ (x >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 29
  return x % _MAX_INT32


def _seed_of(key: Any) -> int:
  """A non-negative seed < 2**31-1 that depends on every word of a numpy key."""
  return _mix(*np.asarray(key, dtype=np.int64).reshape(-1).tolist())


def PRNGKey(seed: int) -> Any:  # pylint: disable=invalid-name
  if _framework == 'jax':
    import jax  # pylint: disable=import-outside-toplevel
    return jax.random.PRNGKey(seed)
  return np.array([0, int(seed) % _MAX_INT32], dtype=np.int32)


def split(key: Any, num: int = 2) -> Any:
  if _is_jax_key(key):
    import jax  # pylint: disable=import-outside-toplevel
    return jax.random.split(key, num)
  seed = _seed_of(key)
  return np.array([[_mix(seed, i, 0), _mix(seed, i, 1)] for i in range(num)], dtype=np.int32)


def _mix_arrays(*words: np.ndarray) -> np.ndarray:
  """`_mix` elementwise over broadcast uint64 arrays (numpy's uint64 products wrap, as the masks do)."""
  x = np.full(np.broadcast_shapes(*(np.shape(w) for w in words)), 0x9E3779B97F4A7C15, dtype=np.uint64)
  for word in words:
    x = (x ^ np.asarray(word, dtype=np.uint64)) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(31))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(29)
  return x % np.uint64(_MAX_INT32)


def numpy_step_keys(root_seed: int, steps: np.ndarray, num: int) -> np.ndarray:
  """split(fold_in(key, step), num) for every step at once, for a numpy key whose `seed_of` is `root_seed`.

  The same arithmetic as the two calls, vectorised: the runner derives a block of steps in one go.
  Returns int32 keys of shape (len(steps), num, 2).
  """
  steps = np.asarray(steps, dtype=np.uint64)[:, None, None]
  folded_seed = _mix_arrays(_mix_arrays(root_seed, steps, 2), _mix_arrays(root_seed, steps, 3))
  return _mix_arrays(folded_seed, np.arange(num, dtype=np.uint64)[:, None], np.arange(2, dtype=np.uint64)
                     ).astype(np.int32)


def seed_of(key: Any) -> int:
  """The hash the numpy `split` and `fold_in` start from (see `numpy_step_keys`)."""
  return _seed_of(key)


def fold_in(key: Any, data: Any) -> Any:
  if _is_jax_key(key):
    import jax  # pylint: disable=import-outside-toplevel
    return jax.random.fold_in(key, data)
  return np.array([_mix(_seed_of(key), data, 2), _mix(_seed_of(key), data, 3)], dtype=np.int32)


def bits(key: Any) -> List[int]:
  """The key as plain ints (for logs and for seeding other generators)."""
  if _is_jax_key(key):
    import jax  # pylint: disable=import-outside-toplevel
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
      key = jax.random.key_data(key)
    return [int(x) for x in np.asarray(key).reshape(-1)]
  return [int(x) for x in np.asarray(key).reshape(-1)]


def to_seed(key: Any) -> int:
  """A 31-bit integer seed derived from a key of either kind (for numpy and torch generators)."""
  return _seed_of(bits(key))
