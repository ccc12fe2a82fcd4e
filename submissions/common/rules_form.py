"""Which rules version is in force, as a submission can see it through the public API alone.

v0.6 calls prepare_for_eval before each eval and passes `train_state` to update_params (when its signature
takes it); v0.5 (the 2024 competition) does neither, so it evaluates whatever update_params returned
(spec/harness.md, the v0.5/v0.6 table; algoperf/training_loop.py: pass_train_state). A submission whose
evaluated weights differ from its training weights therefore keys its behaviour on whether update_params
received a train_state: that is the one honest signal both runners give, and it arrives on the first step,
before any eval. A runner that passes train_state but never calls prepare_for_eval does not exist in either
version.
"""
from typing import Any, Optional

V05 = 'v0.5'
V06 = 'v0.6'


def rules_in_force(train_state: Optional[Any]) -> str:
  """'v0.6' when the runner passed a train_state (and so calls prepare_for_eval), else 'v0.5'."""
  return V05 if train_state is None else V06
