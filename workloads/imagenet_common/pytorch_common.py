"""The PyTorch half of the ImageNet workloads: NCHW batches, BatchNorm update control, the loss and metrics.

Batches leave the shared pipeline as NHWC (as JAX uses them) and are transposed to PyTorch's NCHW on the way
to the device. BatchNorm statistics live inside the module, so model_state is None.
"""
import contextlib
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F

from algoperf import param_utils
from algoperf import random_utils as prng
from algoperf import spec
from workloads.common.pytorch_workload import PyTorchWorkloadMixin


def softmax_cross_entropy(label_batch: torch.Tensor, logits_batch: torch.Tensor,
                          mask_batch: Optional[torch.Tensor] = None,
                          label_smoothing: float = 0.0) -> Dict[str, torch.Tensor]:
  """Per-example CE; labels are class indices (B,) or, after mixup, distributions (B, C)."""
  if label_batch.dim() == logits_batch.dim() - 1:
    label_batch = label_batch.long()
  else:
    label_batch = label_batch.to(logits_batch.dtype)
  per_example = F.cross_entropy(logits_batch, label_batch, reduction='none', label_smoothing=label_smoothing)
  if mask_batch is None:
    mask_batch = torch.ones_like(per_example)
  per_example = per_example * mask_batch
  return {'summed': per_example.sum(), 'n_valid_examples': mask_batch.sum(), 'per_example': per_example}


def set_batch_norm_updates(model: torch.nn.Module, update: bool) -> None:
  """Train-mode BatchNorm always normalises with the batch; momentum 0 keeps its running averages as they are."""
  for module in model.modules():
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):  # pylint: disable=protected-access
      if not hasattr(module, 'update_momentum'):
        module.update_momentum = module.momentum
      module.momentum = module.update_momentum if update else 0.0


class PyTorchImagenetMixin(PyTorchWorkloadMixin):
  """init_model_fn, model_fn, loss_fn and the eval metrics of an image classifier in PyTorch."""

  def _build_model(self) -> torch.nn.Module:
    raise NotImplementedError

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    torch.manual_seed(prng.to_seed(rng))
    model = self._build_model()
    self._param_shapes = {k: spec.ShapeTuple(v.shape) for k, v in model.named_parameters()}
    self._param_types = param_utils.pytorch_param_types(dict(model.named_parameters()))
    return self._place_model(model), None

  def _to_device(self, batch: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    batch = dict(batch)
    batch['inputs'] = np.ascontiguousarray(np.transpose(batch['inputs'], (0, 3, 1, 2)))
    return super()._to_device(batch)

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    del rng
    model = params
    train = mode == spec.ForwardPassMode.TRAIN
    model.train(train)
    if train:
      set_batch_norm_updates(model, update_batch_norm)
    rate = 0.0 if dropout_rate is None else dropout_rate
    context = contextlib.nullcontext if train else torch.no_grad
    with context():
      logits = model(augmented_and_preprocessed_input_batch['inputs'], dropout_rate=rate)
    return logits, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    return softmax_cross_entropy(label_batch, logits_batch, mask_batch, label_smoothing)

  def _eval_metrics(self, params, batch, model_state, rng):
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    weights = batch['weights']
    correct = ((logits.argmax(dim=-1) == batch['targets']).float() * weights).sum()
    loss = self.loss_fn(batch['targets'], logits, weights)['summed']
    return {'accuracy': correct, 'loss': loss}
