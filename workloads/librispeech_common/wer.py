"""Greedy CTC decoding and word error rate, on the host (numpy), shared by both frameworks.

WER is corpus-level, as upstream: the sum of word edit distances over the sum of reference words.
"""
from typing import Callable, Sequence, Tuple

import numpy as np


def collapse(frame_ids: np.ndarray, length: int, blank: int = 0) -> np.ndarray:
  """Greedy CTC: the best id per frame -> merge repeats, then drop blanks (a blank separates repeats)."""
  ids = np.asarray(frame_ids[:int(length)])
  if ids.size == 0:
    return ids
  keep = np.concatenate([[True], ids[1:] != ids[:-1]]) & (ids != blank)
  return ids[keep]


def edit_distance(hypothesis: Sequence[str], reference: Sequence[str]) -> int:
  """Levenshtein distance between two word lists (substitution, insertion, deletion cost 1)."""
  previous = list(range(len(reference) + 1))
  for i, word in enumerate(hypothesis, 1):
    current = [i] + [0] * len(reference)
    for j, ref_word in enumerate(reference, 1):
      current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != ref_word))
    previous = current
  return previous[-1]


def word_errors(frame_ids: np.ndarray, frame_paddings: np.ndarray, targets: np.ndarray,
                target_paddings: np.ndarray, weights: np.ndarray,
                detokenize: Callable[[Sequence[int]], str]) -> Tuple[float, float]:
  """(word errors, reference words) summed over the real rows (weights > 0) of one batch."""
  errors, words = 0.0, 0.0
  frame_lengths = np.sum(1.0 - np.asarray(frame_paddings), axis=-1)
  target_lengths = np.sum(1.0 - np.asarray(target_paddings), axis=-1)
  for i in np.nonzero(np.asarray(weights) > 0)[0]:
    hypothesis = detokenize(collapse(frame_ids[i], frame_lengths[i])).split()
    reference = detokenize(np.asarray(targets[i][:int(target_lengths[i])])).split()
    errors += edit_distance(hypothesis, reference)
    words += len(reference)
  return errors, words
