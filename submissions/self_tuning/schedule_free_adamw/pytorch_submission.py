"""Schedule-Free AdamW (pytorch), self-tuning: submissions.md §3.1, the external submission with fixed hyperparameters.

lr 0.0025, beta1 0.9, beta2 0.9955159689799007, weight decay 0.08121616522670176, warmup int(0.02 * 0.75 *
step_hint) (1.5% of step_hint), label smoothing 0.2; dropout stays at the workload default (the published
'dropout_rate': 0.1 was never read). Forms and the v0.5/v0.6 differences: the external submission's docstring.
Divergence reset as published (submissions/common/divergence_reset.py): a run no better than its first eval
restarts from x0 (a CPU copy) with z = x0, v = 0, the step count and averaging sums at 0 and half the lr; the
model state is set to None and batch-norm buffers are left as they are, as published.
"""
import torch

from submissions.common import divergence_reset
from submissions.common import self_tuning
from submissions.external_tuning.schedule_free_adamw import pytorch_submission as external

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


class ResetState:
  """x0 (CPU) and the number of evals seen; a state_dict, so checkpoints carry it."""

  def __init__(self, params):
    self.x0 = [p.detach().to('cpu', torch.float32, copy=True) for p in params]
    self.evals_seen = 0

  def state_dict(self):
    return {'x0': self.x0, 'evals_seen': self.evals_seen}

  def load_state_dict(self, state):
    self.x0 = [x.clone() for x in state['x0']]
    self.evals_seen = int(state['evals_seen'])


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  state = _fixed_init(workload, model_params, model_state, hyperparameters, rng)
  state['reset'] = ResetState(model_params.parameters())
  return state


@torch.no_grad()
def _restart(optimizer, stash, params, x0) -> None:
  """p = z = x0, v = 0, k = lr_max = weight_sum = 0, lr halved; the model keeps x0 (no stashed y to restore)."""
  for p, x in zip(params, x0):
    p.copy_(x)
    optimizer.state[p]['z'].copy_(x)
    optimizer.state[p]['exp_avg_sq'].zero_()
  for group in optimizer.param_groups:
    group.update(k=0, lr_max=0.0, weight_sum=0.0, lr=group['lr'] / 2)
  stash.holds_eval = False


def update_params(workload, current_param_container, current_params_types, model_state, hyperparameters, batch,
                  loss_type, optimizer_state, eval_results, global_step, rng, train_state=None):
  info = optimizer_state['reset']
  reset, info.evals_seen = divergence_reset.check(workload, eval_results, global_step, info.evals_seen)
  if reset:
    _restart(optimizer_state['optimizer'], optimizer_state['stash'], list(current_param_container.parameters()),
             info.x0)
    model_state = None
  return _fixed_update(workload, current_param_container, current_params_types, model_state, hyperparameters,
                       batch, loss_type, optimizer_state, eval_results, global_step, rng, train_state)
