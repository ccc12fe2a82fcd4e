"""The written leaderboard: every file, the command line and the Python API for tools:benchmark."""
import csv
import pathlib
import re

import pytest

from scoring import example_experiment as ex
from scoring import leaderboard
from scoring import score as cli

TESTDATA = pathlib.Path(__file__).resolve().parent / 'testdata'
V06 = TESTDATA / 'hand_v06_study_times.csv'
PAPER_V06 = {'alpha': 35 / 48, 'beta': 23 / 48, 'gamma': 157 / 396}


def read_csv(path):
  with open(path, newline='') as f:
    return list(csv.reader(f))


@pytest.fixture(scope='module')
def written(tmp_path_factory):
  root = tmp_path_factory.mktemp('experiment')
  ex.write_example(root, workloads=ex.WORKLOADS[:2], num_trials=2)
  out = tmp_path_factory.mktemp('out')
  return leaderboard.write_leaderboard(experiment_dir=root, output_dir=out, num_trials=2), root


def test_every_file_is_written(written):
  result, _ = written
  assert sorted(p.name for p in result.paths.values()) == sorted(leaderboard.FILES.values())
  assert all(p.stat().st_size > 0 for p in result.paths.values())
  assert result.paths['performance_profile_png'].read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert result.warnings == []


def test_scores_csv_is_the_ranking(written):
  result, _ = written
  rows = read_csv(result.paths['scores_csv'])
  assert rows[0] == ['submission', 'score']
  assert [(s, float(v)) for s, v in rows[1:]] == [(s, v) for _, s, v in result.ranking]
  assert dict(result.scores) == {s: float(v) for s, v in rows[1:]}


def test_time_and_profile_csvs(written):
  result, _ = written
  times = read_csv(result.paths['time_to_targets_csv'])
  assert times[0] == ['submission', 'workload', 'role', 'time_sec', 'scored_time_sec', 'ratio']
  assert len(times) == 1 + 3 * 2
  profile = read_csv(result.paths['performance_profiles_csv'])
  assert profile[0] == ['tau'] + sorted(result.scores)
  assert len(profile) == 101 and float(profile[1][0]) == 1.0 and float(profile[-1][0]) == 4.0


def test_study_times_csv_rescores_to_the_same_scores(written, tmp_path):
  result, _ = written
  again = leaderboard.score(study_times=result.paths['study_times_csv'])
  assert again.scores == pytest.approx(result.scores)


def test_markdown_and_html_hold_the_ranking(written):
  result, _ = written
  markdown = result.paths['markdown'].read_text()
  page = result.paths['html'].read_text()
  for rank, sub, value in result.ranking:
    assert f'| {rank} | {sub} | {value:.4f} |' in markdown
    assert f'data-submission="{sub}"' in page
  assert '![Performance profiles](performance_profile.png)' in markdown
  # Self-contained: nothing to fetch, every image inline.
  assert not re.search(r'(src|href)="(?!data:)', page)
  assert page.count('src="data:image/png;base64,') == 1 + 2   # profile + one curve per workload


def test_cli_on_the_hand_table(tmp_path, capsys):
  out = tmp_path / 'out'
  assert cli.main([f'--study_times={V06}', '--rules_version=v0.6', '--ruleset=external',
                   f'--output_dir={out}']) == 0
  rows = read_csv(out / 'scores.csv')[1:]
  assert {s: float(v) for s, v in rows} == pytest.approx(PAPER_V06, abs=1e-12)
  assert 'alpha' in capsys.readouterr().out
  page = (out / 'leaderboard.html').read_text()
  assert 'id="no-curves"' in page   # no logs, no curves


def test_cli_relative_paths_follow_bazel_run(tmp_path, monkeypatch):
  monkeypatch.setenv('BUILD_WORKING_DIRECTORY', str(TESTDATA))
  assert cli.main(['--study_times=hand_v06_study_times.csv', f'--output_dir={tmp_path}']) == 0


def test_cli_errors_are_one_sentence(tmp_path, capsys):
  bad = tmp_path / 'bad.csv'
  bad.write_text(V06.read_text() + 'gamma,wm')
  assert cli.main([f'--study_times={bad}', f'--output_dir={tmp_path}']) == 0
  assert cli.main([f'--study_times={bad}', f'--output_dir={tmp_path}', '--strict']) == 2
  err = capsys.readouterr().err
  assert f'score: error: {bad}: ' in err and 'Traceback' not in err
  with pytest.raises(SystemExit):
    cli.main(['--output_dir=x'])   # no input: argparse explains


def test_api_for_the_benchmark(tmp_path):
  root = ex.write_example(tmp_path / 'runs', workloads=ex.WORKLOADS[:1], num_studies=1, num_trials=1)
  result = leaderboard.write_leaderboard(experiment_dir=root, output_dir=tmp_path / 'board',
                                         rules_version='v0.6', ruleset='self', strict=False,
                                         num_studies=1)
  assert result.warnings == [] and set(result.scores) == set(ex.SUBMISSIONS)
  assert result.paths['html'].exists() and result.output_dir == tmp_path / 'board'
