"""Turning framework-neutral numpy batches into device batches, and padding eval batches with a mask."""
from typing import Any, Dict, Iterator, Optional

import numpy as np


def pad_batch(batch: Dict[str, np.ndarray], batch_size: int) -> Dict[str, np.ndarray]:
  """Pads every array to `batch_size` rows; 'weights' marks the real rows (created if missing)."""
  n = len(next(iter(batch.values())))
  out = {}
  for key, value in batch.items():
    value = np.asarray(value)
    if n < batch_size:
      pad = np.zeros((batch_size - n,) + value.shape[1:], dtype=value.dtype)
      value = np.concatenate([value, pad])
    out[key] = value
  if 'weights' not in batch:
    weights = np.zeros(batch_size, dtype=np.float32)
    weights[:n] = 1.0
    out['weights'] = weights
  return out


def shard_and_maybe_pad_np(batch: Dict[str, Any], padding_value: int = 0,
                           global_batch_size: Optional[int] = None) -> Dict[str, Any]:
  """Pads to `global_batch_size` (a multiple of the device count) with a mask in 'weights'."""
  import jax  # pylint: disable=import-outside-toplevel
  n = len(next(iter(batch.values())))
  devices = jax.local_device_count()
  size = global_batch_size or int(np.ceil(n / devices) * devices)
  padded = pad_batch(batch, size)
  if padding_value:
    for key in batch:
      if key != 'weights':
        padded[key][n:] = padding_value
  return padded


def to_jax(batch: Dict[str, np.ndarray]) -> Dict[str, Any]:
  """Places a numpy batch on the devices, split along the batch dimension."""
  from algoperf import jax_sharding_utils  # pylint: disable=import-outside-toplevel
  return {k: jax_sharding_utils.shard_along_batch_dim(v) for k, v in batch.items()}


def to_torch(batch: Dict[str, np.ndarray], device) -> Dict[str, Any]:
  import torch  # pylint: disable=import-outside-toplevel
  return {k: torch.as_tensor(v).to(device, non_blocking=True) for k, v in batch.items()}


def prefetch(iterator: Iterator[Any], size: int = 2) -> Iterator[Any]:
  """Reads ahead `size` items from an iterator on a background thread (hides host-side data work)."""
  import queue  # pylint: disable=import-outside-toplevel
  import threading  # pylint: disable=import-outside-toplevel
  buffer: 'queue.Queue' = queue.Queue(maxsize=size)
  sentinel = object()

  def worker():
    for item in iterator:
      buffer.put(item)
    buffer.put(sentinel)

  threading.Thread(target=worker, daemon=True).start()
  while True:
    item = buffer.get()
    if item is sentinel:
      return
    yield item
