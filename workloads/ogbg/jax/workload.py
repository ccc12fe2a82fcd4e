"""OGBG in JAX/Flax: the base workload and its held-out variants (activation, model size)."""
import functools
import re
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from algoperf import jax_sharding_utils
from algoperf import param_utils
from algoperf import spec
from workloads.common.jax_workload import JaxWorkloadMixin
from workloads.common.untimed_jit import untimed_jit
from workloads.ogbg import input_pipeline
from workloads.ogbg import workload as ogbg
from workloads.ogbg.jax import losses
from workloads.ogbg.jax import models


class OgbgWorkload(JaxWorkloadMixin, ogbg.BaseOgbgWorkload):

  def _num_graph_shards(self) -> int:
    return jax.local_device_count()

  def _split_train_batch(self, batch: Dict[str, Any]) -> Dict[str, Any]:
    """pmap layout: device k gets sub-batch k with its node indices rebased to it (input_pipeline.shard)."""
    n = jax.local_device_count()
    host = jax.device_get(batch)
    shards = [input_pipeline.shard(host, k, n) for k in range(n)]
    stacked = jax.tree.map(lambda *parts: np.stack(parts), *shards)
    return jax.tree.map(lambda x: jax.device_put(x, jax_sharding_utils.get_batch_dim_sharding()), stacked)

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    self._model = models.GNN(**self.model_kwargs)
    # Jitted: one compile instead of an eager dispatch (and compile) per initialiser op.
    init = untimed_jit(functools.partial(self._model.init, train=False))
    params = init({'params': rng}, models.init_graph())['params']
    params = jax.tree.map(jnp.asarray, dict(params))
    self._param_shapes = jax.tree.map(lambda x: spec.ShapeTuple(x.shape), params)
    self._param_types = param_utils.jax_param_types(self._param_shapes)
    return jax_sharding_utils.replicate(params), None

  def is_output_params(self, param_key: str) -> bool:
    model = self.config.model
    decoder = models.decoder_name(model['hidden_dims'], model['num_message_passing_steps'])
    return decoder in re.split(r"[^A-Za-z0-9_]+", param_key)  # 'Dense_15', "['Dense_15']['kernel']", ...

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    del update_batch_norm
    train = mode == spec.ForwardPassMode.TRAIN
    rate = ogbg.DEFAULT_DROPOUT_RATE if dropout_rate is None else dropout_rate
    logits = self._model.apply({'params': params}, augmented_and_preprocessed_input_batch['inputs'], train=train,
                               dropout_rate=rate, rngs={'dropout': rng} if train else {})
    return logits, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    return losses.sigmoid_binary_cross_entropy(label_batch, logits_batch, mask_batch, label_smoothing)

  def _eval_batch(self, params, batch, model_state, rng) -> Dict[str, np.ndarray]:
    if not hasattr(self, '_jitted_logits'):
      self._jitted_logits = untimed_jit(
          lambda p, b, s: self.model_fn(p, b, s, spec.ForwardPassMode.EVAL, None, False)[0])
    logits = self._jitted_logits(params, batch, model_state)
    return {'logits': np.asarray(logits), 'targets': np.asarray(batch['targets']),
            'weights': np.asarray(batch['weights'])}


class OgbgGeluWorkload(OgbgWorkload):
  SCALES = ogbg.GELU_SCALES


class OgbgSiluWorkload(OgbgWorkload):
  SCALES = ogbg.SILU_SCALES


class OgbgModelSizeWorkload(OgbgWorkload):
  SCALES = ogbg.MODEL_SIZE_SCALES
