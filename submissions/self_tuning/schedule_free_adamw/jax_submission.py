"""Schedule-Free AdamW (jax), self-tuning: submissions.md §3.1, the external submission with fixed hyperparameters.

lr 0.0025, beta1 0.9, beta2 0.9955159689799007, weight decay 0.08121616522670176, warmup int(0.02 * 0.75 *
step_hint) (1.5% of step_hint), label smoothing 0.2; dropout stays at the workload default (the published
'dropout_rate': 0.1 was never read). Forms and the v0.5/v0.6 differences: the external submission's docstring.
Divergence reset as published (submissions/common/divergence_reset.py): a run no better than its first eval
restarts from x0 (kept on the host, as the published CPU copy) with z = x0, v = 0, the step count and
averaging sums at 0 and half the lr. Departure: the model state is kept (the published PyTorch code set it
to None, which a JAX batch-norm model cannot take).
"""
import jax
import numpy as np

from submissions.common import divergence_reset
from submissions.common import schedule_free_jax
from submissions.common import self_tuning
from submissions.external_tuning.schedule_free_adamw import jax_submission as external

HPARAMS = {
    'learning_rate': 0.0025,
    'one_minus_beta1': 0.1,
    'beta2': 0.9955159689799007,
    'weight_decay': 0.08121616522670176,
    'warmup_factor': 0.02 * 0.75,
    'label_smoothing': 0.2,
}

(get_batch_size, _fixed_init, _fixed_update, prepare_for_eval,
 data_selection) = self_tuning.with_fixed_hyperparameters(external, HPARAMS)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  state = _fixed_init(workload, model_params, model_state, hyperparameters, rng)
  # x0 on the host; the reset bookkeeping as plain leaves, so checkpoints carry it.
  state['x0'] = jax.tree.map(lambda p: np.array(jax.device_get(p), np.float32), model_params)
  state['reset'] = {'evals_seen': 0, 'resets': 0, 'start': 0}
  return state


def update_params(workload, current_param_container, current_params_types, model_state, hyperparameters, batch,
                  loss_type, optimizer_state, eval_results, global_step, rng, train_state=None):
  info = dict(optimizer_state['reset'])
  reset, info['evals_seen'] = divergence_reset.check(workload, eval_results, global_step, int(info['evals_seen']))
  if reset:
    info['resets'], info['start'] = int(info['resets']) + 1, global_step
    optimizer_state = dict(optimizer_state, state=schedule_free_jax.init_state(optimizer_state['x0']))
  steps = optimizer_state['steps']
  steps.lr = HPARAMS['learning_rate'] * 0.5**int(info['resets'])  # The steps restart at k = 0 (below).
  new_state, params, new_model_state = _fixed_update(
      workload, current_param_container, current_params_types, model_state, hyperparameters, batch, loss_type,
      optimizer_state, eval_results, global_step - int(info['start']), rng, train_state)
  return dict(new_state, x0=optimizer_state['x0'], reset=info), params, new_model_state
