"""The scorer says what it found per submission and workload, and warns when a run is shorter than the
rules (1 study of 2 trials under v0.6, which expects 3 of 5), suggesting the flag that scores it."""
import re

import pytest

from scoring import example_experiment as ex
from scoring import score as cli


RANK_LINE = re.compile(r'^\s*\d+\s+(\d\.\d{4})\s+\S+$')


def ranking_scores(out):
  return [float(m.group(1)) for m in map(RANK_LINE.match, out.splitlines()) if m]


@pytest.fixture(scope='module')
def short_run(tmp_path_factory):
  return ex.write_example(tmp_path_factory.mktemp('runs'), workloads=ex.WORKLOADS[:1], num_studies=1,
                          num_trials=2)


def test_counts_are_printed_and_the_shortfall_warned(short_run, tmp_path, capsys, caplog):
  assert cli.main([f'--experiment_dir={short_run}', f'--output_dir={tmp_path}']) == 0
  out = capsys.readouterr().out
  workload = ex.WORKLOADS[0].name
  assert 'found (3 studies of 5 trials expected):' in out
  for sub in ex.SUBMISSIONS:
    assert (f'{sub} on {workload}: 1 study (2 trials each); the rules expect 3 studies of 5 trials'
            in out)
  warnings = caplog.text
  assert f"1 studies of '{workload}'" in warnings and '--num_studies=1' in warnings
  assert '--num_trials=2' in warnings
  # With 2 of 3 studies missing, every median is infinite: all scores 0, which the warning explains.
  assert ranking_scores(out) == [0.0] * len(ex.SUBMISSIONS)


def test_strict_turns_the_shortfall_into_an_error(short_run, tmp_path, capsys):
  assert cli.main([f'--experiment_dir={short_run}', f'--output_dir={tmp_path}', '--strict']) == 2
  err = capsys.readouterr().err
  assert 'score: error:' in err and '--num_studies=1' in err and 'Traceback' not in err


def test_the_suggested_flags_score_the_run(short_run, tmp_path, capsys, caplog):
  assert cli.main([f'--experiment_dir={short_run}', f'--output_dir={tmp_path}', '--num_studies=1',
                   '--num_trials=2', '--strict']) == 0
  out = capsys.readouterr().out
  assert 'found (1 study of 2 trials expected):' in out and 'the rules expect' not in out
  scores = ranking_scores(out)
  assert len(scores) == len(ex.SUBMISSIONS) and max(scores) == 1.0  # The fastest scores 1 once counted.
