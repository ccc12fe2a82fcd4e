"""The SentencePiece vocabulary of the LibriSpeech workloads (trained by tools:make_datasets).

Id 0 is <pad>, the CTC blank, and never the encoding of text; 1 is <unk>; there is no bos/eos.
"""
import functools
import os
from typing import Sequence

import numpy as np

MAKE_DATASETS = 'bazel run //tools:make_datasets -- --dataset=librispeech --data_dir={data_dir}'


def default_path(data_dir: str, vocab_size: int) -> str:
  return os.path.join(os.path.expanduser(data_dir), 'librispeech', f'spm_{vocab_size}.model')


@functools.lru_cache(maxsize=None)
def load(path: str):
  """A SentencePieceProcessor; raises FileNotFoundError naming the command that builds it."""
  if not os.path.exists(path):
    data_dir = os.path.dirname(os.path.dirname(path))
    raise FileNotFoundError(f'LibriSpeech tokenizer {path} not found; build the dataset with: '
                            + MAKE_DATASETS.format(data_dir=data_dir))
  import sentencepiece  # pylint: disable=import-outside-toplevel
  return sentencepiece.SentencePieceProcessor(model_file=path)


def encode(processor, text: str) -> np.ndarray:
  return np.asarray(processor.encode(text), dtype=np.int32)


def decode(processor, ids: Sequence[int]) -> str:
  """Text of token ids; the blank and ids beyond the vocabulary (a model's unused outputs) are dropped."""
  size = processor.get_piece_size()
  return processor.decode([int(i) for i in ids if 0 < int(i) < size])
