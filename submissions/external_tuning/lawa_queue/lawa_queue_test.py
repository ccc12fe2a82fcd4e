"""LAWA Queue: the shared LAWA tests (submissions/common/lawa_testing.py) on this folder."""
import os

from submissions.common import lawa_testing


class TestLawaQueue(lawa_testing.LawaSubmissionTests):
  FOLDER = os.path.dirname(os.path.abspath(__file__))
  AVERAGING = 'queue'
  H = dict(lawa_testing.H, **{'k': 3})
  EMA_DECAY = {'v0.5': None, 'v0.6': None}
  BAD_INPUTS = [('k', 0), ('k', 2.5), ('learning_rate', -1.0)]
