"""Renders the leaderboard of the synthetic example experiment and screenshots it with Chromium.

bazel run //scoring:screenshot  (writes scoring/docs/leaderboard_screenshot.png in the workspace)
"""
import argparse
import os
import pathlib
import sys
import tempfile

from PIL import Image

from scoring import chromium
from scoring import example_experiment as ex
from scoring import leaderboard

_MAX_BYTES = 500_000


def _default_output():
  workspace = pathlib.Path(os.environ.get('BUILD_WORKSPACE_DIRECTORY', '.'))
  return workspace / 'scoring' / 'docs' / 'leaderboard_screenshot.png'


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument('--output', type=pathlib.Path, default=_default_output())
  p.add_argument('--keep', type=pathlib.Path, help='also keep the example and its leaderboard here')
  args = p.parse_args(argv)
  with tempfile.TemporaryDirectory() as tmp:
    work = args.keep or pathlib.Path(tmp)
    root = ex.write_example(work / 'example_experiment')
    result = leaderboard.write_leaderboard(experiment_dir=root, output_dir=work / 'leaderboard')
    args.output.parent.mkdir(parents=True, exist_ok=True)
    chromium.screenshot(result.paths['html'], args.output, width=1280, height=2000)
  # A 256-colour palette keeps text and plots sharp at a fraction of the size.
  Image.open(args.output).convert('RGB').quantize(256).save(args.output, optimize=True)
  if args.output.stat().st_size > _MAX_BYTES:
    print(f'warning: {args.output} is over {_MAX_BYTES} bytes', file=sys.stderr)
  print(f'wrote {args.output} ({args.output.stat().st_size} bytes)')
  return 0


if __name__ == '__main__':
  sys.exit(main())
