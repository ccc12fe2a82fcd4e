"""NadamP (JAX), submissions.md §2.5: NAdamW whose denominator takes the p-th root of v_hat.

m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2 (still g^2: `power` changes only the root);
m_bar = (b1 m + (1-b1) g)/(1-b1^t); v_hat = v/(1-b2^t); p <- p - lr(c) (m_bar/(v_hat^(1/power) + 1e-8) + wd p).
Point 4 has power 1.5, the others 2 (plain NAdamW). (S-optax) schedule with
T = int(cosine_decay_fraction * step_hint), W = int(warmup_steps_fraction * T), 0 after T. No clipping;
every parameter decayed. Departure: nesterov=false (no published point) is rejected. The update runs on the
fused kernels (op `adam` with its power path; ALGOPERF_KERNELS=off: plain jax.numpy).
"""
from typing import Any, Dict, Optional

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import jax_optimizers
from submissions.common import jax_train
from submissions.common import schedules
from submissions.external_tuning.nadamp import hparams

prepare_for_eval = api.prepare_for_eval
data_selection = api.data_selection


def get_batch_size(workload_name: str) -> int:
  return baseline_batch_sizes.get_batch_size(workload_name)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  hparams.check(hyperparameters)
  warmup, total = hparams.horizon(hyperparameters, workload.step_hint)
  schedule = schedules.warmup_cosine_jax(hyperparameters.learning_rate, warmup, total)
  optimizer = jax_optimizers.nadamw(schedule, b1=hyperparameters.beta1, b2=hyperparameters.beta2, eps=1e-8,
                                    weight_decay=hyperparameters.weight_decay, power=hyperparameters.power)
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
