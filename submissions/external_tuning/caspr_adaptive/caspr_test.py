"""CASPR Adaptive: plan, coupled-Newton roots, the update against a numpy reference, kernels against the plain
path, bad input, and the search space."""
import dataclasses
import json
import logging
import os

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from algoperf import tuning
from submissions.common import jax_matrix_roots
from submissions.common import precond_config
from submissions.common import precond_reference
from submissions.common import precond_schedules
from submissions.common import precond_testing
from submissions.common import shampoo_blocks
from submissions.common import testing
from submissions.common import torch_matrix_roots

FOLDER = os.path.dirname(os.path.abspath(__file__))
BASE = precond_testing.CASPR_BASE


def test_plan_merges_to_two_dims_and_tiles():
  plan = lambda shape, kind='other': shampoo_blocks.caspr_plan('p', shape, kind)
  assert plan((3, 3, 64, 128), 'flax_conv').merged == (576, 128)
  assert plan((8, 4, 5)).merged == (8, 20) and plan((4, 8, 5)).merged == (32, 5)
  assert plan((128,)).blocks == () and 'NAdam' in plan((128,)).reason
  assert plan((50_000, 16)).blocks == () and '50,000' in plan((50_000, 16)).reason
  # Both merged dims over 1024 (upstream's reshape error): tiled on a 2 x 2 grid.
  assert [b.shape for b in plan((1500, 1100)).blocks] == [(1024, 1024), (1024, 76), (476, 1024), (476, 76)]
  # A torch Linear weight is seen in Flax's (in, out) layout.
  assert plan((10, 128), 'torch_dense').merged == (128, 10)


@pytest.mark.parametrize('framework', ['torch', 'jax'])
def test_coupled_newton_gives_the_inverse_square_root(framework):
  rng = np.random.default_rng(0)
  x = rng.standard_normal((12, 40))
  s = (x @ x.T / 40).astype(np.float32)
  sn = s / (np.trace(s) / 12)
  lam, u = np.linalg.eigh(sn.astype(np.float64) + 1e-6 * np.linalg.eigvalsh(sn).max() * np.eye(12))
  want = (u * lam**-0.5) @ u.T * (np.trace(s) / 12)**-0.5
  if framework == 'torch':
    got = torch_matrix_roots.caspr_inverse_root(torch.from_numpy(s)).numpy()
  else:
    got, ok = jax_matrix_roots.caspr_inverse_root(jnp.asarray(s), jnp.eye(12))
    assert bool(ok)
  np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())


@pytest.mark.parametrize('framework', ['torch', 'jax'])
def test_unconvergeable_root_keeps_the_old_preconditioner(framework):
  bad = np.full((4, 4), np.nan, np.float32)
  old = np.eye(4, dtype=np.float32) * 3
  if framework == 'torch':
    assert torch_matrix_roots.caspr_inverse_root(torch.from_numpy(bad)) is None
  else:
    got, ok = jax_matrix_roots.caspr_inverse_root(jnp.asarray(bad), jnp.asarray(old))
    assert not bool(ok) and np.array_equal(np.asarray(got), old)


@pytest.mark.parametrize('framework', ['torch', 'jax'])
@pytest.mark.parametrize('shape', [(6, 3), (3, 7), (9,)])
def test_update_matches_the_numpy_reference(framework, shape):
  cfg = precond_config.caspr_config(BASE)
  w0, grads, lrs = precond_testing.data(shape)
  want = precond_reference.caspr(w0, grads, lrs, beta1=cfg.beta1, beta2=cfg.beta2, weight_decay=cfg.weight_decay,
                                 precondition_frequency=5, start=6)
  if framework == 'torch':
    got = precond_testing.run_torch_caspr(cfg, w0, grads, lrs, use_kernels=True)[0]
  else:
    got = precond_testing.run_jax_caspr(cfg, w0, grads, lrs)[0]
  precond_testing.assert_close(got, want, 1e-6)
  if len(shape) == 2:  # The preconditioner matters: NAdam alone is far from it.
    nadam = precond_reference.caspr(w0[:, 0], [g[:, 0] for g in grads], lrs, beta1=cfg.beta1, beta2=cfg.beta2,
                                    weight_decay=cfg.weight_decay)
    assert np.max(np.abs(got[-1][:, 0] - nadam[-1])) > 1e-4
  else:
    precond_testing.assert_close(got, precond_reference.caspr(w0, grads, lrs, beta1=cfg.beta1, beta2=cfg.beta2,
                                                               weight_decay=cfg.weight_decay, start=10**9), 1e-6)


def test_torch_twin_sees_linear_weights_in_flax_layout():
  cfg = precond_config.caspr_config(BASE)
  w0, grads, lrs = precond_testing.data((6, 3))
  got = precond_testing.run_torch_caspr(cfg, w0.T.copy(), [g.T.copy() for g in grads], lrs, use_kernels=False,
                                        kind='torch_dense')[0]
  want = precond_reference.caspr(w0, grads, lrs, beta1=cfg.beta1, beta2=cfg.beta2, weight_decay=cfg.weight_decay,
                                 precondition_frequency=5, start=6)
  precond_testing.assert_close([x.T for x in got], want, 1e-6)


def test_torch_kernels_match_the_plain_path(monkeypatch):
  cfg = precond_config.caspr_config(BASE)
  w0, grads, lrs = precond_testing.data((5, 4), seed=1)
  calls = testing.count_kernel_calls(monkeypatch, 'torch')
  fused = precond_testing.run_torch_caspr(cfg, w0, grads, lrs, use_kernels=True)[0]
  assert 'graft' in calls, calls
  precond_testing.assert_close(fused, precond_testing.run_torch_caspr(cfg, w0, grads, lrs, use_kernels=False)[0], 1e-6)


def test_failed_roots_are_named_and_never_reach_the_parameters(monkeypatch, caplog):
  monkeypatch.setattr(torch_matrix_roots, 'coupled_newton_inverse_root',
                      lambda a, p: (torch.full_like(a, float('nan')), torch.tensor(float('nan'))))
  cfg = precond_config.caspr_config(BASE)
  w0, grads, lrs = precond_testing.data((6, 3))
  with caplog.at_level(logging.WARNING):
    got = precond_testing.run_torch_caspr(cfg, w0, grads, lrs, use_kernels=True)[0]
  assert 'parameter w, block ((0, 6), (0, 3)), did not converge' in caplog.text
  assert all(np.isfinite(x).all() for x in got)


def test_nested_schedule_restarts_from_the_plain_curve():
  peak, wf, t = 1.0, 0.1, 1000
  lr = lambda c: precond_schedules.caspr_lr(c, peak, wf, t)
  plain = lambda c: precond_schedules._warmup_cosine(c, peak, int(wf * t), t, precond_schedules._MathMinMax)  # pylint: disable=protected-access
  assert lr(0) == 0.0 and lr(53) == pytest.approx(1.0)  # warmup over int(0.1 * 0.5357 * 1000) = 53
  assert lr(534) == pytest.approx(0.0, abs=1e-4)
  assert lr(535) == pytest.approx(plain(535)) and lr(750) == pytest.approx(plain(750))
  assert lr(749) == pytest.approx(0.0, abs=1e-3) and lr(1000) == 0.0 and lr(2000) == 0.0


def test_search_space_is_the_baselines_and_draws_valid_configs():
  space = tuning.load_search_space(os.path.join(FOLDER, 'tuning_search_space.json'))
  with open(os.path.join(FOLDER, '..', 'nadamw_baseline', 'tuning_search_space.json')) as f:
    assert space == json.load(f)
  for study in tuning.trials_for_studies(space, num_studies=2, num_trials=5, seed=0):
    for point in study:
      cfg = precond_config.caspr_config(tuning.to_hyperparameters(point))
      assert cfg.precondition_frequency == 20 and cfg.start_preconditioning_step == 101
  with pytest.raises(ValueError, match='beta2=1.5 is outside its domain'):
    precond_config.caspr_config(dict(BASE, beta2=1.5))
  assert dataclasses.asdict(precond_config.caspr_config(space[3]))['beta2'] == 0.6291854735396584
