"""LAWA EMA: the shared LAWA tests (submissions/common/lawa_testing.py) on this folder."""
import os

from submissions.common import lawa_testing


class TestLawaEma(lawa_testing.LawaSubmissionTests):
  FOLDER = os.path.dirname(os.path.abspath(__file__))
  AVERAGING = 'ema'
  H = dict(lawa_testing.H, **{'lawa_beta': 0.5})
  EMA_DECAY = {'v0.5': 0.0, 'v0.6': 0.5}
  BAD_INPUTS = [('lawa_beta', 1.0), ('lawa_beta', -0.1), ('learning_rate', -1.0)]
