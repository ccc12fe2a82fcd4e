"""CIFAR-10 ResNet-18 in JAX/Flax."""
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp

from algoperf import jax_sharding_utils
from algoperf import param_utils
from algoperf import spec
from workloads.cifar.jax import models
from workloads.cifar.workload import BaseCifarWorkload
from workloads.common import jax_losses
from workloads.common.jax_workload import JaxWorkloadMixin
from workloads.common.untimed_jit import untimed_jit


class CifarWorkload(JaxWorkloadMixin, BaseCifarWorkload):

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    self._model = models.ResNet(**self.model_kwargs)
    # Jitted (untimed, shared by later trials): op by op, every initializer's random draw would compile alone.
    init = untimed_jit(lambda key: self._model.init({'params': key}, jnp.zeros((1, 32, 32, 3), jnp.float32),
                                                    train=False))
    variables = init(rng)
    params = jax.tree.map(jnp.asarray, dict(variables['params']))
    model_state = {'batch_stats': jax.tree.map(jnp.asarray, dict(variables['batch_stats']))}
    self._param_shapes = jax.tree.map(lambda x: spec.ShapeTuple(x.shape), params)
    self._param_types = param_utils.jax_param_types(self._param_shapes)
    return jax_sharding_utils.replicate(params), jax_sharding_utils.replicate(model_state)

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    """TRAIN normalises with batch statistics; the new running statistics are returned only if
    `update_batch_norm` (as the PyTorch twin, whose BN momentum is set to 0 otherwise). EVAL uses the
    running statistics. The model has no dropout."""
    del rng, dropout_rate
    variables = {'params': params, **model_state}
    inputs = augmented_and_preprocessed_input_batch['inputs']
    if mode == spec.ForwardPassMode.EVAL:
      return self._model.apply(variables, inputs, train=False), model_state
    logits, new_state = self._model.apply(variables, inputs, train=True, mutable=['batch_stats'])
    return logits, (dict(new_state) if update_batch_norm else model_state)

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    return jax_losses.softmax_cross_entropy(label_batch, logits_batch, mask_batch, label_smoothing)

  def _eval_metrics(self, params, batch, model_state, rng):
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    weights = batch['weights']
    correct = (jnp.argmax(logits, axis=-1) == batch['targets']) * weights
    loss = self.loss_fn(batch['targets'], logits, weights)['summed']
    return {'accuracy': correct.sum(), 'loss': loss}
