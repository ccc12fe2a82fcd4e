"""fastMRI U-Net in PyTorch, and its held-out variants."""
import contextlib
from typing import Any, Dict, Optional

import torch
from torch import nn

from algoperf import random_utils as prng
from algoperf import spec
from workloads.common.pytorch_workload import PyTorchWorkloadMixin
from workloads.fastmri import workload as base
from workloads.fastmri.pytorch import models
from workloads.fastmri.pytorch import ssim as torch_ssim


def param_types(model: nn.Module) -> Dict[str, spec.ParameterType]:
  """Types by module kind: the names of the Sequential slots ('conv_layers.1.weight') say nothing."""
  types = {}
  for module_name, module in model.named_modules():
    for name, _ in module.named_parameters(recurse=False):
      is_bias = name == 'bias'
      if isinstance(module, nn.GroupNorm):
        kind = spec.ParameterType.LAYER_NORM_BIAS if is_bias else spec.ParameterType.LAYER_NORM_SCALE
      else:
        kind = spec.ParameterType.BIAS if is_bias else spec.ParameterType.CONV_WEIGHT
      types[f'{module_name}.{name}' if module_name else name] = kind
  return types


class FastMRIWorkload(PyTorchWorkloadMixin, base.BaseFastMRIWorkload):

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    torch.manual_seed(prng.to_seed(rng))
    model = models.UNet(num_channels=self.num_channels, num_pool_layers=self.num_pool_layers,
                        use_tanh=self.use_tanh, use_layer_norm=self.use_layer_norm)
    self._param_shapes = {k: spec.ShapeTuple(v.shape) for k, v in model.named_parameters()}
    self._param_types = param_types(model)
    return self._place_model(model), None

  def is_output_params(self, param_key: str) -> bool:
    # Upstream hard-codes 'up_conv.3.1.*', which misses the 3-level model_size variant.
    param_key = param_key[len('module.'):] if param_key.startswith('module.') else param_key  # DDP.
    return param_key.startswith(f'up_conv.{self.num_pool_layers - 1}.1.')

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    del model_state, rng, update_batch_norm  # No batch norm; dropout draws from torch's generator.
    model = params
    model.train(mode == spec.ForwardPassMode.TRAIN)
    context = torch.no_grad if mode == spec.ForwardPassMode.EVAL else contextlib.nullcontext
    with context():
      outputs = model(augmented_and_preprocessed_input_batch['inputs'], dropout_rate=dropout_rate)
    return outputs, None

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    """Per-example mean absolute error over the pixels; label smoothing does not apply."""
    del label_smoothing
    per_example = (logits_batch - label_batch).abs().mean(dim=tuple(range(1, logits_batch.dim())))
    if mask_batch is None:
      mask_batch = torch.ones_like(per_example)
    per_example = per_example * mask_batch
    return {'summed': per_example.sum(), 'n_valid_examples': mask_batch.sum(), 'per_example': per_example}

  def _eval_metrics(self, params, batch, model_state, rng):
    outputs, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    weights = batch['weights']
    ssim = torch_ssim.ssim(outputs, batch['targets'], batch['mean'], batch['std'], batch['volume_max'])
    loss = self.loss_fn(batch['targets'], outputs, weights)['summed']
    return {'ssim': (ssim * weights).sum(), 'loss': loss}


class FastMRIModelSizeWorkload(base.ModelSizeVariant, FastMRIWorkload):
  pass


class FastMRITanhWorkload(base.TanhVariant, FastMRIWorkload):
  pass


class FastMRILayerNormWorkload(base.LayerNormVariant, FastMRIWorkload):
  pass
