"""Distributed Shampoo: blocking, the update against a dense Kronecker reference, kernels against the plain
path, JAX against PyTorch, bad input, and the search space."""
import dataclasses
import logging
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from algoperf import tuning
from submissions.common import jax_shampoo
from submissions.common import precond_config
from submissions.common import precond_reference
from submissions.common import precond_testing
from submissions.common import shampoo_blocks
from submissions.common import torch_shampoo

FOLDER = os.path.dirname(os.path.abspath(__file__))

BASE = precond_testing.SHAMPOO_BASE
CASES = precond_testing.SHAMPOO_CASES
SHAPES = {'2d_two_blocks': (6, 3), '1d_two_blocks': (7,), '2d_four_blocks': (5, 6)}


def test_blocking_follows_the_published_examples():
  plan = lambda shape, dim=1024: shampoo_blocks.shampoo_plan('p', shape, 'torch_conv' if len(shape) == 4 else 'other', dim)
  assert plan((64, 64, 3, 3)).merged == (64, 576) and len(plan((64, 64, 3, 3)).blocks) == 1
  # The spec's rule (merge neighbours while the product stays <= 1024) gives (512, 512, 9) here; its
  # example's (512, 4608) would break that rule, so the rule wins.
  big_conv = plan((512, 512, 3, 3))
  assert big_conv.merged == (512, 512, 9) and [b.shape for b in big_conv.blocks] == [(512, 512, 9)]
  assert [b.shape for b in plan((2048, 1500)).blocks] == [(1024, 1024), (1024, 476), (1024, 1024), (1024, 476)]
  assert [b.shape for b in plan((1024, 4096)).blocks] == [(1024, 1024)] * 4
  assert [b.shape for b in plan((4096,)).blocks] == [(1024,)] * 4
  assert plan(()).merged == (1,) and plan((1, 5, 1)).merged == (5,)
  assert shampoo_blocks.merge_small_dims((3, 4, 100, 2), 1024) == (12, 200)
  embedding = plan((1_048_576, 128))
  assert embedding.blocks == () and '1,048,576' in embedding.reason


# The published size rules exist to catch the Criteo embedding table: Shampoo sends a dimension >= 10^6 to
# the grafting update, CASPR a merged dimension > 40,000 to NAdam. criteo1tb's table has 4,194,304 rows
# (PyTorch: four chunks of 1,048,576), criteo1tb_test's 65,536 (chunks of 16,384). At lite scale the tables
# are 256x smaller and the rules see their full-scale rows (shampoo_blocks.full_scale_shape).
@pytest.mark.parametrize('name, scale, shampoo_table, shampoo_chunk, caspr_table, caspr_chunk', [
    ('criteo1tb', 'full', False, False, False, False), ('criteo1tb', 'lite', False, False, False, False),
    ('criteo1tb_test', 'full', True, True, False, True), ('criteo1tb_test', 'lite', True, True, False, True)])
def test_size_rules_treat_the_criteo_table_at_every_scale_as_at_full_scale(name, scale, shampoo_table, shampoo_chunk,
                                                                           caspr_table, caspr_chunk):
  from workloads import registry  # pylint: disable=import-outside-toplevel
  workload = registry.import_workload(name, 'jax', scale=scale)
  kw = workload.model_kwargs()
  for param, rows, shampoo_preconditioned, caspr_preconditioned in (
      ('embedding_table', kw['vocab_size'], shampoo_table, caspr_table),
      ('embedding.embedding_chunk_0', kw['vocab_size'] // 4, shampoo_chunk, caspr_chunk)):
    shape = (rows, kw['embed_dim'])
    rules = shampoo_blocks.full_scale_shape(workload, param, shape)
    assert rules == (rows * (256 if scale == 'lite' else 1), kw['embed_dim'])
    assert bool(shampoo_blocks.shampoo_plan(param, shape, 'other', 1024, rules).blocks) == shampoo_preconditioned
    assert bool(shampoo_blocks.caspr_plan(param, shape, 'other', rules).blocks) == caspr_preconditioned


def test_only_the_criteo_table_is_seen_at_full_scale_size():
  # Every other lite parameter keeps its own shape for the rules (the lite top MLP's 367 inputs, say, are
  # not scaled up), and workloads without a table are untouched.
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel
  prng.set_framework('jax')
  workload = registry.import_workload('criteo1tb', 'jax', scale='lite')
  params, _ = workload.init_model_fn(prng.PRNGKey(0))
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  changed = [jax_shampoo.path_name(p) for p, x in leaves
             if shampoo_blocks.full_scale_shape(workload, jax_shampoo.path_name(p), x.shape) != tuple(x.shape)]
  assert changed == ['embedding_table'], changed
  ogbg = registry.import_workload('ogbg', 'jax', scale='lite')
  assert shampoo_blocks.full_scale_shape(ogbg, 'embedding_table', (7, 3)) == (7, 3)


def test_flax_weights_are_blocked_in_torch_layout():
  dense = shampoo_blocks.shampoo_plan('Dense_0/kernel', (784, 128), 'flax_dense', 1024)
  assert dense.canonical_shape == (128, 784)
  conv = shampoo_blocks.shampoo_plan('Conv_0/kernel', (3, 3, 16, 32), 'flax_conv', 1024)
  assert conv.canonical_shape == (32, 16, 3, 3) and conv.merged == (512, 9)


def test_owners_split_blocks_evenly_and_deterministically():
  plans = [shampoo_blocks.shampoo_plan('a', (8, 8), 'other', 4), shampoo_blocks.shampoo_plan('b', (4,), 'other', 4)]
  owners = shampoo_blocks.assign_owners(plans, 2)
  assert owners == shampoo_blocks.assign_owners(plans, 2)
  flat = [o for row in owners for o in row]
  assert sorted(flat) == [0, 0, 0, 1, 1]  # Four 4x4 blocks and one 1-D block over two ranks.


def _reference(cfg, plan, w0, grads, lrs):
  order = len(plan.merged)
  return precond_reference.shampoo(
      w0.reshape(plan.merged), grads if order == w0.ndim else [g.reshape(plan.merged) for g in grads], lrs,
      [b.ranges for b in plan.blocks], beta1=cfg.beta1, beta2=cfg.beta2, epsilon=cfg.epsilon,
      momentum=cfg.momentum, weight_decay=cfg.weight_decay, precondition_frequency=cfg.precondition_frequency,
      start=cfg.start_preconditioning_step,
      exponent=shampoo_blocks.root_exponent(order, cfg.inv_root_override, cfg.exponent_multiplier),
      grafting=cfg.grafting_type, grafting_epsilon=cfg.grafting_epsilon, use_nadam=cfg.use_nadam)


REFERENCE_CASES = [('adam_nadam', '2d_two_blocks'), ('sgd_graft_beta1_0', '2d_four_blocks'),
                   ('root_override_2', '2d_four_blocks'), ('no_nadam_start_7', '1d_two_blocks'),
                   ('adam_nadam', '1d_two_blocks')]


# Every case in PyTorch; three in JAX (each JAX case compiles its own step, seconds on a busy CPU).
@pytest.mark.parametrize('framework,case,shape', [('torch',) + c for c in REFERENCE_CASES] +
                         [('jax',) + c for c in REFERENCE_CASES[:3]])
def test_update_matches_the_dense_kronecker_reference(framework, case, shape):
  cfg = precond_config.shampoo_config(dict(BASE, **CASES[case]))
  w0, grads, lrs = precond_testing.data(SHAPES[shape])
  run = precond_testing.run_torch_shampoo if framework == 'torch' else precond_testing.run_jax_shampoo
  got, opt = run(cfg, w0, grads, lrs, use_kernels=True)[:2]
  assert len(opt.plans[0].blocks) > 1
  want = _reference(cfg, opt.plans[0], w0, grads, lrs)
  precond_testing.assert_close(got, want, 1e-6)
  # The preconditioner matters: the grafting-only update is far from it.
  graft_only = _reference(dataclasses.replace(cfg, start_preconditioning_step=10**9), opt.plans[0], w0, grads, lrs)
  assert np.max(np.abs(np.asarray(graft_only[-1]).reshape(w0.shape) - got[-1])) > 1e-4


def test_three_dim_parameter_uses_order_three_kronecker_factors():
  """(3, 4, 5) with max dim 5: no two neighbours merge, so one order-3 block with roots F^(-1/6)."""
  cfg = precond_config.shampoo_config(dict(BASE, max_preconditioner_dim=5))
  w0, grads, lrs = precond_testing.data((3, 4, 5), seed=2)
  for run in (precond_testing.run_torch_shampoo, precond_testing.run_jax_shampoo):
    got, opt = run(cfg, w0, grads, lrs, use_kernels=False)[:2]
    assert opt.plans[0].merged == (3, 4, 5) and len(opt.plans[0].blocks) == 1
    precond_testing.assert_close(got, _reference(cfg, opt.plans[0], w0, grads, lrs), 1e-6)


def _graft_only(cfg, w0, grads, lrs):
  plan = shampoo_blocks.shampoo_plan('w', w0.shape, 'other', cfg.max_preconditioner_dim)
  return _reference(dataclasses.replace(cfg, start_preconditioning_step=10**9), plan, w0, grads, lrs)


def test_torch_failed_root_falls_back_to_grafting_with_a_warning(monkeypatch, caplog):
  def broken_eigh(*args, **kwargs):
    raise torch.linalg.LinAlgError('did not converge')
  monkeypatch.setattr(torch.linalg, 'eigh', broken_eigh)
  cfg = precond_config.shampoo_config(BASE)
  w0, grads, lrs = precond_testing.data((6, 3))
  with caplog.at_level(logging.WARNING):
    got, _ = precond_testing.run_torch_shampoo(cfg, w0, grads, lrs, use_kernels=True)
  assert 'parameter w' in caplog.text and 'grafting update' in caplog.text
  assert all(np.isfinite(x).all() for x in got)
  precond_testing.assert_close(got, _graft_only(cfg, w0, grads, lrs), 1e-6)


def test_jax_failed_root_falls_back_to_grafting_and_is_reported(monkeypatch):
  from submissions.common import jax_matrix_roots  # pylint: disable=import-outside-toplevel
  real = jnp.linalg.eigh
  monkeypatch.setattr(jax_matrix_roots.jnp.linalg, 'eigh', lambda a: tuple(x * jnp.nan for x in real(a)))
  cfg = precond_config.shampoo_config(BASE)
  w0, grads, lrs = precond_testing.data((6, 3))
  got, opt, state = precond_testing.run_jax_shampoo(cfg, w0, grads, lrs, use_kernels=True)
  assert all(np.isfinite(x).all() for x in got)
  assert opt.failed_blocks(state) == ['w block ((0, 4), (0, 3))', 'w block ((4, 6), (0, 3))']
  precond_testing.assert_close(got, _graft_only(cfg, w0, grads, lrs), 1e-6)


def test_nan_statistics_fall_back_instead_of_spreading(caplog):
  """A NaN gradient in one step poisons that block's factors: its root fails (no NaN Q), and the other
  parameter, whose gradients stay finite, keeps being preconditioned normally."""
  cfg = precond_config.shampoo_config(BASE)
  w0, grads, lrs = precond_testing.data((6, 3))
  p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
  q = torch.nn.Parameter(torch.from_numpy(w0.copy()))
  opt = torch_shampoo.Shampoo([('bad', p, 'other'), ('good', q, 'other')], cfg, use_kernels=False)
  with caplog.at_level(logging.WARNING):
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
      bad = g.copy()
      if t == 2:
        bad[5, 0] = np.nan
      p.grad, q.grad = torch.from_numpy(bad), torch.from_numpy(g.copy())
      opt.param_groups[0]['lr'] = lr
      opt.step()
  assert 'parameter bad, block ((4, 6), (0, 3))' in caplog.text and 'parameter good' not in caplog.text
  assert np.isfinite(q.detach().numpy()).all()
  plan = opt.plans[1]
  precond_testing.assert_close([q.detach().numpy()], [_reference(cfg, plan, w0, grads, lrs)[-1]], 1e-6)


def test_a_dimension_over_a_million_takes_the_grafting_update(caplog):
  cfg = precond_config.shampoo_config(dict(BASE, max_preconditioner_dim=1024))
  rng = np.random.default_rng(3)
  w0 = rng.standard_normal(1_000_000).astype(np.float32)
  grads = [rng.standard_normal(1_000_000).astype(np.float32) for _ in range(6)]
  lrs = [0.01] * 6
  with caplog.at_level(logging.WARNING):
    got, opt = precond_testing.run_torch_shampoo(cfg, w0, grads, lrs, use_kernels=True)
  assert 'parameter w (shape (1000000,)) takes the grafting update only' in caplog.text
  assert opt.state_bytes() < 6 * 4 * 1_000_000  # No 1e6 x 1e6 factor.
  precond_testing.assert_close(got, _graft_only(cfg, w0, grads, lrs)[:6], 1e-6)


@pytest.mark.parametrize('key,value,words', [
    ('learning_rate', -1.0, 'learning_rate=-1.0 is outside its domain'),
    ('one_minus_beta2', 0.0, 'one_minus_beta2=0.0 is outside its domain'),
    ('grafting_type', 'ADAGRAD', 'grafting_type'),
    ('start_preconditioning_step', -5, 'start_preconditioning_step=-5'),
])
def test_bad_hyperparameters_are_named(key, value, words):
  with pytest.raises(ValueError, match=words):
    precond_config.shampoo_config(dict(BASE, **{key: value}))


def test_search_space_is_the_published_five_points_and_draws_valid_configs():
  space = tuning.load_search_space(os.path.join(FOLDER, 'tuning_search_space.json'))
  assert len(space) == 5
  assert space[2]['learning_rate'] == 4.199449275251465 and space[2]['grafting_type'] == 'SGD'
  assert space[3]['inv_root_override'] == 2 and space[1]['step_hint_factor'] == 0.6
  for study in tuning.trials_for_studies(space, num_studies=2, num_trials=5, seed=0):
    assert sorted(p['learning_rate'] for p in study) == sorted(p['learning_rate'] for p in space)
    for point in study:
      cfg = precond_config.shampoo_config(tuning.to_hyperparameters(point))
      assert cfg.start_preconditioning_step == 100 and cfg.max_preconditioner_dim == 1024
  config3 = precond_config.shampoo_config(space[2])
  assert config3.beta1 == 0.0 and abs(config3.momentum - 0.96849792750455689) < 1e-12


# Root steps on six factor sizes at once (the OGBG lite model's): XLA runs the per-size root computations
# concurrently, and jaxlib 0.10's batched CPU eigh blocks its pool thread on work queued to the same pool,
# so with batched eighs this hung at the first root step on 2 cores, with or without the kernels. In a
# child process, so that a hang fails the test instead of stalling the suite.
ROOTS_ON_SIX_SIZES = '''
import jax, jax.numpy as jnp, numpy as np
from submissions.common import jax_shampoo, precond_config, precond_testing
shapes = [(32,), (224, 32), (224, 32), (192, 32), (128, 32), (128, 32), (96, 32), (128,), (32, 128), (3, 32), (9, 32)]
cfg = precond_config.shampoo_config(dict(precond_testing.SHAMPOO_BASE, max_preconditioner_dim=1024,
                                         precondition_frequency=2))
rng = np.random.default_rng(0)
params = {f'p{i}': jnp.asarray(rng.standard_normal(s).astype(np.float32)) for i, s in enumerate(shapes)}
opt = jax_shampoo.Shampoo(params, cfg, use_kernels=False)
assert len(opt.layout.groups) == 6, opt.layout.groups
state = opt.init(params)
update = jax.jit(lambda g, s, p, lr, pn, rn: opt.update(g, s, p, lr, precondition_now=pn, roots_now=rn))
for t in range(1, 13):
  grads = {k: jnp.asarray(rng.standard_normal(v.shape).astype(np.float32)) for k, v in params.items()}
  params, state = update(grads, state, params, 0.01, jnp.asarray(t >= 2), jnp.asarray(cfg.root_due(t)))
  jax.block_until_ready(params)
assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))
assert opt.failed_blocks(state) == [], opt.failed_blocks(state)
print('six root steps done')
'''


def test_jax_root_steps_on_several_factor_sizes_do_not_hang():
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  from tools.testing.child_env import child_env  # pylint: disable=import-outside-toplevel
  try:
    out = subprocess.run([sys.executable, '-c', ROOTS_ON_SIX_SIZES], env=child_env(), capture_output=True,
                         text=True, timeout=240)
  except subprocess.TimeoutExpired:
    pytest.fail('JAX Shampoo hung in its root steps (independent eighs waiting on each other in XLA\'s pool)')
  assert out.returncode == 0, out.stderr[-3000:]
  assert 'six root steps done' in out.stdout
