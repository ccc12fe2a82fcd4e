"""Cyclic LR (JAX twin of the PyTorch submission; upstream has PyTorch only), submissions.md §2.4.

The same NAdamW and (S-WarmCosine) cycles schedule as pytorch_submission.py (see there), evaluated inside
the jitted step from the update count. The update runs on the fused kernels (ALGOPERF_KERNELS=off: plain
jax.numpy).
"""
from typing import Any, Dict, Optional

import jax.numpy as jnp

from algoperf import spec
from submissions.common import api
from submissions.common import jax_optimizers
from submissions.common import jax_train
from submissions.common import schedules
from submissions.external_tuning.cyclic_lr import hparams

prepare_for_eval = api.prepare_for_eval
data_selection = api.data_selection
get_batch_size = hparams.get_batch_size


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  hparams.check(hyperparameters)
  peak, warmup, total, cycles, lr_min = hparams.schedule_args(hyperparameters, workload.step_hint)
  schedule = lambda count: schedules.warm_cosine_cycles(count, peak, warmup, total, cycles, lr_min, xp=jnp)
  optimizer = jax_optimizers.nadamw(schedule, b1=1.0 - hyperparameters.one_minus_beta1, b2=hyperparameters.beta2,
                                    eps=1e-8, weight_decay=hyperparameters.weight_decay)
  return jax_train.init_state(workload, model_params, optimizer,
                              label_smoothing=api.hparam(hyperparameters, 'label_smoothing', 0.0),
                              dropout_rate=api.hparam(hyperparameters, 'dropout_rate'))


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, hyperparameters, loss_type, eval_results, train_state
  return jax_train.update(workload, current_param_container, model_state, batch, optimizer_state, global_step,
                          rng)
