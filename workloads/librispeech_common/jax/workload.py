"""The JAX side both LibriSpeech workloads share: batches as (values, paddings) pairs, init, model_fn with
batch-norm state, the CTC loss and the eval step (jitted forward, WER on the host)."""
import functools
from typing import Any, Dict, Iterator, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from algoperf import data_utils
from algoperf import jax_sharding_utils
from algoperf import param_utils
from algoperf import spec
from workloads.common.base import MappedIterable
from workloads.common.jax_workload import JaxWorkloadMixin
from workloads.common.untimed_jit import untimed_jit
from workloads.librispeech_common.jax import layers
from workloads.librispeech_common.workload import DEFAULT_DROPOUT_RATE, group_batch

INIT_SAMPLES = 16_000  # Parameter shapes do not depend on the audio length: init on one second.


class LibriSpeechJaxMixin(JaxWorkloadMixin):
  """Put before the framework-neutral base; subclasses implement `_make_model()` (a Flax module)."""

  def _make_model(self) -> nn.Module:
    raise NotImplementedError

  def _build_input_queue(self, data_rng, split: str, data_dir: str, global_batch_size: int,
                         cache: Optional[bool] = None, repeat_final_dataset: Optional[bool] = None,
                         num_batches: Optional[int] = None, start_step: int = 0) -> Iterator[Dict[str, Any]]:
    del cache, repeat_final_dataset, num_batches
    numpy_queue = self._build_numpy_queue(data_rng, split, data_dir, global_batch_size, start_step=start_step)
    convert = lambda batch: group_batch(data_utils.to_jax(batch))
    if split == 'train':
      return (convert(batch) for batch in numpy_queue)
    return MappedIterable(numpy_queue, convert)

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    self._model = self._make_model()
    params_rng, dropout_rng = jax.random.split(rng)
    dummy = jnp.zeros((2, INIT_SAMPLES), jnp.float32)
    init = untimed_jit(functools.partial(self._model.init, train=False))  # One compile, not one per op.
    variables = init({'params': params_rng, 'dropout': dropout_rng}, dummy, dummy)
    params = dict(variables['params'])
    model_state = {k: v for k, v in variables.items() if k != 'params'}
    self._param_shapes = jax.tree.map(lambda x: spec.ShapeTuple(x.shape), params)
    self._param_types = param_utils.jax_param_types(self._param_shapes)
    return jax_sharding_utils.replicate(params), jax_sharding_utils.replicate(model_state)

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None,
               use_running_average_bn: Optional[bool] = None):
    """((logits, logit_paddings), new model state); batch norm uses batch statistics in training."""
    inputs, input_paddings = augmented_and_preprocessed_input_batch['inputs']
    train = mode == spec.ForwardPassMode.TRAIN
    if use_running_average_bn is None:
      use_running_average_bn = not train
    dropout_rate = DEFAULT_DROPOUT_RATE if dropout_rate is None else dropout_rate
    variables = {'params': params, **(model_state or {})}
    kwargs = dict(train=train, use_running_average_bn=use_running_average_bn,
                  update_batch_norm=update_batch_norm and train, dropout_rate=dropout_rate)
    if train:
      outputs, new_state = self._model.apply(variables, inputs, input_paddings, rngs={'dropout': rng},
                                             mutable=['batch_stats'], **kwargs)
      return outputs, ({**model_state, **new_state} if update_batch_norm else model_state)
    return self._model.apply(variables, inputs, input_paddings, **kwargs), model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    """CTC; labels and logits are (values, paddings) pairs; label smoothing does not apply."""
    del label_smoothing
    (logits, logit_paddings), (targets, target_paddings) = logits_batch, label_batch
    return layers.ctc_loss(logits, logit_paddings, targets, target_paddings, mask_batch)

  def _eval_outputs(self, params, batch, model_state, rng):
    logits, logit_paddings = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)[0]
    loss = self.loss_fn(batch['targets'], (logits, logit_paddings), batch['weights'])
    return loss['summed'], loss['n_valid_examples'], jnp.argmax(logits, axis=-1), logit_paddings

  def _eval_batch(self, params, batch, model_state, rng):
    if not hasattr(self, '_jitted_eval_outputs'):
      self._jitted_eval_outputs = untimed_jit(self._eval_outputs)
    outputs = jax.device_get(self._jitted_eval_outputs(params, batch, model_state, rng))
    return self._host_metrics(*outputs, jax.device_get(batch))
