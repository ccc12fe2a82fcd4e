"""Framework-neutral input pipelines over in-memory numpy arrays.

Training batches come from a seeded permutation per epoch, so batch k is a pure function of (seed, k):
a resumed run starts at its step without replaying the ones before. Eval batches go through the split in
order; the last one is padded and masked through 'weights'.
"""
from typing import Callable, Dict, Iterator, Optional

import numpy as np

Batch = Dict[str, np.ndarray]


def train_batches(arrays: Batch, batch_size: int, seed: int, start_step: int = 0,
                  transform: Optional[Callable[[Batch, np.random.RandomState], Batch]] = None) -> Iterator[Batch]:
  """An infinite, shuffled stream of full batches (the remainder of each epoch is dropped)."""
  n = len(next(iter(arrays.values())))
  if batch_size > n:
    raise ValueError(f'The batch size {batch_size} is larger than the training set ({n} examples); '
                     'use a smaller batch size or a larger dataset.')
  per_epoch = n // batch_size
  step = start_step
  epoch, cached_perm = -1, None
  while True:
    this_epoch, index = divmod(step, per_epoch)
    if this_epoch != epoch:
      epoch = this_epoch
      cached_perm = np.random.RandomState((seed + 7_919 * epoch) % (2**31 - 1)).permutation(n)
    rows = np.sort(cached_perm[index * batch_size:(index + 1) * batch_size])
    # take() gathers whole rows of a multi-dimensional array about twice as fast as fancy indexing (same copy).
    batch = {k: v.take(rows, axis=0) if isinstance(v, np.ndarray) and v.ndim > 1 else v[rows]
             for k, v in arrays.items()}
    if transform is not None:
      batch = transform(batch, np.random.RandomState((seed + 104_729 * step) % (2**31 - 1)))
    batch.setdefault('weights', np.ones(batch_size, dtype=np.float32))
    yield batch
    step += 1


def eval_batches(arrays: Batch, batch_size: int, num_examples: Optional[int] = None,
                 pad_to: Optional[int] = None) -> Iterator[Batch]:
  """The first `num_examples` rows in order; every batch has `pad_to` (default batch_size) rows."""
  n = len(next(iter(arrays.values())))
  num_examples = n if num_examples is None else min(num_examples, n)
  pad_to = pad_to or batch_size
  for start in range(0, num_examples, batch_size):
    stop = min(start + batch_size, num_examples)
    batch = {}
    for key, value in arrays.items():
      chunk = np.array(value[start:stop])  # A copy: the arrays may be a process-wide cache (Criteo's).
      if stop - start < pad_to:
        pad = np.zeros((pad_to - (stop - start),) + value.shape[1:], dtype=value.dtype)
        chunk = np.concatenate([chunk, pad])
      batch[key] = chunk
    weights = np.zeros(pad_to, dtype=np.float32)
    weights[:stop - start] = 1.0
    batch['weights'] = weights
    yield batch
