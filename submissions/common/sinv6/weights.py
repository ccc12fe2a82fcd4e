"""Sinv6 weights: reading and writing the published flax-msgpack tree, with a check that names what is wrong.

The file is what `flax.serialization.msgpack_serialize` writes for the nested dict of features.WEIGHT_SHAPES:
msgpack maps, each array an ExtType(1, msgpack((shape, dtype name, C-order bytes))). This module reads and
writes that format with `msgpack` and numpy only, so the PyTorch submission does not import JAX.

`ALGOPERF_SINV6_WEIGHTS=path` points both submissions at another file in that layout.
"""
import os
from typing import Dict, Optional, Tuple

import msgpack
import numpy as np

from submissions.common.sinv6 import features

ENV_VAR = 'ALGOPERF_SINV6_WEIGHTS'
DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'sinv6_weights.msgpack')
_NDARRAY_EXT = 1  # flax.serialization's ext code for numpy arrays


class WeightsError(ValueError):
  """A weights file that is missing, unreadable or not in the published layout."""


def _ext_hook(code: int, data: bytes):
  if code != _NDARRAY_EXT:
    raise WeightsError(f'msgpack extension type {code} is not a flax array (type {_NDARRAY_EXT}).')
  shape, dtype, buffer = msgpack.unpackb(data, raw=False)
  return np.frombuffer(buffer, dtype=np.dtype(dtype)).reshape(shape).copy()


def _default(obj):
  if isinstance(obj, np.ndarray):
    array = np.ascontiguousarray(obj)
    return msgpack.ExtType(_NDARRAY_EXT, msgpack.packb((array.shape, array.dtype.name, array.tobytes('C'))))
  raise TypeError(f'cannot serialise {type(obj).__name__}')


def to_bytes(tree: dict) -> bytes:
  """The flax msgpack bytes of a nested dict of arrays (float32)."""
  flat = {path: np.asarray(value, np.float32) for path, value in features.flat_weights(tree).items()}
  return msgpack.packb(features.nest_weights(flat), default=_default, use_bin_type=True)


def save(tree: dict, path: str) -> None:
  """Writes atomically (a reader never sees half a file)."""
  check(tree, source=path)
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'wb') as f:
    f.write(to_bytes(tree))
  os.replace(tmp, path)


def check(tree, source: str = 'the weights') -> Dict[Tuple[str, ...], np.ndarray]:
  """The flat float32 weights if `tree` has exactly the published paths and shapes; else WeightsError."""
  if not isinstance(tree, dict):
    raise WeightsError(f'{source}: expected a tree of dicts, got {type(tree).__name__}.')
  flat = features.flat_weights(tree)
  problems = []
  for path, shape in features.WEIGHT_SHAPES.items():
    name = '/'.join(path)
    if path not in flat:
      problems.append(f'{name} is missing (want shape {list(shape)})')
      continue
    value = np.asarray(flat[path])
    if tuple(value.shape) != shape:
      problems.append(f'{name} has shape {list(value.shape)}, want {list(shape)}')
    elif not np.issubdtype(value.dtype, np.floating):
      problems.append(f'{name} has dtype {value.dtype}, want float32')
  for path in sorted(set(flat) - set(features.WEIGHT_SHAPES)):
    problems.append(f'{"/".join(path)} is not in the published layout')
  if problems:
    raise WeightsError(f'{source} is not a Sinv6 weight tree: ' + '; '.join(problems) + '.')
  return {path: np.asarray(flat[path], np.float32) for path in features.WEIGHT_SHAPES}


def load(path: Optional[str] = None) -> dict:
  """The weights as a nested dict of float32 arrays: `path`, else $ALGOPERF_SINV6_WEIGHTS, else ours."""
  if path is None:
    path = os.environ.get(ENV_VAR) or DEFAULT_PATH
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise WeightsError(f'Sinv6 weights file {path} does not exist; set {ENV_VAR} to a flax msgpack file in '
                       'the published layout, or unset it to use the committed weights.')
  with open(path, 'rb') as f:
    try:
      tree = msgpack.unpackb(f.read(), ext_hook=_ext_hook, raw=False, strict_map_key=False)
    except (ValueError, msgpack.exceptions.ExtraData, msgpack.exceptions.UnpackException) as e:
      raise WeightsError(f'Sinv6 weights file {path} is not a flax msgpack file ({e}).') from None
  return features.nest_weights(check(tree, source=f'Sinv6 weights file {path}'))
