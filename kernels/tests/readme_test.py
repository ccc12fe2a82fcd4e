"""Every ```python block of kernels/README.md runs as written (each in a fresh namespace)."""
import os
import re

import pytest


def blocks():
  here = os.path.dirname(os.path.abspath(__file__))
  with open(os.path.join(here, '..', 'README.md')) as f:
    text = f.read()
  found = re.findall(r'```python\n(.*?)```', text, flags=re.S)
  assert len(found) >= 4, 'the README lost its examples'
  return found


@pytest.mark.parametrize('index', range(len(blocks())))
def test_readme_example_runs(index):
  code = blocks()[index]
  exec(compile(code, f'kernels/README.md[python block {index}]', 'exec'), {'__name__': '__readme__'})
