"""The NAdamW baseline (PyTorch): NAdamW with linear warmup and cosine decay to 0 at step_hint.

submissions.md §2.6 / harness.md §5.1. Departure: upstream's PyTorch twin uses the periodic (S-torch)
schedule; we use the JAX baseline's (S-optax) one, so that the twins give the same losses. The update runs
on the fused kernels (ALGOPERF_KERNELS=off: the plain torch class of pytorch_optimizers).
"""
from typing import Any, Dict, Optional

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import pytorch_optimizers
from submissions.common import pytorch_train
from submissions.common import schedules
from submissions.external_tuning.nadamw_baseline import hparams

prepare_for_eval = api.prepare_for_eval
data_selection = api.data_selection


def get_batch_size(workload_name: str) -> int:
  return baseline_batch_sizes.get_batch_size(workload_name)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  hparams.check(hyperparameters)
  optimizer = pytorch_optimizers.nadamw(
      model_params.parameters(), lr=hyperparameters.learning_rate,
      betas=(1.0 - hyperparameters.one_minus_beta1, hyperparameters.beta2), eps=1e-8,
      weight_decay=hyperparameters.weight_decay)
  warmup_steps = int(hyperparameters.warmup_factor * workload.step_hint)
  scheduler = pytorch_optimizers.lambda_scheduler(
      optimizer, lambda count: schedules.warmup_cosine(count, 1.0, warmup_steps, workload.step_hint))
  return {'optimizer': optimizer, 'scheduler': scheduler}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, train_state
  return pytorch_train.update(workload, current_param_container, model_state, batch, optimizer_state,
                              global_step, rng, label_smoothing=api.hparam(hyperparameters, 'label_smoothing', 0.0),
                              dropout_rate=api.hparam(hyperparameters, 'dropout_rate'),
                              grad_clip=api.hparam(hyperparameters, 'grad_clip'))
