"""Entry point of every pytest-style py_test: runs pytest on the test files passed as arguments."""
import sys

import pytest

if __name__ == '__main__':
  # No cache: runfiles are read-only. -p no:cacheprovider also keeps the test tree clean.
  sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-W', 'ignore::DeprecationWarning'] + sys.argv[1:]))
