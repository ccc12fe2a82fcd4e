"""WMT de->en from line-aligned text files: <data_dir>/wmt/{train,validation,test}.{de,en}.

German is the source ('inputs'), English the target ('targets'); both are SentencePiece ids ending in
EOS. Training examples longer than `max_len` tokens on either side are dropped (as upstream) and the rest
are packed into rows of `max_len` tokens (packing.py), once, in file order; the training stream then
shuffles whole rows per epoch (array_pipeline), so batch k is a pure function of (seed, k). Upstream
shuffles examples before packing, in a stream; the difference is which examples share a row.
Eval examples are not packed; they are truncated to `max_len` (the last kept token becomes EOS) so that
every split keeps its size, and padded with 0. Token weights are `targets > 0`. With `max_tokens` (lite), a
split's eval examples are instead its first pairs whose two sides both fit in that many tokens, in rows that wide.
"""
import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from workloads.common import array_pipeline
from workloads.wmt import model_config
from workloads.wmt import packing
from workloads.wmt.tokenizer import MAKE_DATASETS, Tokenizer

SPLIT_FILES = {'train': 'train', 'eval_train': 'train', 'validation': 'validation', 'test': 'test'}
LANGUAGES = ('de', 'en')  # (source, target).


def dataset_dir(data_dir: str) -> str:
  return os.path.join(os.path.expanduser(data_dir), 'wmt')


def text_path(data_dir: str, split: str, lang: str) -> str:
  return os.path.join(dataset_dir(data_dir), f'{SPLIT_FILES[split]}.{lang}')


def read_pairs(data_dir: str, split: str, num_examples: Optional[int]) -> Tuple[List[str], List[str]]:
  """The first `num_examples` (None: all) (German, English) lines of a split; checks the files are line-aligned."""
  sides = []
  for lang in LANGUAGES:
    path = text_path(data_dir, split, lang)
    if not os.path.exists(path):
      raise FileNotFoundError(f'WMT file {path} not found; build the dataset with: '
                              + MAKE_DATASETS.format(data_dir=data_dir))
    with open(path, encoding='utf-8') as f:
      sides.append(f.read().split('\n'))
    if sides[-1] and sides[-1][-1] == '':
      sides[-1].pop()
  source, target = sides
  if len(source) != len(target):
    name = SPLIT_FILES[split]
    raise ValueError(f'{dataset_dir(data_dir)}: {name}.de has {len(source)} lines but {name}.en has '
                     f'{len(target)}; rebuild with ' + MAKE_DATASETS.format(data_dir=data_dir))
  if num_examples is None:
    return source, target
  if len(source) < num_examples:
    raise ValueError(f'{dataset_dir(data_dir)} holds {len(source)} {SPLIT_FILES[split]} pairs, but this scale needs '
                     f'{num_examples}; choose the scale that matches the data (--scale=lite for the DDTP pairs '
                     'tools:make_datasets builds) or provide more data.')
  return source[:num_examples], target[:num_examples]


def truncate(ids: np.ndarray, max_len: int) -> np.ndarray:
  if len(ids) <= max_len:
    return ids
  out = ids[:max_len].copy()
  out[-1] = model_config.EOS_ID
  return out


def pad(sequences: Sequence[np.ndarray], max_len: int) -> np.ndarray:
  out = np.zeros((len(sequences), max_len), np.int32)
  for i, ids in enumerate(sequences):
    out[i, :len(ids)] = ids
  return out


def token_weights(targets: np.ndarray) -> np.ndarray:
  return (targets > 0).astype(np.float32)


def packed_train_rows(data_dir: str, tokenizer: Tokenizer, num_examples: int, max_len: int) -> Dict[str, np.ndarray]:
  source, target = read_pairs(data_dir, 'train', num_examples)
  inputs, targets = tokenizer.encode(source), tokenizer.encode(target)
  keep = [i for i in range(len(inputs)) if len(inputs[i]) <= max_len and len(targets[i]) <= max_len]
  rows = packing.pack([inputs[i] for i in keep], [targets[i] for i in keep], max_len)
  rows['weights'] = token_weights(rows['targets'])
  return rows


def eval_arrays(data_dir: str, split: str, tokenizer: Tokenizer, num_examples: int, max_len: int,
                max_tokens: Optional[int] = None) -> Dict[str, np.ndarray]:
  if max_tokens is None:
    source, target = read_pairs(data_dir, split, num_examples)
    inputs, targets = tokenizer.encode(source), tokenizer.encode(target)
  else:
    inputs, targets = short_pairs(data_dir, split, tokenizer, num_examples, max_tokens)
  width = max_tokens or max_len  # Short pairs need no wider rows: the encoder and beam search run on fewer positions.
  return {
      'inputs': pad([truncate(ids, width) for ids in inputs], width),
      'targets': pad([truncate(ids, width) for ids in targets], width),
  }


def short_pairs(data_dir: str, split: str, tokenizer: Tokenizer, num_examples: int, max_tokens: int,
                chunk: int = 1024) -> Tuple[List[np.ndarray], List[np.ndarray]]:
  """The ids of the first `num_examples` pairs of a split whose source and target both have at most
  `max_tokens` tokens (EOS included), in file order."""
  source, target = read_pairs(data_dir, split, None)
  inputs, targets = [], []
  for start in range(0, len(source), chunk):  # Tokenizes only as far as needed (the train file is long).
    for src, tgt in zip(tokenizer.encode(source[start:start + chunk]), tokenizer.encode(target[start:start + chunk])):
      if len(src) <= max_tokens and len(tgt) <= max_tokens:
        inputs.append(src)
        targets.append(tgt)
    if len(inputs) >= num_examples:
      return inputs[:num_examples], targets[:num_examples]
  raise ValueError(f'{dataset_dir(data_dir)}: only {len(inputs)} {SPLIT_FILES[split]} pairs have both sides within '
                   f'{max_tokens} tokens, but this scale evaluates {num_examples}; rebuild the dataset with '
                   + MAKE_DATASETS.format(data_dir=data_dir))


def train_batches(rows: Dict[str, np.ndarray], batch_size: int, seed: int, start_step: int = 0) -> Iterator[Dict]:
  return array_pipeline.train_batches(rows, batch_size, seed, start_step=start_step)


def eval_batches(arrays: Dict[str, np.ndarray], batch_size: int) -> Iterator[Dict]:
  """Padded batches in order; the padding rows have no tokens, so their weights are 0."""
  for batch in array_pipeline.eval_batches(arrays, batch_size):
    batch['weights'] = token_weights(batch['targets'])
    yield batch
