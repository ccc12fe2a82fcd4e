"""Prints `workload,framework,params,tensors` for every registered workload at full scale.

  bazel run //workloads:param_counts [-- --workloads=imagenet_resnet,wmt --frameworks=jax]

Counts come from shapes alone (jax.eval_shape; torch's meta device): no full-scale weights are allocated.
"""
import sys

from absl import app
from absl import flags

flags.DEFINE_list('workloads', None, 'Workload keys (default: every registered one).')
flags.DEFINE_list('frameworks', ['jax', 'pytorch'], 'Frameworks.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from workloads import registry  # pylint: disable=import-outside-toplevel
  from workloads.common import param_count  # pylint: disable=import-outside-toplevel
  print('workload,framework,params,tensors')
  missing = []
  for name in FLAGS.workloads or list(registry.WORKLOADS):
    for framework in FLAGS.frameworks:
      try:
        workload = registry.import_workload(name, framework, scale='full')
      except ValueError as e:
        missing.append(f'{name} ({framework}): {e}')
        continue
      params, tensors = param_count.count(param_count.param_shapes(workload, framework))
      print(f'{name},{framework},{params},{tensors}', flush=True)
  for line in missing:
    print(f'skipped {line}', file=sys.stderr)


if __name__ == '__main__':
  app.run(main)
