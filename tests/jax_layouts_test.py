"""The two JAX layouts on two (emulated) devices: v0.5's pmap layout and v0.6's jit layout.

Submissions written in each era's style (tests/testdata/era_corpus/) train MNIST smoke to a reachable
target unchanged, and the pmap-era file in the pmap layout ends with the same validation loss as the
jit-era file in the jit layout (the same Adam with decoupled weight decay, written twice: a chex-dataclass
state under `jax.pmap` with `lax.psum`, and optax's adamw under `jax.jit`).
"""
import os

os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=2'  # Before JAX starts.

import jax  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position

from algoperf import jax_compat  # pylint: disable=wrong-import-position
from algoperf import rules as rules_lib  # pylint: disable=wrong-import-position
from algoperf import runner  # pylint: disable=wrong-import-position
from algoperf import submission_loader  # pylint: disable=wrong-import-position
from algoperf import training_loop  # pylint: disable=wrong-import-position
from algoperf import tuning  # pylint: disable=wrong-import-position
from workloads.mnist.jax.workload import MnistWorkload  # pylint: disable=wrong-import-position

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
CORPUS = os.path.join(ROOT, 'tests', 'testdata', 'era_corpus')
V05_JAX = os.path.join(CORPUS, 'v05_jax_pmap', 'submission.py')
V06_JAX = os.path.join(CORPUS, 'v06_jax_jit', 'submission.py')
HPARAMS = {'learning_rate': 0.003, 'one_minus_beta1': 0.1, 'beta2': 0.999, 'weight_decay': 0.0001,
           'warmup_factor': 0.05}
BATCH_SIZE = 64

runner.configure_frameworks('jax')


class ReachableMnist(MnistWorkload):
  """MNIST smoke with targets its 2,000 training digits can reach (the smoke scale keeps the published,
  unreachable 0.97 so that other tests decide when runs stop); one eval per 100 steps' worth of time."""

  @property
  def validation_target_value(self):
    return 0.90

  @property
  def test_target_value(self):
    return 0.89

  @property
  def eval_period_time_sec(self):
    return 2


def _train(path, layout, rules_version, tmp_path, max_steps=1500):
  submission = submission_loader.load_submission(path)
  workload = ReachableMnist(scale='smoke', rules_version=rules_version, jax_layout=layout)
  config = training_loop.TrialConfig(framework='jax', ruleset='external', rules=rules_lib.get_rules(rules_version),
                                     data_dir=DATA_DIR, max_global_steps=max_steps, save_checkpoints=False,
                                     progress=None)
  _, info = training_loop.train_once(workload, submission, BATCH_SIZE, 500, tuning.to_hyperparameters(HPARAMS), 7,
                                     str(tmp_path), config)
  return workload, info


def test_two_devices_are_emulated():
  assert jax.local_device_count() == 2


def test_pmap_layout_replicates_params_and_splits_batches():
  workload = MnistWorkload(scale='smoke', rules_version='v0.5', jax_layout='pmap')
  params, _ = workload.init_model_fn(jax.random.PRNGKey(0))
  flat = jax.tree.leaves(params)
  shapes = jax.tree.leaves(workload.param_shapes, is_leaf=lambda s: hasattr(s, 'shape_tuple'))
  for leaf, shape in zip(flat, shapes):
    assert leaf.shape == (2,) + shape.shape_tuple  # One replica per device; shapes stay per replica.
    assert len(leaf.sharding.device_set) == 2
    np.testing.assert_array_equal(np.asarray(leaf[0]), np.asarray(leaf[1]))
  batch = next(workload._build_input_queue(jax.random.PRNGKey(1), 'train', DATA_DIR, BATCH_SIZE))  # pylint: disable=protected-access
  assert batch['inputs'].shape == (2, BATCH_SIZE // 2, 28, 28, 1)
  assert batch['targets'].shape == (2, BATCH_SIZE // 2)
  # The jit layout of the same seed: the same parameters without the device axis, a global batch.
  jit_workload = MnistWorkload(scale='smoke', rules_version='v0.6')
  jit_params, _ = jit_workload.init_model_fn(jax.random.PRNGKey(0))
  for leaf, jit_leaf in zip(flat, jax.tree.leaves(jit_params)):
    np.testing.assert_array_equal(np.asarray(leaf[0]), np.asarray(jit_leaf))
  jit_batch = next(jit_workload._build_input_queue(jax.random.PRNGKey(1), 'train', DATA_DIR, BATCH_SIZE))  # pylint: disable=protected-access
  np.testing.assert_array_equal(np.asarray(batch['inputs']).reshape(jit_batch['inputs'].shape),
                                np.asarray(jit_batch['inputs']))
  # Evals take the replicated parameters and give the jit layout's numbers.
  rng = jax.random.PRNGKey(2)
  pmap_eval = workload.eval_model(500, params, None, rng, DATA_DIR)
  jit_eval = jit_workload.eval_model(500, jit_params, None, rng, DATA_DIR)
  assert pmap_eval == pytest.approx(jit_eval, rel=1e-6)


def test_unknown_layout_is_one_sentence():
  with pytest.raises(ValueError, match='Unknown JAX layout .pjit.; use "jit" .v0.6. or "pmap" .v0.5.'):
    MnistWorkload(scale='smoke', jax_layout='pjit')


def test_layout_follows_the_file_and_the_rules():
  assert submission_loader.jax_layout(V05_JAX, 'v0.5') == 'pmap'
  assert submission_loader.jax_layout(V05_JAX, 'v0.6') == 'jit'  # v0.6 keeps the jit layout.
  assert submission_loader.jax_layout(V06_JAX, 'v0.5') == 'jit'  # v0.6-format files run under v0.5 too.
  assert submission_loader.jax_layout(V06_JAX, 'v0.5', 'pmap') == 'pmap'
  with pytest.raises(ValueError, match='Unknown JAX layout'):
    submission_loader.jax_layout(V06_JAX, 'v0.5', 'shard_map')


def test_shim_restores_removed_names():
  jax_compat.install()
  tree = {'a': np.arange(3.0), 'b': (np.ones(2),)}
  assert jax.tree_map(lambda x: x * 2, tree)['a'].tolist() == [0.0, 2.0, 4.0]
  assert len(jax.tree_leaves(tree)) == 2
  leaves, treedef = jax.tree_flatten(tree)
  assert jax.tree_unflatten(treedef, leaves)['b'][0].tolist() == [1.0, 1.0]
  assert jax.tree_structure(tree) == treedef
  replicated = jax.device_put_replicated(np.arange(4.0), jax.local_devices())
  assert replicated.shape == (2, 4) and len(replicated.sharding.device_set) == 2
  sharded = jax.device_put_sharded([np.zeros(3), np.ones(3)], jax.local_devices())
  assert np.asarray(sharded).tolist() == [[0.0] * 3, [1.0] * 3]
  with pytest.raises(ValueError, match='3 shards for 2 devices'):
    jax.device_put_sharded([np.zeros(1)] * 3, jax.local_devices())


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  pmap_workload, pmap_info = _train(V05_JAX, 'pmap', 'v0.5', tmp_path_factory.mktemp('pmap'))
  jit_workload, jit_info = _train(V06_JAX, 'jit', 'v0.6', tmp_path_factory.mktemp('jit'))
  return (pmap_workload, pmap_info), (jit_workload, jit_info)


@pytest.mark.parametrize('which', [0, 1], ids=['v0.5_pmap', 'v0.6_jit'])
def test_each_era_trains_mnist_to_the_target(trained, which):
  workload, info = trained[which]
  final = info['eval_results'][-1][1]
  assert workload.has_reached_validation_target(final) and workload.has_reached_test_target(final)
  # Not "stopped before the step limit": evals are gated on submission time (1 s at smoke scale), so on a fast
  # machine the first eval after step 1 can be the one at the limit.


class FixedStepsMnist(MnistWorkload):
  """MNIST smoke evaluated only after the first and the last step (an eval period longer than any run)."""

  @property
  def eval_period_time_sec(self):
    return 10**6


def test_pmap_and_jit_eras_train_alike(tmp_path):
  losses = []
  for path, layout, version in ((V05_JAX, 'pmap', 'v0.5'), (V06_JAX, 'jit', 'v0.6')):
    submission = submission_loader.load_submission(path)
    workload = FixedStepsMnist(scale='smoke', rules_version=version, jax_layout=layout)
    config = training_loop.TrialConfig(framework='jax', ruleset='external', rules=rules_lib.get_rules(version),
                                       data_dir=DATA_DIR, max_global_steps=300, save_checkpoints=False,
                                       progress=None)
    os.makedirs(tmp_path / layout)
    _, info = training_loop.train_once(workload, submission, BATCH_SIZE, 500, tuning.to_hyperparameters(HPARAMS),
                                       7, str(tmp_path / layout), config)
    assert [step for step, _ in info['eval_results']] == [1, 300]
    losses.append(info['eval_results'][-1][1]['validation/loss'])
  # Same seed, batches and Adam math: the pmap file's psum over 2 devices matches the jit file's global mean.
  assert losses[0] == pytest.approx(losses[1], rel=1e-4)
  assert losses[0] < 0.5  # And both learned (chance level is log(10) = 2.3).


OGBG_DATA_DIR = os.environ.get('OGBG_TEST_DATA_DIR', os.path.join(ROOT, 'workloads', 'ogbg', 'smoke_data'))


def test_graph_batches_in_the_pmap_layout_keep_each_device_graph_local():
  """OGBG: device k gets sub-batch k with node indices rebased; pmapped logits equal the jit layout's."""
  from algoperf import spec  # pylint: disable=import-outside-toplevel
  from workloads.ogbg.jax.workload import OgbgWorkload  # pylint: disable=import-outside-toplevel
  pmap_workload = OgbgWorkload(scale='smoke', rules_version='v0.5', jax_layout='pmap')
  jit_workload = OgbgWorkload(scale='smoke', rules_version='v0.6')
  rng, data_rng = jax.random.PRNGKey(0), jax.random.PRNGKey(5)
  pmap_params, _ = pmap_workload.init_model_fn(rng)
  jit_params, _ = jit_workload.init_model_fn(rng)
  pmap_batch = next(pmap_workload._build_input_queue(data_rng, 'train', OGBG_DATA_DIR, 32))  # pylint: disable=protected-access
  jit_batch = next(jit_workload._build_input_queue(data_rng, 'train', OGBG_DATA_DIR, 32))  # pylint: disable=protected-access
  nodes_per_device = pmap_batch['inputs']['nodes'].shape[1]
  assert pmap_batch['inputs']['nodes'].shape[0] == 2
  assert int(np.asarray(pmap_batch['inputs']['senders']).max()) < nodes_per_device  # Local indices.

  def logits(params, batch):
    return pmap_workload.model_fn(params, batch, None, spec.ForwardPassMode.EVAL, None, False)[0]

  pmapped = np.asarray(jax.pmap(logits)(pmap_params, pmap_batch))
  global_logits = np.asarray(jax.jit(
      lambda p, b: jit_workload.model_fn(p, b, None, spec.ForwardPassMode.EVAL, None, False)[0])(jit_params,
                                                                                                 jit_batch))
  np.testing.assert_allclose(pmapped.reshape(global_logits.shape), global_logits, rtol=1e-5, atol=1e-5)


def test_replicated_optimizer_state_does_not_make_the_second_step_compile_again():
  from flax import jax_utils  # pylint: disable=import-outside-toplevel
  from workloads.common import jax_workload  # pylint: disable=import-outside-toplevel
  jax_compat.install()
  compiles = []

  def step(params, opt_state, batch):
    compiles.append(1)  # Runs once per trace.
    return params - 0.1 * batch.sum(), opt_state + 1

  update = jax.pmap(step, axis_name='batch', donate_argnums=(0, 1))
  params = jax_workload.replicate_over_devices(np.ones(3, np.float32))
  opt_state = jax_utils.replicate(np.zeros(3, np.float32))
  batch = jax_workload.split_over_devices(np.ones((4, 3), np.float32))
  for _ in range(3):
    params, opt_state = update(params, opt_state, batch)
  assert len(compiles) == 1
  assert np.asarray(opt_state).tolist() == [[3.0] * 3] * 2
