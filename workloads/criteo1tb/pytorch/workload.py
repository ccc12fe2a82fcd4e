"""Criteo 1TB DLRM-small and its variants in PyTorch."""
import contextlib
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from algoperf import spec
from workloads.common.pytorch_workload import PyTorchWorkloadMixin
from workloads.criteo1tb import workload as base
from workloads.criteo1tb.pytorch import models


def sigmoid_binary_cross_entropy(label_batch, logits_batch, mask_batch=None) -> Dict[str, torch.Tensor]:
  """Per-example BCE of one logit per example; summed and counted over the mask."""
  logits = logits_batch.reshape(-1)
  labels = label_batch.reshape(-1).to(logits.dtype)
  per_example = F.binary_cross_entropy_with_logits(logits, labels, reduction='none')
  if mask_batch is None:
    mask_batch = torch.ones_like(per_example)
  mask_batch = mask_batch.reshape(-1).to(per_example.dtype)
  per_example = per_example * mask_batch
  return {'summed': per_example.sum(), 'n_valid_examples': mask_batch.sum(), 'per_example': per_example}


def param_types(model: nn.Module) -> Dict[str, spec.ParameterType]:
  """Types from the owning module (the Sequential indices in the names say nothing about it)."""
  types = {}
  for module_name, module in model.named_modules():
    for name, _ in module.named_parameters(recurse=False):
      full = f'{module_name}.{name}' if module_name else name
      if isinstance(module, nn.LayerNorm):
        kind = spec.ParameterType.LAYER_NORM_BIAS if name == 'bias' else spec.ParameterType.LAYER_NORM_SCALE
      elif isinstance(module, models.ChunkedEmbedding):
        kind = spec.ParameterType.EMBEDDING
      else:
        kind = spec.ParameterType.BIAS if name == 'bias' else spec.ParameterType.WEIGHT
      types[full] = kind
  return types


class Criteo1TbDlrmSmallWorkload(PyTorchWorkloadMixin, base.BaseCriteo1TbDlrmSmallWorkload):

  @property
  def eval_batch_size(self) -> int:
    if self.scale == 'full':
      return base.PYTORCH_FULL_EVAL_BATCH_SIZE
    return self.config.eval_batch_size

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
    torch.manual_seed(prng.to_seed(rng))
    model_class = models.DLRMResNet if self.use_resnet else models.DlrmSmall
    model = model_class(**self.model_kwargs())
    self._param_shapes = {k: spec.ShapeTuple(v.shape) for k, v in model.named_parameters()}
    self._param_types = param_types(model)
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    self._output_layer = linears[-1]
    return self._place_model(model), None

  def is_output_params(self, param_key: str) -> bool:
    # Upstream names 'top_mlp.4' here, a hidden layer (spec/variants.md §12); we name the logit layer.
    return param_key.startswith(self._output_layer + '.')

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    del model_state, rng, update_batch_norm
    model = params
    model.train(mode == spec.ForwardPassMode.TRAIN)
    context = torch.no_grad if mode == spec.ForwardPassMode.EVAL else contextlib.nullcontext
    with context():
      logits = model(augmented_and_preprocessed_input_batch['inputs'], float(dropout_rate or 0.0))
    return logits, None

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    del label_smoothing  # As upstream: Criteo's loss ignores label smoothing.
    return sigmoid_binary_cross_entropy(label_batch, logits_batch, mask_batch)

  def _eval_metrics(self, params, batch, model_state, rng):
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    return {'loss': self.loss_fn(batch['targets'], logits, batch['weights'])['summed']}


class Criteo1TbDlrmSmallTestWorkload(base.TestVariant, Criteo1TbDlrmSmallWorkload):
  pass


class Criteo1TbDlrmSmallLayerNormWorkload(base.LayerNormVariant, Criteo1TbDlrmSmallWorkload):
  pass


class Criteo1TbDlrmSmallResNetWorkload(base.ResNetVariant, Criteo1TbDlrmSmallWorkload):
  pass


class Criteo1TbDlrmSmallEmbedInitWorkload(base.EmbedInitVariant, Criteo1TbDlrmSmallWorkload):
  pass
