"""The training loop's state and the two decisions made on it: is an eval due, and is there time left.

`LoopState` replaces upstream's `train_state` dict. The loop adds each step's time to it; the eval gate,
the budget check and the eval return a new state instead of mutating a dict in place, so each decision is a
pure function that tests call alone. Submissions that take `train_state` (v0.6) get a read-only mapping
with upstream's key names (`TrainStateView`).
"""
import dataclasses
import math
from typing import Any, Dict, Iterator, Mapping, Optional


@dataclasses.dataclass
class LoopState:
  accumulated_submission_time: float = 0.0
  accumulated_eval_time: float = 0.0
  accumulated_logging_time: float = 0.0
  submission_time_at_last_eval: float = -math.inf  # Submission time when the last eval was due.
  last_eval_time: float = 0.0  # Wall time at the end of the last eval.
  last_step_end_time: Optional[float] = None
  validation_goal_reached: bool = False
  test_goal_reached: bool = False
  is_time_remaining: bool = True
  training_complete: bool = False
  # Training batches the submission has drawn (a data_selection may draw several per step); None in
  # checkpoints written before it was counted, where one batch per step is assumed.
  batches_drawn: Optional[int] = None

  def should_continue(self) -> bool:
    goals = self.validation_goal_reached and self.test_goal_reached
    return self.is_time_remaining and not goals and not self.training_complete

  def to_dict(self) -> Dict[str, Any]:
    """Plain values for a checkpoint."""
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: Mapping[str, Any]) -> 'LoopState':
    """From a checkpoint; keys this version does not know are ignored (older checkpoints stay readable)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def eval_due(state: LoopState, eval_period_sec: float, skip_evals: bool = False) -> bool:
  """The eval gate: a period of submission time since the last eval, or the end of training."""
  if skip_evals:
    return False
  since_last = state.accumulated_submission_time - state.submission_time_at_last_eval
  return since_last >= eval_period_sec or state.training_complete


def at_eval_gate(state: LoopState, budget_sec: float) -> LoopState:
  """The state once an eval is due (its time already synced and added): is there budget left for it?

  The budget is checked only here, as upstream does, so a trial may overrun its budget by at most one
  eval period; an eval that finds the budget spent is not recorded.
  """
  return dataclasses.replace(state, is_time_remaining=state.accumulated_submission_time < budget_sec,
                             submission_time_at_last_eval=state.accumulated_submission_time)


def after_eval(state: LoopState, eval_start: float, eval_end: float, validation_reached: bool,
               test_reached: bool) -> LoopState:
  """The state after an eval that ran from eval_start to eval_end (wall) and reached these targets."""
  return dataclasses.replace(
      state, validation_goal_reached=state.validation_goal_reached or validation_reached,
      test_goal_reached=state.test_goal_reached or test_reached, last_eval_time=eval_end,
      accumulated_eval_time=state.accumulated_eval_time + (eval_end - eval_start))


class TrainStateView(Mapping):
  """Read-only `train_state` for update_params, with upstream's keys, reading the live LoopState."""

  __slots__ = ('_state',)

  def __init__(self, state: LoopState):
    self._state = state

  def __getitem__(self, key: str) -> Any:
    try:
      return getattr(self._state, key)
    except AttributeError:
      raise KeyError(key) from None

  def __iter__(self) -> Iterator[str]:
    return iter(f.name for f in dataclasses.fields(LoopState))

  def __len__(self) -> int:
    return len(dataclasses.fields(LoopState))
