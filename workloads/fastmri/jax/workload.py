"""fastMRI U-Net in JAX/Flax, and its held-out variants."""
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp

from algoperf import jax_sharding_utils
from algoperf import param_utils
from algoperf import spec
from workloads.common.jax_workload import JaxWorkloadMixin
from workloads.fastmri import workload as base
from workloads.fastmri.jax import models
from workloads.fastmri.jax import ssim as jax_ssim


class FastMRIWorkload(JaxWorkloadMixin, base.BaseFastMRIWorkload):

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    self._model = models.UNet(num_channels=self.num_channels, num_pool_layers=self.num_pool_layers,
                              use_tanh=self.use_tanh, use_layer_norm=self.use_layer_norm)
    # The parameters do not depend on the image size: initialise on the smallest one the pools allow.
    params = models.init_params(self._model, rng)
    self._param_shapes = jax.tree.map(lambda x: spec.ShapeTuple(x.shape), params)
    self._param_types = param_utils.jax_param_types(self._param_shapes)
    return jax_sharding_utils.replicate(params), None

  def is_output_params(self, param_key: str) -> bool:
    return param_key == 'Conv_0'

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    del model_state, update_batch_norm  # No batch norm.
    train = mode == spec.ForwardPassMode.TRAIN
    rngs = {'dropout': rng} if train and rng is not None else {}
    outputs = self._model.apply({'params': params}, augmented_and_preprocessed_input_batch['inputs'],
                                train=train, dropout_rate=dropout_rate, rngs=rngs)
    return outputs, None

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    """Per-example mean absolute error over the pixels; label smoothing does not apply."""
    del label_smoothing
    per_example = jnp.mean(jnp.abs(logits_batch - label_batch), axis=tuple(range(1, logits_batch.ndim)))
    if mask_batch is None:
      mask_batch = jnp.ones_like(per_example)
    per_example = per_example * mask_batch
    return {'summed': per_example.sum(), 'n_valid_examples': mask_batch.sum(), 'per_example': per_example}

  def _eval_metrics(self, params, batch, model_state, rng):
    outputs, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    weights = batch['weights']
    ssim = jax_ssim.ssim(outputs, batch['targets'], batch['mean'], batch['std'], batch['volume_max'])
    loss = self.loss_fn(batch['targets'], outputs, weights)['summed']
    return {'ssim': jnp.sum(ssim * weights), 'loss': loss}


class FastMRIModelSizeWorkload(base.ModelSizeVariant, FastMRIWorkload):
  pass


class FastMRITanhWorkload(base.TanhVariant, FastMRIWorkload):
  pass


class FastMRILayerNormWorkload(base.LayerNormVariant, FastMRIWorkload):
  pass
