"""Sinv6 in JAX: the LSTM scheduler as a flax module, its pure step, and the per-parameter update.

The math and its quirks are described once in features.py; this file is the JAX spelling. Everything is a
pure function of explicit state, so the same code runs inside the submission's jitted train step and,
vmapped over a population of weights, inside tools/meta_train.py.
"""
from typing import Any, NamedTuple, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from submissions.common.sinv6 import features as F

# Published tree name -> flax submodule name (flax names cannot hold '/').
_MODULE_NAMES = {'linear': 'linear', 'linear_1': 'linear_1', 'linear_2': 'linear_2', 'rnn/linear': 'rnn_linear',
                 'step_size': 'step_size'}


class Sinv6Network(nn.Module):
  """x [rows, 18], LSTM (hidden, cell) [rows, 64] -> lr_mult [rows] (unclipped), new (hidden, cell).

  Rows are parameter tensors; the published network shares information between them only through the max.
  """

  @nn.compact
  def __call__(self, x, hidden, cell):
    del_ = nn.relu(nn.Dense(F.HIDDEN, name='linear')(x))  # computed and discarded, as published
    del del_
    mix = nn.relu(nn.Dense(F.HIDDEN, name='linear_1')(x))
    v = jnp.max(mix, axis=0, keepdims=True)
    x = nn.Dense(F.HIDDEN, name='linear_2')(x) + v
    gated = nn.Dense(4 * F.HIDDEN, name='rnn_linear')(jnp.concatenate([x, hidden], axis=-1))
    i, g, f, o = jnp.split(gated, 4, axis=-1)
    cell = jax.nn.sigmoid(f + F.FORGET_BIAS) * cell + jax.nn.sigmoid(i) * jnp.tanh(g)
    hidden = jax.nn.sigmoid(o) * jnp.tanh(cell)
    lr_mult = nn.Dense(1, name='step_size')(hidden)[..., 0]
    return lr_mult, hidden, cell


NETWORK = Sinv6Network()


def flax_params(tree: dict) -> dict:
  """The published tree (features.WEIGHT_SHAPES) as flax params of Sinv6Network."""
  rnn = tree['rnn_params']
  return {'params': {name: {'kernel': jnp.asarray(rnn[key]['w']), 'bias': jnp.asarray(rnn[key]['b'])}
                     for key, name in _MODULE_NAMES.items()}}


def published_tree(params: dict, init_hidden, init_cell) -> dict:
  """Inverse of flax_params (plus the LSTM's initial state): the tree meta_train writes."""
  inner = params['params']
  return {
      'lstm_init_state': {'cell': np.asarray(init_cell), 'hidden': np.asarray(init_hidden)},
      'rnn_params': {key: {'b': np.asarray(inner[name]['bias']), 'w': np.asarray(inner[name]['kernel'])}
                     for key, name in _MODULE_NAMES.items()},
  }


class SchedulerState(NamedTuple):
  iteration: jnp.ndarray    # int32: updates already applied (= losses the buffer has seen)
  num_steps: jnp.ndarray    # float32: the horizon f is measured against
  decays: jnp.ndarray       # [10] loss-EMA decays
  means: jnp.ndarray        # [10] loss EMAs (not bias-corrected)
  running_min: jnp.ndarray  # [10] running minima of the bias-corrected EMAs
  hidden: jnp.ndarray       # [1, 64] LSTM state (one row: see features.py)
  cell: jnp.ndarray


class Weights(NamedTuple):
  params: Any               # flax params of Sinv6Network
  init_hidden: jnp.ndarray  # [1, 64]
  init_cell: jnp.ndarray


def to_weights(tree: dict) -> Weights:
  return Weights(flax_params(tree), jnp.asarray(tree['lstm_init_state']['hidden']),
                 jnp.asarray(tree['lstm_init_state']['cell']))


def init_scheduler(weights: Weights, num_steps: int) -> SchedulerState:
  decays = jnp.asarray(F.loss_decays(num_steps))
  return SchedulerState(
      iteration=jnp.zeros([], jnp.int32), num_steps=jnp.asarray(num_steps, jnp.float32), decays=decays,
      means=jnp.zeros([F.NUM_LOSS_EMAS], jnp.float32),
      running_min=jnp.full([F.NUM_LOSS_EMAS], F.RUNNING_MIN_INIT, jnp.float32),
      # Copies: the state is donated to the jitted step, the weights are not.
      hidden=jnp.array(weights.init_hidden, jnp.float32, copy=True),
      cell=jnp.array(weights.init_cell, jnp.float32, copy=True))


def _update_loss_buffer(state: SchedulerState, loss) -> Tuple[jnp.ndarray, jnp.ndarray]:
  d = state.decays
  correction = 1.0 - d**(state.iteration + 1).astype(jnp.float32)
  cap = jnp.where(state.iteration == 0, loss, jnp.max(state.means / correction))
  loss = jnp.minimum(jnp.abs(cap) * 2.0, loss)
  means = state.means * d + loss * (1.0 - d)
  running_min = jnp.minimum(state.running_min, means / correction)
  return means, running_min


def input_features(iteration, num_steps, decays, means, running_min) -> jnp.ndarray:
  """The 18 features [9 fraction, 9 loss]; `iteration` counts updates before this one, and the buffer
  (means, running_min) already holds this step's loss."""
  fraction = iteration.astype(jnp.float32) / num_steps
  frac = jnp.tanh((fraction - jnp.asarray(F.TIMESCALES)) * 10.0)
  seen = iteration + 1
  corrected = means / (1.0 - decays**seen.astype(jnp.float32))
  den = jnp.maximum(1e-8, corrected[1:] - running_min[:-1])
  loss_feat = jnp.clip((corrected[:-1] - running_min[:-1]) / den - 1.0, -1.0, 1.0)
  loss_feat = jnp.where(seen <= 2, jnp.zeros_like(loss_feat), loss_feat)
  return jnp.concatenate([frac, loss_feat])


def scheduler_step(weights: Weights, state: SchedulerState, loss) -> Tuple[jnp.ndarray, SchedulerState]:
  """(lr_mult, new state) for one update whose batch had mean training loss `loss`."""
  loss = jnp.asarray(loss, jnp.float32)
  means, running_min = _update_loss_buffer(state, loss)
  x = input_features(state.iteration, state.num_steps, state.decays, means, running_min)[None, :]
  raw, hidden, cell = NETWORK.apply(weights.params, x, state.hidden, state.cell)
  lr_mult = jnp.clip(raw[0], F.LR_MULT_MIN, F.LR_MULT_MAX)
  return lr_mult, state._replace(iteration=state.iteration + 1, means=means, running_min=running_min,
                                 hidden=hidden, cell=cell)


def lr_mult_sequence(tree: dict, losses, num_steps: int) -> np.ndarray:
  """The lr multipliers the scheduler emits for a given sequence of training losses."""
  weights = to_weights(tree)

  def body(state, loss):
    lr_mult, state = scheduler_step(weights, state, loss)
    return state, lr_mult

  _, out = jax.lax.scan(body, init_scheduler(weights, num_steps), jnp.asarray(losses, jnp.float32))
  return np.asarray(out)


class Sinv6State(NamedTuple):
  scheduler: SchedulerState
  m: Any    # EMA of g, decay 0.9
  rms: Any  # EMA of g^2, decay 0.999


def init(weights: Weights, params, num_steps: int) -> Sinv6State:
  zeros = lambda p: jnp.zeros_like(p)
  return Sinv6State(init_scheduler(weights, num_steps), jax.tree.map(zeros, params), jax.tree.map(zeros, params))


def param_rms(p) -> jnp.ndarray:
  return jnp.sqrt(jnp.mean(jnp.square(p)) + F.PARAM_RMS_EPS)


def apply_moments(p, g, m, rms, scale):
  """The element-wise part: moments, then p - scale * m / (eps + sqrt(rms + eps_root)); scale per tensor."""
  m = F.MOMENTUM_DECAY * m + (1.0 - F.MOMENTUM_DECAY) * g
  rms = F.RMS_DECAY * rms + (1.0 - F.RMS_DECAY) * jnp.square(g)
  p = p - scale * (m / (F.UPDATE_EPS + jnp.sqrt(rms + F.UPDATE_EPS_ROOT)))
  return p, m, rms


def _kernel_step(p, g, m, v, scale):
  """The element-wise part on the fused kernels (op `sinv6`, which also clamps g): in place under a jit
  that donates params and state."""
  from algoperf_kernels import jax_ops  # pylint: disable=import-outside-toplevel
  hyper = dict(beta1=F.MOMENTUM_DECAY, beta2=F.RMS_DECAY, eps=F.UPDATE_EPS, eps_root=F.UPDATE_EPS_ROOT,
               clip=F.GRAD_CLIP)
  new = jax_ops.apply('sinv6', [[p], [g], [m], [v]], hyper, dict(scale=scale))
  return new[0][0], new[2][0], new[3][0]


def update(weights: Weights, grads, state: Sinv6State, params, loss, use_kernels: bool = False):
  """One Sinv6 step: (new params, new state, lr_mult). `use_kernels`: the element-wise part runs on
  //kernels:algoperf_kernels (one call per tensor, since each tensor has its own scale)."""
  if not use_kernels:
    grads = jax.tree.map(lambda g: jnp.clip(g, -F.GRAD_CLIP, F.GRAD_CLIP), grads)
  lr_mult, scheduler = scheduler_step(weights, state.scheduler, loss)
  flat_p, treedef = jax.tree.flatten(params)
  flat_g, flat_m, flat_v = (treedef.flatten_up_to(t) for t in (grads, state.m, state.rms))
  new_p, new_m, new_v = [], [], []
  for p, g, m, v in zip(flat_p, flat_g, flat_m, flat_v):
    scale = F.STEP_MULT * lr_mult * param_rms(p)
    p, m, v = (_kernel_step if use_kernels else apply_moments)(p, g, m, v, scale)
    new_p.append(p)
    new_m.append(m)
    new_v.append(v)
  unflat = lambda leaves: jax.tree.unflatten(treedef, leaves)
  return unflat(new_p), Sinv6State(scheduler, unflat(new_m), unflat(new_v)), lr_mult
