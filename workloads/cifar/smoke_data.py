"""Where the tests find the smoke fixture (the genrule :cifar_smoke_data), under Bazel or a plain pytest."""
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def data_dir() -> str:
  """$CIFAR_SMOKE_DATA_DIR, else the genrule's output beside this file (Bazel runfiles) or in bazel-bin."""
  candidates = [os.environ.get('CIFAR_SMOKE_DATA_DIR', ''), os.path.join(_HERE, 'smoke'),
                os.path.join(_HERE, '..', '..', 'bazel-bin', 'workloads', 'cifar', 'smoke')]
  for candidate in candidates:
    if candidate and os.path.exists(os.path.join(candidate, 'cifar', 'provenance.json')):
      return candidate
  raise FileNotFoundError('The CIFAR smoke fixture is missing; run `./bazelw build //workloads/cifar:cifar_smoke_data` '
                          'or set CIFAR_SMOKE_DATA_DIR to a --source=foolbox build of tools:make_datasets.')
