"""JAX's persistent compilation cache is off unless ALGOPERF_JAX_CACHE_DIR names a folder (the rules time
compilation, so a cache an earlier trial filled would change scores)."""
import types

from algoperf import runner


def _fake_jax(devices):
  updates = {}
  config = types.SimpleNamespace(update=updates.__setitem__)
  return types.SimpleNamespace(config=config, local_device_count=lambda: devices), updates


def test_off_by_default(monkeypatch):
  monkeypatch.delenv('ALGOPERF_JAX_CACHE_DIR', raising=False)
  jax, updates = _fake_jax(devices=1)
  runner._use_jax_compilation_cache(jax)  # pylint: disable=protected-access
  assert not updates


def test_a_named_folder_turns_it_on_for_one_device(monkeypatch, tmp_path):
  folder = tmp_path / 'cache'
  monkeypatch.setenv('ALGOPERF_JAX_CACHE_DIR', str(folder))
  jax, updates = _fake_jax(devices=1)
  runner._use_jax_compilation_cache(jax)  # pylint: disable=protected-access
  assert updates == {'jax_compilation_cache_dir': str(folder)} and folder.is_dir()
  jax, updates = _fake_jax(devices=2)  # Programs loaded from it deadlocked on two host devices.
  runner._use_jax_compilation_cache(jax)  # pylint: disable=protected-access
  assert not updates


def test_off_disables_it(monkeypatch):
  monkeypatch.setenv('ALGOPERF_JAX_CACHE_DIR', 'off')
  jax, updates = _fake_jax(devices=1)
  runner._use_jax_compilation_cache(jax)  # pylint: disable=protected-access
  assert not updates
