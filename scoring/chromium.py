"""Headless Chromium for the page test and the screenshot: one process per call, nothing kept."""
import os
import pathlib
import shutil
import subprocess
import tempfile

INSTALL_HINT = 'apt-get install chromium chromium-driver'
_NAMES = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')


def find():
  """Path of a Chromium binary, or None."""
  for name in _NAMES:
    path = shutil.which(name) or shutil.which(name, path='/usr/bin:/usr/local/bin:/snap/bin')
    if path:
      return path
  return None


def _run(html_path, extra, timeout):
  binary = find()
  if binary is None:
    raise FileNotFoundError(f'chromium is not installed; install it with `{INSTALL_HINT}`')
  with tempfile.TemporaryDirectory(prefix='chromium-profile-') as profile:
    # Root in a container needs --no-sandbox; the rest keeps a headless run quiet and offline.
    args = [binary, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--disable-dev-shm-usage', '--hide-scrollbars', f'--user-data-dir={profile}',
            '--virtual-time-budget=5000'] + extra + [pathlib.Path(html_path).resolve().as_uri()]
    env = dict(os.environ, HOME=profile)
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False)
  if done.returncode != 0:
    raise RuntimeError(f'chromium exited with {done.returncode}: {done.stderr[-2000:]}')
  return done.stdout


def dump_dom(html_path, timeout=60):
  """The DOM after the page's load handlers ran, as HTML text."""
  return _run(html_path, ['--dump-dom'], timeout)


def screenshot(html_path, png_path, width=1280, height=2000, timeout=60):
  _run(html_path, [f'--screenshot={pathlib.Path(png_path).resolve()}', f'--window-size={width},{height}'],
       timeout)
  return pathlib.Path(png_path)
