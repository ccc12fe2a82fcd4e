"""Criteo 1TB click logs from their TSV files: `label \\t I1..I13 \\t C1..C26`, one impression a line.

Files as the AlgoPerf setup leaves them: `day_<d>_<nn>` chunks. Days 0-22 are train (and eval_train);
of the 36 `day_23_<nn>` files, 00-18 are test and 19-35 validation.

Each line becomes 39 float32 inputs: the 13 integers as log(relu(x) + 1), then the 26 categorical tokens
hashed as upstream does (TensorFlow's to_hash_bucket_fast: FarmHash Fingerprint64 of the token with its
column index appended, modulo that column's published Criteo cardinality). Missing values (empty, or
'-1') read as 0 and '00000000'.

Difference from upstream, on purpose: upstream casts the hashed ids (up to 40M) to float32, which rounds
ids above 2**24 onto their neighbours. We first reduce them modulo the full table size 2**22, which the
model's own `id % vocab_size` makes a no-op for every power-of-two table up to 2**22, so ids stay exact.
"""
import glob
import itertools
import os
import re
from typing import Dict, Iterator, List, Optional

import numpy as np

from algoperf import data_utils
from workloads.criteo1tb import farmhash

NUM_DENSE_FEATURES = 13
NUM_SPARSE_FEATURES = 26
NUM_COLUMNS = 1 + NUM_DENSE_FEATURES + NUM_SPARSE_FEATURES
NUM_DAY_23_FILES = 36
NUM_TEST_FILES = NUM_DAY_23_FILES // 2 + 1  # day_23_00..18.
NUM_TRAIN_DAYS = 23
# The published per-column cardinalities of Criteo 1TB: the hash-bucket count of each categorical column.
VOCAB_SIZES = (39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10, 2208,
               11938, 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36)
ID_MODULUS = 2**22
_MISSING = (b'', b'-1')
_MISSING_TOKEN = b'00000000'
MAKE_DATASETS = 'bazel run //tools:make_datasets -- --dataset=criteo1tb --data_dir={data_dir}'

Batch = Dict[str, np.ndarray]


def dataset_dir(data_dir: str) -> str:
  """<data_dir>/criteo1tb, or data_dir itself when it already holds the day files (upstream's layout)."""
  data_dir = os.path.expanduser(data_dir)
  if glob.glob(os.path.join(data_dir, f'day_{NUM_TRAIN_DAYS}_*')):
    return data_dir
  return os.path.join(data_dir, 'criteo1tb')


def _chunk_number(path: str) -> int:
  match = re.search(r'_(\d+)$', os.path.basename(path))
  return int(match.group(1)) if match else -1


def split_files(data_dir: str, split: str) -> List[str]:
  """The split's files in reading order; FileNotFoundError naming the build command if any are missing."""
  directory = dataset_dir(data_dir)
  if split in ('train', 'eval_train'):
    files = []
    for day in range(NUM_TRAIN_DAYS):
      files += sorted(glob.glob(os.path.join(directory, f'day_{day}_*')), key=_chunk_number)
  elif split in ('validation', 'test'):
    chunks = range(NUM_TEST_FILES, NUM_DAY_23_FILES) if split == 'validation' else range(NUM_TEST_FILES)
    files = [os.path.join(directory, f'day_{NUM_TRAIN_DAYS}_{i:02d}') for i in chunks]
    files = [f for f in files if os.path.exists(f)]
  else:
    raise ValueError(f'Unknown split {split!r}; use train, eval_train, validation or test.')
  if not files:
    raise FileNotFoundError(
        f'No Criteo {split} files (day_<d>_<nn>) in {directory}; build the dataset with: '
        + MAKE_DATASETS.format(data_dir=data_dir))
  return files


def _numbers(column: np.ndarray) -> np.ndarray:
  values = column.copy()
  values[np.isin(values, _MISSING)] = b'0'
  return values.astype(np.float64)


def hash_column(column: np.ndarray, index: int) -> np.ndarray:
  """Bucket ids of one categorical column (bytes array), as to_hash_bucket_fast(token + str(index),
  VOCAB_SIZES[index]), reduced modulo ID_MODULUS."""
  column = np.asarray(column, dtype=np.bytes_).copy()
  column[np.isin(column, _MISSING)] = _MISSING_TOKEN
  suffix = np.frombuffer(str(index).encode(), dtype=np.uint8)
  lengths = np.char.str_len(column)
  ids = np.empty(len(column), dtype=np.uint64)
  for length in np.unique(lengths):
    rows = lengths == length
    body = np.frombuffer(column[rows].astype(f'S{length}').tobytes(), dtype=np.uint8).reshape(-1, length)
    data = np.concatenate([body, np.broadcast_to(suffix, (len(body), len(suffix)))], axis=1)
    ids[rows] = farmhash.fingerprint64_rows(data)
  return (ids % np.uint64(VOCAB_SIZES[index])) % np.uint64(ID_MODULUS)


def parse_lines(lines: List[bytes]) -> Batch:
  """TSV lines -> {'inputs': float32 (n, 39), 'targets': float32 (n,)}."""
  n = len(lines)
  if not n:
    return {'inputs': np.zeros((0, NUM_COLUMNS - 1), np.float32), 'targets': np.zeros((0,), np.float32)}
  text = b'\t'.join(line.rstrip(b'\r\n') for line in lines)
  fields = text.split(b'\t')
  if len(fields) != n * NUM_COLUMNS:
    for i, line in enumerate(lines):
      num_fields = line.count(b'\t') + 1
      if num_fields != NUM_COLUMNS:
        raise ValueError(f'Criteo line {i + 1} of a block has {num_fields} tab-separated fields, expected '
                         f'{NUM_COLUMNS} (label, {NUM_DENSE_FEATURES} integers, {NUM_SPARSE_FEATURES} categories).')
  table = np.array(fields, dtype=np.bytes_).reshape(n, NUM_COLUMNS)
  targets = _numbers(table[:, 0]).astype(np.float32)
  dense = _numbers(table[:, 1:1 + NUM_DENSE_FEATURES]).astype(np.float32)
  dense = np.log(np.maximum(dense, 0.0) + 1.0)
  sparse = np.stack([hash_column(table[:, 1 + NUM_DENSE_FEATURES + j], j) for j in range(NUM_SPARSE_FEATURES)],
                    axis=1).astype(np.float32)
  return {'inputs': np.concatenate([dense, sparse], axis=1), 'targets': targets}


def _lines(files: List[str]) -> Iterator[bytes]:
  for path in files:
    with open(path, 'rb') as f:
      for line in f:
        if line.strip():
          yield line


def iter_blocks(files: List[str], block_rows: int, max_rows: Optional[int] = None) -> Iterator[Batch]:
  """Parsed blocks of `block_rows` lines (the last may be shorter), in file order."""
  lines = _lines(files)
  if max_rows is not None:
    lines = itertools.islice(lines, max_rows)
  while True:
    block = list(itertools.islice(lines, block_rows))
    if not block:
      return
    yield parse_lines(block)


def read_rows(files: List[str], max_rows: Optional[int] = None) -> Batch:
  """The first `max_rows` rows of the files (all if None) as one batch of arrays."""
  blocks = list(iter_blocks(files, 1 << 16, max_rows))
  if not blocks:
    return parse_lines([])
  return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


def _window_seed(seed: int, epoch: int, window: int) -> int:
  return (seed * 1_000_003 + epoch * 7_919 + window * 104_729) % (2**31 - 1)


def stream_train_batches(files: List[str], batch_size: int, seed: int, start_step: int = 0,
                         window_rows: int = 1 << 20) -> Iterator[Batch]:
  """Training batches from files too large to hold: per epoch, a seeded file order, rows shuffled within
  windows of `window_rows`, full batches only (the epoch's remainder is dropped, as upstream).

  A pure function of (seed, step); resuming at `start_step` reads (and drops) the batches before it.
  """
  step, epoch = 0, 0
  while True:
    order = np.random.RandomState((seed + 7_919 * epoch) % (2**31 - 1)).permutation(len(files))
    pending = None
    for window, block in enumerate(iter_blocks([files[i] for i in order], window_rows)):
      perm = np.random.RandomState(_window_seed(seed, epoch, window)).permutation(len(block['targets']))
      block = {k: v[perm] for k, v in block.items()}
      if pending is not None:
        block = {k: np.concatenate([pending[k], block[k]]) for k in block}
      n = len(block['targets'])
      for start in range(0, n - batch_size + 1, batch_size):
        if step >= start_step:
          batch = {k: v[start:start + batch_size] for k, v in block.items()}
          batch['weights'] = np.ones(batch_size, np.float32)
          yield batch
        step += 1
      pending = {k: v[n - n % batch_size:] for k, v in block.items()}
    if step == 0 and pending is not None:
      raise ValueError(f'The batch size {batch_size} is larger than the training files hold.')
    epoch += 1


def stream_eval_batches(files: List[str], batch_size: int, num_examples: int) -> Iterator[Batch]:
  """The first `num_examples` rows in order, in batches padded to `batch_size` with a 0/1 'weights' mask."""
  for block in iter_blocks(files, batch_size, num_examples):
    yield data_utils.pad_batch(block, batch_size)
