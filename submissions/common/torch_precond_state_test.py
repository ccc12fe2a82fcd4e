"""A PyTorch Shampoo or CASPR run saved through state_dict() (as the runner's checkpoints do) and loaded into a
fresh optimizer continues bit for bit: factor statistics, roots, grafting moments and momentum are carried."""
import io
import logging

import numpy as np
import pytest
import torch

from submissions.common import precond_config
from submissions.common import precond_testing
from submissions.common import torch_caspr
from submissions.common import torch_shampoo

SPLIT = 9  # Between the root steps 5 and 10, after preconditioning has started.


def _shampoo(p, use_kernels):
  cfg = precond_config.shampoo_config(precond_testing.SHAMPOO_BASE)
  return torch_shampoo.Shampoo([('w', p, 'other')], cfg, use_kernels=use_kernels)


def _caspr(p, use_kernels):
  cfg = precond_config.caspr_config(dict(precond_testing.CASPR_BASE))
  return torch_caspr.Caspr([('w', p, 'other')], cfg, use_kernels=use_kernels)


@pytest.mark.parametrize('make', [_shampoo, _caspr], ids=['shampoo', 'caspr'])
@pytest.mark.parametrize('use_kernels', [True, False], ids=['kernels', 'plain'])
def test_a_restored_optimizer_continues_bit_for_bit(make, use_kernels):
  w0, grads, lrs = precond_testing.data((6, 3))
  p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
  uninterrupted = precond_testing.torch_steps(make(p, use_kernels), p, grads, lrs)

  p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
  first = make(p, use_kernels)
  precond_testing.torch_steps(first, p, grads[:SPLIT], lrs[:SPLIT])
  buffer = io.BytesIO()
  torch.save(first.state_dict(), buffer)
  buffer.seek(0)

  resumed_p = torch.nn.Parameter(p.detach().clone())
  resumed = make(resumed_p, use_kernels)
  resumed.load_state_dict(torch.load(buffer, weights_only=False))
  assert resumed.step_count == SPLIT
  after = precond_testing.torch_steps(resumed, resumed_p, grads[SPLIT:], lrs[SPLIT:])
  for t, (got, want) in enumerate(zip(after, uninterrupted[SPLIT:]), start=SPLIT + 1):
    np.testing.assert_array_equal(got, want, err_msg=f'step {t}')


def test_without_the_preconditioner_state_the_statistics_restart_with_a_warning(caplog):
  """A checkpoint of torch's state_dict alone (the old format): the run goes on from zero statistics."""
  w0, grads, lrs = precond_testing.data((6, 3))
  p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
  first = _shampoo(p, True)
  precond_testing.torch_steps(first, p, grads[:SPLIT], lrs[:SPLIT])
  old_format = torch.optim.Optimizer.state_dict(first)
  resumed = _shampoo(torch.nn.Parameter(p.detach().clone()), True)
  with caplog.at_level(logging.WARNING):
    resumed.load_state_dict(old_format)
  assert 'statistics restart from zero' in caplog.text
  assert resumed.step_count == 0
