"""MNIST in JAX/Flax."""
from typing import Any, Dict, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from algoperf import jax_sharding_utils
from algoperf import param_utils
from algoperf import spec
from workloads.common import jax_losses
from workloads.common.jax_workload import JaxWorkloadMixin
from workloads.mnist.workload import BaseMnistWorkload


class Model(nn.Module):
  """784 -> Dense(128) -> sigmoid -> Dense(10)."""
  num_hidden: int = 128
  num_classes: int = 10

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    del train
    x = x.reshape((x.shape[0], -1))
    x = nn.sigmoid(nn.Dense(self.num_hidden)(x))
    return nn.Dense(self.num_classes)(x)


class MnistWorkload(JaxWorkloadMixin, BaseMnistWorkload):

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    self._model = Model()
    params = self._model.init({'params': rng}, jnp.zeros((1, 28, 28, 1), jnp.float32), train=True)['params']
    params = jax.tree.map(jnp.asarray, dict(params))
    self._param_shapes = jax.tree.map(lambda x: spec.ShapeTuple(x.shape), params)
    self._param_types = param_utils.jax_param_types(self._param_shapes)
    return jax_sharding_utils.replicate(params), None

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    del rng, update_batch_norm, dropout_rate
    logits = self._model.apply({'params': params}, augmented_and_preprocessed_input_batch['inputs'],
                               train=mode == spec.ForwardPassMode.TRAIN)
    return logits, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    return jax_losses.softmax_cross_entropy(label_batch, logits_batch, mask_batch, label_smoothing)

  def _eval_metrics(self, params, batch, model_state, rng):
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    weights = batch['weights']
    correct = (jnp.argmax(logits, axis=-1) == batch['targets']) * weights
    loss = self.loss_fn(batch['targets'], logits, weights)['summed']
    return {'accuracy': correct.sum(), 'loss': loss}
