"""Packing several (inputs, targets) examples into each fixed-length training row, as upstream's WMT.

Examples go in order into the current row while both sides still fit, otherwise a new row starts.
Each row holds the tokens, a segment id per token (1, 2, ... per example; 0 is padding) and the
position of each token inside its example, so attention stays inside an example and positions restart.
"""
from typing import Dict, List, Sequence

import numpy as np

KEYS = ('inputs', 'targets')


def pack(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], length: int) -> Dict[str, np.ndarray]:
  """Greedy packing of example pairs, each side at most `length` tokens, into rows of `length` tokens."""
  rows: List[List[int]] = []  # Example indices per row.
  used = [length + 1, length + 1]
  for i, (source, target) in enumerate(zip(inputs, targets)):
    if len(source) > length or len(target) > length:
      raise ValueError(f'Example {i} has {len(source)} input and {len(target)} target tokens; pack() takes '
                       f'examples of at most {length} (filter or truncate them first).')
    if used[0] + len(source) > length or used[1] + len(target) > length:
      rows.append([])
      used = [0, 0]
    rows[-1].append(i)
    used[0] += len(source)
    used[1] += len(target)
  out = {}
  for key, sequences in zip(KEYS, (inputs, targets)):
    tokens = np.zeros((len(rows), length), np.int32)
    segmentation = np.zeros((len(rows), length), np.int32)
    position = np.zeros((len(rows), length), np.int32)
    for r, members in enumerate(rows):
      start = 0
      for segment, i in enumerate(members, start=1):
        n = len(sequences[i])
        tokens[r, start:start + n] = sequences[i]
        segmentation[r, start:start + n] = segment
        position[r, start:start + n] = np.arange(n)
        start += n
    out[key] = tokens
    out[f'{key}_segmentation'] = segmentation
    out[f'{key}_position'] = position
  return out
