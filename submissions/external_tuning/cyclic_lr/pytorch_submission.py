"""Cyclic LR (PyTorch), submissions.md §2.4: NAdamW of §0 under a warmup + cosine schedule repeated `cycles` times.

(S-WarmCosine): update 1 uses the peak rate (the constructor's lr, applied before the first scheduler step);
update k >= 2 uses s(k-1), with period P = step_hint/cycles, a warmup of W = int(warmup_factor * step_hint)
updates at the start of every cycle (W is not scaled per cycle), cosine to lr_min = 1e-10 at the end of the
cycle, lr_min after step_hint. Every parameter decayed; no clipping. The update runs on the fused kernels
(ALGOPERF_KERNELS=off: plain torch).
"""
from typing import Any, Dict, Optional

from algoperf import spec
from submissions.common import api
from submissions.common import pytorch_optimizers
from submissions.common import pytorch_train
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
  optimizer = pytorch_optimizers.nadamw(
      model_params.parameters(), lr=peak, betas=(1.0 - hyperparameters.one_minus_beta1, hyperparameters.beta2),
      eps=1e-8, weight_decay=hyperparameters.weight_decay)
  scheduler = pytorch_optimizers.lambda_scheduler(
      optimizer, lambda count: schedules.warm_cosine_cycles(count, 1.0, warmup, total, cycles, lr_min / peak))
  return {'optimizer': optimizer, 'scheduler': scheduler}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, train_state
  return pytorch_train.update(workload, current_param_container, model_state, batch, optimizer_state,
                              global_step, rng, label_smoothing=api.hparam(hyperparameters, 'label_smoothing', 0.0),
                              dropout_rate=api.hparam(hyperparameters, 'dropout_rate'))
