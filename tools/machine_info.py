"""What a timing was measured on: recorded beside lite targets (set_targets) and reference wall times
(benchmark --write_reference_walls), since times measured on one CPU differ on another of the same count."""
import os
import platform
from typing import Any, Dict, List, Optional


def cpu_model() -> Optional[str]:
  """The CPU's model name (Linux /proc/cpuinfo), None elsewhere."""
  try:
    with open('/proc/cpuinfo') as f:
      return next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), None)
  except OSError:
    return None


def machine() -> Dict[str, Any]:
  return {'platform': platform.platform(), 'processor': platform.processor() or platform.machine(),
          'cpu_model': cpu_model(), 'cpu_count': os.cpu_count(), 'python': platform.python_version(),
          'omp_num_threads': os.environ.get('OMP_NUM_THREADS'), 'kernels': os.environ.get('ALGOPERF_KERNELS', 'on')}


def load_average() -> List[float]:
  return [round(x, 2) for x in os.getloadavg()]
