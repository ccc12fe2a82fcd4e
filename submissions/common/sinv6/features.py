"""Sinv6's learned scheduler, framework-neutral: constants, the 18 input features and the weight tree.

spec/submissions.md §3.4/3.5. One home for everything the JAX and PyTorch twins (jax_sinv6.py,
torch_sinv6.py), the numpy reference (reference.py) and tools/meta_train.py share.

One optimizer step, given the gradients g and the batch's mean training loss:
 1. g <- clip(g, -1000, 1000); the loss buffer takes the loss (below).
 2. x (18 numbers) = 9 fraction features tanh(10 (f - tau_j)), f = iteration / num_steps (iteration counts
    updates already applied, so the first update sees f = 0), followed by 9 loss features from the buffer.
 3. The network (below) maps x and the LSTM state to lr_mult, clipped to [1e-5, 1e3].
 4. m <- 0.9 m + 0.1 g; rms <- 0.999 rms + 0.001 g^2 (no bias correction).
 5. p <- p - (0.001 lr_mult RMS(p)) m / (1e-8 + sqrt(rms + 1e-10)), RMS(p) = sqrt(mean(p^2) + 1e-9) per tensor.

Loss buffer (10 EMAs, half-lives logspace(1, log10(num_steps), 10), decay = exp(-1/half-life)), with k the
number of losses seen before this one:
  cap = 2 |max_j means_j / (1 - d_j^(k+1))| (the current loss itself when k = 0); loss <- min(loss, cap)
  means <- d means + (1 - d) loss;  running_min <- min(running_min, means / (1 - d^(k+1)));  k <- k + 1
(the cap divides the old means by 1 - d^(k+1), not 1 - d^k: a published quirk, kept). Loss features, with
c = means / (1 - d^k) after the update: clip((c_j - min_j) / max(1e-8, c_{j+1} - min_j) - 1, -1, 1) for
j = 0..8, and all 0 while k <= 2.

Network (haiku names; every tensor gets the same x and the same initial state, so the published per-tensor
LSTM yields one global lr_mult, and the max over tensors of identical rows is that row: the twins compute
one row, which gives the same numbers at a fraction of the cost):
  linear   : relu(x W + b), computed and discarded as published (its weights exist in the tree)
  linear_1 : h = relu(x W + b);  v = max over tensors of h (= h)
  linear_2 : x' = x W + b + v
  rnn/linear (haiku LSTM): [i, g, f, o] = split([x', hidden] W + b, 4); c = sigmoid(f + 1) c + sigmoid(i) tanh(g);
             hidden = sigmoid(o) tanh(c)
  step_size: lr_mult = hidden W + b
The LSTM starts from the learned `lstm_init_state`.

Not carried over: the published state also holds Adafactor-style factored accumulators and per-tensor
feature EMAs that the update never reads (their lines are commented out upstream); they would only cost memory.
"""
from typing import Dict, Tuple

import numpy as np

NUM_FEATURES = 18
HIDDEN = 64
TIMESCALES = np.asarray([0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1], np.float32)
NUM_LOSS_EMAS = 10
GRAD_CLIP = 1000.0
MOMENTUM_DECAY = 0.9
RMS_DECAY = 0.999
STEP_MULT = 0.001
UPDATE_EPS = 1e-8
UPDATE_EPS_ROOT = 1e-10
PARAM_RMS_EPS = 1e-9
LR_MULT_MIN = 1e-5
LR_MULT_MAX = 1e3
RUNNING_MIN_INIT = 999999999999.0
FORGET_BIAS = 1.0

# The published weight tree (flax msgpack, 36,865 fp32 numbers): path -> shape.
WEIGHT_SHAPES: Dict[Tuple[str, ...], Tuple[int, ...]] = {
    ('lstm_init_state', 'cell'): (1, HIDDEN),
    ('lstm_init_state', 'hidden'): (1, HIDDEN),
    ('rnn_params', 'linear', 'b'): (HIDDEN,),
    ('rnn_params', 'linear', 'w'): (NUM_FEATURES, HIDDEN),
    ('rnn_params', 'linear_1', 'b'): (HIDDEN,),
    ('rnn_params', 'linear_1', 'w'): (NUM_FEATURES, HIDDEN),
    ('rnn_params', 'linear_2', 'b'): (HIDDEN,),
    ('rnn_params', 'linear_2', 'w'): (NUM_FEATURES, HIDDEN),
    ('rnn_params', 'rnn/linear', 'b'): (4 * HIDDEN,),
    ('rnn_params', 'rnn/linear', 'w'): (2 * HIDDEN, 4 * HIDDEN),
    ('rnn_params', 'step_size', 'b'): (1,),
    ('rnn_params', 'step_size', 'w'): (HIDDEN, 1),
}
NUM_WEIGHTS = 36_865


def num_steps_for(step_hint: int, fraction: float) -> int:
  """The horizon the scheduler plans for: step_hint (Sinv6) or int(0.75 step_hint) (Sinv6 75)."""
  return max(int(fraction * step_hint), 1)


def loss_decays(num_steps: int) -> np.ndarray:
  """The 10 loss-EMA decays exp(-1/half-life), half-lives logspace(1, log10(num_steps), 10), as float32.

  Computed once in float64 and rounded, so both frameworks use the same bits.
  """
  if num_steps < 1:
    raise ValueError(f'Sinv6: num_steps must be >= 1, got {num_steps}.')
  half_lives = np.logspace(1.0, np.log10(float(num_steps)), NUM_LOSS_EMAS)
  return np.exp(-1.0 / half_lives).astype(np.float32)


def flat_weights(tree) -> Dict[Tuple[str, ...], np.ndarray]:
  """path -> array for every leaf of a nested dict (the published tree's paths)."""
  out = {}

  def walk(node, path):
    if isinstance(node, dict):
      for key in sorted(node):
        walk(node[key], path + (key,))
    else:
      out[path] = node

  walk(tree, ())
  return out


def nest_weights(flat: Dict[Tuple[str, ...], np.ndarray]) -> dict:
  tree: dict = {}
  for path, value in flat.items():
    node = tree
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = value
  return tree


def init_weights(seed: int, lr_mult_bias: float = 10.0) -> dict:
  """Fresh weights in the published layout: haiku's default Linear init (truncated normal, stddev
  1/sqrt(fan_in), zero bias), zero LSTM initial state, and a step_size layer that starts at a constant
  lr_mult of `lr_mult_bias` (meta-training's starting point)."""
  rng = np.random.default_rng(seed)
  flat = {}
  for path, shape in WEIGHT_SHAPES.items():
    if path[0] == 'lstm_init_state' or path[-1] == 'b':
      flat[path] = np.zeros(shape, np.float32)
    else:
      std = 1.0 / np.sqrt(shape[0])
      draw = rng.standard_normal(shape)
      while np.any(np.abs(draw) > 2):
        bad = np.abs(draw) > 2
        draw[bad] = rng.standard_normal(int(bad.sum()))
      flat[path] = (draw * std / 0.87962566).astype(np.float32)
  flat[('rnn_params', 'step_size', 'w')] *= 0.1
  flat[('rnn_params', 'step_size', 'b')][:] = lr_mult_bias
  return nest_weights(flat)
