"""The eval gate and the budget check, alone, on hand-made states (no workload, no clock)."""
import math

from algoperf import loop_state
from algoperf.loop_state import LoopState


def test_the_first_step_is_always_followed_by_an_eval():
  assert loop_state.eval_due(LoopState(accumulated_submission_time=0.001), eval_period_sec=100.0)


def test_an_eval_is_due_once_a_period_of_submission_time_has_passed_since_the_last():
  state = LoopState(accumulated_submission_time=14.9, submission_time_at_last_eval=5.0)
  assert not loop_state.eval_due(state, eval_period_sec=10.0)
  state.accumulated_submission_time = 15.0
  assert loop_state.eval_due(state, eval_period_sec=10.0)


def test_the_end_of_training_forces_an_eval_and_skip_evals_forbids_all():
  done = LoopState(accumulated_submission_time=6.0, submission_time_at_last_eval=5.0, training_complete=True)
  assert loop_state.eval_due(done, eval_period_sec=10.0)
  assert not loop_state.eval_due(done, eval_period_sec=10.0, skip_evals=True)


def test_the_gate_checks_the_budget_and_restarts_the_period_without_mutating():
  state = LoopState(accumulated_submission_time=99.5, submission_time_at_last_eval=89.0)
  gated = loop_state.at_eval_gate(state, budget_sec=100.0)
  assert gated.is_time_remaining and gated.submission_time_at_last_eval == 99.5
  assert state.submission_time_at_last_eval == 89.0  # The input state is unchanged.
  spent = loop_state.at_eval_gate(LoopState(accumulated_submission_time=100.0), budget_sec=100.0)
  assert not spent.is_time_remaining and not spent.should_continue()


def test_an_eval_adds_its_time_and_keeps_reached_goals():
  state = LoopState(accumulated_eval_time=2.0, validation_goal_reached=True)
  after = loop_state.after_eval(state, eval_start=10.0, eval_end=10.75, validation_reached=False,
                                test_reached=True)
  assert after.accumulated_eval_time == 2.75 and after.last_eval_time == 10.75
  assert after.validation_goal_reached and after.test_goal_reached  # A goal once reached stays reached.
  assert not after.should_continue()  # Both goals: training stops.


def test_checkpoint_round_trip_and_upstream_keys_for_submissions():
  state = LoopState(accumulated_submission_time=3.5, training_complete=True)
  assert LoopState.from_dict(dict(state.to_dict(), unknown_key=1)) == state
  view = loop_state.TrainStateView(state)
  assert view['accumulated_submission_time'] == 3.5 and view['is_time_remaining']
  assert 'validation_goal_reached' in view and len(view) == len(state.to_dict())
  assert math.isinf(LoopState().submission_time_at_last_eval)
