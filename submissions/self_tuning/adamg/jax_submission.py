"""AdamG (JAX twin of the PyTorch submission; upstream has PyTorch only), submissions.md §3.6.

The same update and (S-torch) schedule as pytorch_submission.py (see there), with the schedule evaluated
inside the jitted step from the update count. The update runs on the fused kernels (op `adamg`;
ALGOPERF_KERNELS=off: plain jax.numpy).
"""
from typing import Any, Dict, Optional

import jax.numpy as jnp

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import jax_optimizers
from submissions.common import jax_train
from submissions.common import schedules
from submissions.self_tuning.adamg import hparams

prepare_for_eval = api.prepare_for_eval
data_selection = api.data_selection
get_batch_size = baseline_batch_sizes.get_batch_size_without_activation_variants


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, hyperparameters, rng
  h = hparams.HPARAMS
  peak, warmup, total = hparams.schedule_args(workload.step_hint)
  schedule = lambda count: schedules.linear_cosine_periodic(count, peak, warmup, total, xp=jnp)
  optimizer = jax_optimizers.adamg(schedule, b1=h['beta1'], b2=h['beta2'], b3=h['beta3'], eps=h['eps'],
                                   p_num=h['p_num'], q_num=h['q_num'])
  return jax_train.init_state(workload, model_params, optimizer)


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, hyperparameters, loss_type, eval_results, train_state
  return jax_train.update(workload, current_param_container, model_state, batch, optimizer_state, global_step,
                          rng)
