"""AdamG (PyTorch, self-tuning), submissions.md §3.6; Pang et al. 2024 (arXiv 2405.04376).

v = b2 v + (1-b2) g^2; n = b3 n + (1-b3) 0.2 v^0.24 (the updated v); m = b1 m + (1-b1) g n;
p <- p - min(1/sqrt(t), lr_t) (m/(1-b1^t)) / (sqrt(v)/sqrt(1-b2^t) + 1e-8), with b = (0.95, 0.999, 0.95)
and lr_t the (S-torch) schedule of peak 1.0: LinearLR from 1e-10 over W = int(0.015 step_hint) updates,
then CosineAnnealingLR to T = 0.75 step_hint, periodic after T (upstream's torch schedulers; the 1/sqrt(t)
cap dominates after warmup). No weight decay (0 upstream), label smoothing or clipping; default dropout.
The update runs on the fused kernels (op `adamg`; ALGOPERF_KERNELS=off: plain torch).
"""
from typing import Any, Dict, Optional

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import pytorch_optimizers
from submissions.common import pytorch_train
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
  optimizer = pytorch_optimizers.adamg(model_params.parameters(), lr=peak, betas=(h['beta1'], h['beta2'], h['beta3']),
                                       eps=h['eps'], p_num=h['p_num'], q_num=h['q_num'])
  scheduler = pytorch_optimizers.lambda_scheduler(
      optimizer, lambda count: schedules.linear_cosine_periodic(count, 1.0, warmup, total))
  return {'optimizer': optimizer, 'scheduler': scheduler}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, hyperparameters, loss_type, eval_results, train_state
  return pytorch_train.update(workload, current_param_container, model_state, batch, optimizer_state,
                              global_step, rng)
