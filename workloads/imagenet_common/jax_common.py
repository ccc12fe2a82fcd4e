"""The JAX half of the ImageNet workloads: Flax init/apply with batch statistics, the loss and the metrics.

The framework workloads only say which Flax module to build (`_build_model`); the ResNet's BatchNorm
statistics travel as `model_state` ({'batch_stats': ...}), the ViT has none (model_state None).
"""
import functools
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp

from algoperf import jax_sharding_utils
from algoperf import param_utils
from algoperf import spec
from workloads.common.jax_workload import JaxWorkloadMixin
from workloads.common.untimed_jit import untimed_jit


def softmax_cross_entropy(label_batch: jnp.ndarray, logits_batch: jnp.ndarray,
                          mask_batch: Optional[jnp.ndarray] = None,
                          label_smoothing: float = 0.0) -> Dict[str, jnp.ndarray]:
  """Per-example CE; labels are class indices (B,) or, after mixup, distributions (B, C)."""
  num_classes = logits_batch.shape[-1]
  if label_batch.ndim == logits_batch.ndim - 1:
    targets = jax.nn.one_hot(label_batch, num_classes)
  else:
    targets = label_batch.astype(logits_batch.dtype)
  targets = targets * (1.0 - label_smoothing) + label_smoothing / num_classes
  per_example = -jnp.sum(targets * jax.nn.log_softmax(logits_batch, axis=-1), axis=-1)
  if mask_batch is None:
    mask_batch = jnp.ones_like(per_example)
  per_example = per_example * mask_batch
  return {'summed': per_example.sum(), 'n_valid_examples': mask_batch.sum(), 'per_example': per_example}


class JaxImagenetMixin(JaxWorkloadMixin):
  """init_model_fn, model_fn, loss_fn and the eval metrics of an image classifier in Flax."""

  def _build_model(self):
    raise NotImplementedError

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    self._model = self._build_model()
    params_rng, dropout_rng = jax.random.split(rng)
    inputs = jnp.zeros((1, self.image_size, self.image_size, 3), jnp.float32)
    # One compiled init instead of hundreds of op-by-op dispatches (also fine under jax.eval_shape).
    init = untimed_jit(functools.partial(self._model.init, train=False))
    variables = init({'params': params_rng, 'dropout': dropout_rng}, inputs)
    params = dict(variables['params'])
    model_state = {k: v for k, v in variables.items() if k != 'params'} or None
    self._param_shapes = jax.tree.map(lambda x: spec.ShapeTuple(x.shape), params)
    self._param_types = param_utils.jax_param_types(self._param_shapes)
    if model_state is not None:
      model_state = jax_sharding_utils.replicate(model_state)
    return jax_sharding_utils.replicate(params), model_state

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    train = mode == spec.ForwardPassMode.TRAIN
    variables = {'params': params, **(model_state or {})}
    rate = 0.0 if dropout_rate is None else dropout_rate
    rngs = {'dropout': rng} if train and rate > 0.0 else None
    inputs = augmented_and_preprocessed_input_batch['inputs']
    if train and model_state:
      # Train mode normalises with the batch statistics; update_batch_norm says whether to keep the new
      # running averages.
      logits, new_state = self._model.apply(variables, inputs, train=True, dropout_rate=rate,
                                            mutable=list(model_state), rngs=rngs)
      return logits, (dict(new_state) if update_batch_norm else model_state)
    logits = self._model.apply(variables, inputs, train=train, dropout_rate=rate, rngs=rngs)
    return logits, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    return softmax_cross_entropy(label_batch, logits_batch, mask_batch, label_smoothing)

  def _eval_metrics(self, params, batch, model_state, rng):
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    weights = batch['weights']
    correct = (jnp.argmax(logits, axis=-1) == batch['targets']) * weights
    loss = self.loss_fn(batch['targets'], logits, weights)['summed']
    return {'accuracy': correct.sum(), 'loss': loss}
