"""Criteo 1TB DLRM-small and its variants in JAX/Flax."""
import functools
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp

from algoperf import jax_sharding_utils
from algoperf import param_utils
from algoperf import spec
from workloads.common.jax_workload import JaxWorkloadMixin
from workloads.common.untimed_jit import untimed_jit
from workloads.criteo1tb import workload as base
from workloads.criteo1tb.jax import models


def sigmoid_binary_cross_entropy(label_batch, logits_batch, mask_batch=None) -> Dict[str, jnp.ndarray]:
  """Per-example BCE of one logit per example; summed and counted over the mask."""
  labels = jnp.reshape(label_batch, (-1,)).astype(jnp.float32)
  logits = jnp.reshape(logits_batch, (-1,))
  per_example = -(labels * jax.nn.log_sigmoid(logits) + (1.0 - labels) * jax.nn.log_sigmoid(-logits))
  if mask_batch is None:
    mask_batch = jnp.ones_like(per_example)
  mask_batch = jnp.reshape(mask_batch, (-1,))
  per_example = per_example * mask_batch
  return {'summed': per_example.sum(), 'n_valid_examples': mask_batch.sum(), 'per_example': per_example}


class Criteo1TbDlrmSmallWorkload(JaxWorkloadMixin, base.BaseCriteo1TbDlrmSmallWorkload):

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    model_class = models.DLRMResNet if self.use_resnet else models.DlrmSmall
    self._model = model_class(**self.model_kwargs())
    fake_batch = jnp.ones((2, self.num_dense_features + self.num_sparse_features), jnp.float32)
    init = untimed_jit(functools.partial(self._model.init, train=False))  # One compile, not one per op.
    params = init({'params': rng}, fake_batch)['params']
    params = jax.tree.map(jnp.asarray, dict(params))
    self._param_shapes = jax.tree.map(lambda x: spec.ShapeTuple(x.shape), params)
    self._param_types = param_utils.jax_param_types(self._param_shapes)
    return jax_sharding_utils.replicate(params), None

  def is_output_params(self, param_key: str) -> bool:
    return param_key == 'Dense_7'

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    del model_state, update_batch_norm
    train = mode == spec.ForwardPassMode.TRAIN
    rate = float(dropout_rate or 0.0)
    rngs = {'dropout': rng} if train and rate else {}
    logits = self._model.apply({'params': params}, augmented_and_preprocessed_input_batch['inputs'],
                               train=train, dropout_rate=rate, rngs=rngs)
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
