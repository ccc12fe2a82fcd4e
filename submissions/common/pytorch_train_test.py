"""The shared PyTorch train step's shortcuts against what they replace: model.train() and the logged norm."""
import numpy as np
import torch

from algoperf import random_utils as prng
from submissions.common import pytorch_train
from workloads import registry
from workloads.mnist.pytorch import workload as mnist_torch


class _Logger:

  def __init__(self):
    self.rows = []

  def append_scalar_metrics(self, metrics, global_step, *args, **kwargs):
    del args, kwargs
    self.rows.append((global_step, dict(metrics)))


def _setup(model_class=mnist_torch.Model):
  prng.set_framework('pytorch')
  workload = registry.import_workload('mnist', 'pytorch', scale='smoke')
  torch.manual_seed(0)
  model = model_class()
  optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
  rs = np.random.RandomState(0)
  batch = {'inputs': torch.from_numpy(rs.normal(size=(16, 28, 28, 1)).astype(np.float32)),
           'targets': torch.from_numpy(rs.randint(0, 10, size=16).astype(np.int32)),
           'weights': torch.ones(16)}
  return workload, model, optimizer, batch


def _step(workload, model, optimizer, batch, **kwargs):
  return pytorch_train.train_step(workload, model, None, batch, optimizer, None, 0.0, None, None, **kwargs)


def test_train_step_leaves_every_module_as_model_train_would():
  workload, model, optimizer, batch = _setup()
  model.net.layer1.eval()  # Top level still training: a check of model.training alone would miss it.
  _step(workload, model, optimizer, batch)
  assert all(m.training for m in model.modules())

  class CountsTrain(mnist_torch.Model):
    calls = 0

    def train(self, mode=True):
      CountsTrain.calls += 1
      return super().train(mode)

  workload, model, optimizer, batch = _setup(CountsTrain)
  for _ in range(2):
    _step(workload, model, optimizer, batch)
  assert CountsTrain.calls == 2  # An overriding train() still runs every step.


def test_update_logs_the_gradient_norm_only_where_it_logs():
  workload, model, optimizer, batch = _setup()
  _, grad_norm, _ = _step(workload, model, optimizer, batch, compute_grad_norm=False)
  assert grad_norm is None
  expected = float(torch.sqrt(sum((p.grad.double()**2).sum() for p in model.parameters())))
  logger = _Logger()
  workload.attach_metrics_logger(logger)
  pytorch_train.update(workload, model, None, batch, {'optimizer': optimizer}, 1, None)
  pytorch_train.update(workload, model, None, batch, {'optimizer': optimizer}, 101, None)
  assert [step for step, _ in logger.rows] == [1]
  np.testing.assert_allclose(logger.rows[0][1]['grad_norm'], expected, rtol=1e-6)
