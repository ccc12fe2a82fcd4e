"""CIFAR-10 ResNet-18 in PyTorch."""
import contextlib
from typing import Any, Dict, Optional

import torch

from algoperf import param_utils
from algoperf import pytorch_utils
from algoperf import random_utils as prng
from algoperf import spec
from workloads.cifar.pytorch import models
from workloads.cifar.workload import BaseCifarWorkload
from workloads.common import pytorch_losses
from workloads.common.pytorch_workload import PyTorchWorkloadMixin


class CifarWorkload(PyTorchWorkloadMixin, BaseCifarWorkload):

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    torch.manual_seed(prng.to_seed(rng))
    model = models.ResNet(**self.model_kwargs)
    self._param_shapes = {k: spec.ShapeTuple(v.shape) for k, v in model.named_parameters()}
    self._param_types = param_utils.pytorch_param_types(dict(model.named_parameters()))
    return self._place_model(model), None  # The BN statistics are buffers of the module.

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    """Batches are NHWC (framework-neutral); the model takes NCHW. TRAIN uses batch statistics and updates
    the running ones only if `update_batch_norm`; EVAL uses the running ones. The model has no dropout."""
    del rng, dropout_rate
    model = params
    train = mode == spec.ForwardPassMode.TRAIN
    model.train(train)
    if train:
      model.apply(lambda module: pytorch_utils.update_batch_norm_fn(module, update_batch_norm))
    inputs = augmented_and_preprocessed_input_batch['inputs'].permute(0, 3, 1, 2)
    context = contextlib.nullcontext if train else torch.no_grad
    with context():
      logits = model(inputs)
    return logits, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    return pytorch_losses.softmax_cross_entropy(label_batch, logits_batch, mask_batch, label_smoothing)

  def _eval_metrics(self, params, batch, model_state, rng):
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    weights = batch['weights']
    correct = ((logits.argmax(dim=-1) == batch['targets']).float() * weights).sum()
    loss = self.loss_fn(batch['targets'], logits, weights)['summed']
    return {'accuracy': correct, 'loss': loss}
