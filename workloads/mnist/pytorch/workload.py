"""MNIST in PyTorch."""
import collections
import contextlib
from typing import Any, Dict, Optional

import torch
from torch import nn
import torch.nn.functional as F

from algoperf import param_utils
from algoperf import spec
from workloads.common import pytorch_losses
from workloads.common.pytorch_workload import PyTorchWorkloadMixin
from workloads.mnist.workload import BaseMnistWorkload


class Model(nn.Module):
  """784 -> Linear(128) -> sigmoid -> Linear(10); initialised like Flax's Dense."""

  def __init__(self, num_hidden: int = 128, num_classes: int = 10):
    super().__init__()
    self.net = nn.Sequential(collections.OrderedDict([
        ('layer1', nn.Linear(28 * 28, num_hidden)),
        ('layer1_sig', nn.Sigmoid()),
        ('layer2', nn.Linear(num_hidden, num_classes)),
    ]))
    for module in self.modules():
      if isinstance(module, nn.Linear):
        pytorch_losses.lecun_normal_(module.weight)
        nn.init.zeros_(module.bias)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    # The layers' own ops (F.linear, sigmoid) called directly: at batch 16 the per-module call overhead of
    # the Sequential is a sizeable part of the step. Same parameters, same ops, same results.
    net = self.net
    hidden = torch.sigmoid(F.linear(x.reshape(x.shape[0], -1), net.layer1.weight, net.layer1.bias))
    return F.linear(hidden, net.layer2.weight, net.layer2.bias)


class MnistWorkload(PyTorchWorkloadMixin, BaseMnistWorkload):

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
    torch.manual_seed(prng.to_seed(rng))
    model = Model()
    self._param_shapes = {k: spec.ShapeTuple(v.shape) for k, v in model.named_parameters()}
    self._param_types = param_utils.pytorch_param_types(dict(model.named_parameters()))
    return self._place_model(model), None

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    del rng, update_batch_norm, dropout_rate
    model = params
    training = mode == spec.ForwardPassMode.TRAIN
    if model.training != training:  # No layer depends on the mode; skips the module walk of every step.
      model.train(training)
    context = torch.no_grad if mode == spec.ForwardPassMode.EVAL else contextlib.nullcontext
    with context():
      logits = model(augmented_and_preprocessed_input_batch['inputs'])
    return logits, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    return pytorch_losses.softmax_cross_entropy(label_batch, logits_batch, mask_batch, label_smoothing)

  def _eval_metrics(self, params, batch, model_state, rng):
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    weights = batch['weights']
    correct = ((logits.argmax(dim=-1) == batch['targets']).float() * weights).sum()
    loss = self.loss_fn(batch['targets'], logits, weights)['summed']
    return {'accuracy': correct, 'loss': loss}
