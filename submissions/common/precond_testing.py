"""Test helpers shared by the Shampoo and CASPR tests: small random problems and single-tensor runs of the
optimizers in both frameworks (the kernel switch passed explicitly)."""
import jax
import jax.numpy as jnp
import numpy as np
import torch

from submissions.common import jax_caspr
from submissions.common import jax_shampoo
from submissions.common import torch_caspr
from submissions.common import torch_shampoo

STEPS = 20

# Small Shampoo configurations (roots every 5 steps, blocks of <= 4).
SHAMPOO_BASE = dict(learning_rate=0.01, one_minus_beta1=0.1, one_minus_beta2=0.05, epsilon=1e-8, one_minus_momentum=0.5,
            use_momentum=True, weight_decay=0.01, max_preconditioner_dim=4, precondition_frequency=5,
            start_preconditioning_step=-1, inv_root_override=0, exponent_multiplier=1.0, grafting_type='ADAM',
            grafting_epsilon=1e-8, use_nadam=True, warmup_factor=0.1, step_hint_factor=1.0)
# Config 1's form (Adam grafting, NAdam, no momentum); config 3's (SGD grafting, beta1 = 0, momentum);
# config 4's (inverse square roots on every side), each on small blocks.
SHAMPOO_CASES = {
    'adam_nadam': dict(use_momentum=False),
    'sgd_graft_beta1_0': dict(one_minus_beta1=1.0, grafting_type='SGD', use_nadam=False, learning_rate=0.05),
    'root_override_2': dict(inv_root_override=2),
    'no_nadam_start_7': dict(use_nadam=False, start_preconditioning_step=7),
}

# A small CASPR configuration (roots every 5 steps, preconditioning from step 7).
CASPR_BASE = dict(learning_rate=0.01, one_minus_beta1=0.1, beta2=0.95, weight_decay=0.01, warmup_factor=0.1,
                  precondition_frequency=5, start_preconditioning_step=6)

def data(shape, seed=0):
  rng = np.random.default_rng(seed)
  w0 = rng.standard_normal(shape).astype(np.float32)
  grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(STEPS)]
  lrs = [0.01 * (1 + 0.1 * i) for i in range(STEPS)]
  return w0, grads, lrs


def torch_steps(opt, p, grads, lrs):
  """Steps a single-parameter torch optimizer through the gradients and rates; the weights after each step."""
  out = []
  for g, lr in zip(grads, lrs):
    p.grad = torch.from_numpy(g.copy())
    opt.param_groups[0]['lr'] = lr
    opt.step()
    out.append(p.detach().numpy().copy())
  return out


def run_torch_shampoo(cfg, w0, grads, lrs, use_kernels, kind='other'):
  p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
  opt = torch_shampoo.Shampoo([('w', p, kind)], cfg, use_kernels=use_kernels)
  return torch_steps(opt, p, grads, lrs), opt


def run_jax_shampoo(cfg, w0, grads, lrs, use_kernels):
  params = {'w': jnp.asarray(w0)}
  opt = jax_shampoo.Shampoo(params, cfg, use_kernels=use_kernels)
  state = opt.init(params)
  update = jax.jit(opt.update, static_argnames=('precondition_now', 'roots_now'))
  out = []
  for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
    params, state = update({'w': jnp.asarray(g)}, state, params, lr,
                           precondition_now=t >= cfg.start_preconditioning_step, roots_now=cfg.root_due(t))
    out.append(np.asarray(params['w']))
  return out, opt, state


def assert_close(got, want, rtol):
  for t, (g, w) in enumerate(zip(got, want), start=1):
    w = np.asarray(w).reshape(g.shape)
    err = np.max(np.abs(g - w)) / np.max(np.abs(w))
    assert err < rtol, f'step {t}: relative error {err:.2e}'


def run_torch_caspr(cfg, w0, grads, lrs, use_kernels, kind='other'):
  """kind 'torch_dense' with transposed w0/grads shows a torch Linear weight to the Flax-layout plan."""
  p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
  opt = torch_caspr.Caspr([('w', p, kind)], cfg, use_kernels=use_kernels)
  return torch_steps(opt, p, grads, lrs), opt


def run_jax_caspr(cfg, w0, grads, lrs):
  params = {'w': jnp.asarray(w0)}
  opt = jax_caspr.Caspr(params, cfg)
  state = opt.init(params)
  update = jax.jit(opt.update, static_argnames=('precondition_now', 'roots_now', 'fresh'))
  out = []
  for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
    params, state = update({'w': jnp.asarray(g)}, state, params, lr, precondition_now=t > cfg.start_preconditioning_step,
                           roots_now=cfg.root_due(t), fresh=cfg.fresh(t))
    out.append(np.asarray(params['w']))
  return out, opt, state

