"""The SentencePiece vocabulary of the WMT workload: ids with EOS appended, and back to text.

Models are trained by tools:make_datasets (tools/datasets/wmt.py) into <data_dir>/wmt/spm_<vocab>.model:
pad 0, EOS 1, unknown 2, no BOS, shared by German and English.
"""
import os
from typing import List, Sequence

import numpy as np

from workloads.wmt import model_config

MAKE_DATASETS = 'bazel run //tools:make_datasets -- --dataset=wmt --data_dir={data_dir}'


def vocab_path(data_dir: str, vocab_size: int) -> str:
  return os.path.join(os.path.expanduser(data_dir), 'wmt', f'spm_{vocab_size}.model')


class Tokenizer:
  """Encodes text to int32 id arrays ending in EOS, and decodes ids up to the first EOS."""

  def __init__(self, path: str):
    import sentencepiece as spm  # pylint: disable=import-outside-toplevel
    if not os.path.exists(path):
      data_dir = os.path.dirname(os.path.dirname(path))
      raise FileNotFoundError(f'SentencePiece model {path} not found; build the WMT data with: '
                              + MAKE_DATASETS.format(data_dir=data_dir))
    self._sp = spm.SentencePieceProcessor(model_file=path)
    if self._sp.pad_id() != model_config.PAD_ID or self._sp.eos_id() != model_config.EOS_ID:
      raise ValueError(f'{path} has pad id {self._sp.pad_id()} and EOS id {self._sp.eos_id()}, expected '
                       f'{model_config.PAD_ID} and {model_config.EOS_ID}; rebuild it with tools:make_datasets.')

  @property
  def vocab_size(self) -> int:
    return self._sp.get_piece_size()

  def encode(self, lines: Sequence[str]) -> List[np.ndarray]:
    return [np.asarray(ids + [model_config.EOS_ID], dtype=np.int32) for ids in self._sp.encode(list(lines))]

  def decode(self, ids) -> str:
    """Text of the ids before the first EOS (padding 0s are dropped too)."""
    ids = [int(i) for i in np.asarray(ids).reshape(-1)]
    if model_config.EOS_ID in ids:
      ids = ids[:ids.index(model_config.EOS_ID)]
    return self._sp.decode([i for i in ids if i != model_config.PAD_ID])
