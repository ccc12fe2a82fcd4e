"""The Conformer's fixed sinusoidal position signal (no parameters), shared by both frameworks."""
import numpy as np


def sinusoidal_positions(length: int, dim: int) -> np.ndarray:
  """(1, length, dim): [sin | cos] of the positions over dim // 2 timescales from 1 to 10,000."""
  num_timescales = dim // 2
  increment = np.log(10_000.0) / max(num_timescales - 1, 1)
  inv_timescales = np.exp(np.arange(num_timescales) * -increment)
  scaled = np.arange(length)[:, None] * inv_timescales[None, :]
  signal = np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1)
  return np.pad(signal, [(0, 0), (0, dim % 2)])[None].astype(np.float32)
