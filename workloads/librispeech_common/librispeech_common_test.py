"""The shared LibriSpeech pieces: dataset builder text rules, FLAC-tree pipeline, front end, SpecAugment,
CTC loss and WER, on hand-computed cases and across the two frameworks."""
import os

os.environ.setdefault('XLA_FLAGS', '--xla_backend_optimization_level=0')

import dataclasses  # pylint: disable=wrong-import-position
import math  # pylint: disable=wrong-import-position

import jax  # pylint: disable=wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position
import soundfile  # pylint: disable=wrong-import-position
import torch  # pylint: disable=wrong-import-position

from algoperf import spec  # pylint: disable=wrong-import-position
from tools.datasets import librispeech as builder  # pylint: disable=wrong-import-position
from workloads import registry  # pylint: disable=wrong-import-position
from workloads.librispeech_common import frontend  # pylint: disable=wrong-import-position
from workloads.librispeech_common import input_pipeline  # pylint: disable=wrong-import-position
from workloads.librispeech_common import testing  # pylint: disable=wrong-import-position
from workloads.librispeech_common import tokenizer  # pylint: disable=wrong-import-position
from workloads.librispeech_common import wer  # pylint: disable=wrong-import-position
from workloads.librispeech_common.jax import layers as jax_layers  # pylint: disable=wrong-import-position
from workloads.librispeech_common.pytorch import layers as torch_layers  # pylint: disable=wrong-import-position
from workloads.librispeech_common.specaug import SpecAugConfig  # pylint: disable=wrong-import-position
from workloads.librispeech_common.workload import group_batch  # pylint: disable=wrong-import-position

DATA_DIR = testing.smoke_data_dir()


@pytest.mark.parametrize('raw, expected', [
    ('Please press 1 to mute or unmute yourself.', 'PLEASE PRESS ONE TO MUTE OR UNMUTE YOURSELF'),
    ("If you'd like to test... dial 500 now.", None),  # Multi-digit numbers: the spoken form is ambiguous.
    ('[this is a simple beep tone]', None),
    ('(1 second of silence)', None),
    ('at [@]', 'AT'),
    ('IAX (note: does not say "2")', 'IAX'),
    ("Call-Forward on No Answer 'now'", 'CALL FORWARD ON NO ANSWER NOW'),
])
def test_builder_writes_librispeech_style_transcripts(raw, expected):
  assert builder.normalise_transcript(raw) == expected


def test_builder_reads_sphinx_transcripts():
  text = '<s> ten of clubs  </s> (001)\n<s> five five </s> (004)\n'
  parsed = builder._sphinx_transcripts(text)  # pylint: disable=protected-access
  assert parsed == {'001': 'ten of clubs', '004': 'five five'}


def test_fixture_is_a_librispeech_tree_with_audio_and_transcripts():
  root = os.path.join(DATA_DIR, 'librispeech')
  rows = input_pipeline.read_transcripts(os.path.join(root, 'train-clean-100'))
  assert len(rows) == 22 and rows[0][0] == '1001-2-0000'
  utt_id, path, text = rows[-1]
  assert utt_id == '1002-1-0001' and text == 'HE MIGHT EVEN HAVE BEEN MADE AMIABLE HIMSELF'
  info = soundfile.info(path)
  assert (info.format, info.samplerate, info.channels, info.subtype) == ('FLAC', 16_000, 1, 'PCM_16')


def _smoke_data(split='train', **overrides):
  config = input_pipeline.SpeechDataConfig(**{'max_audio_samples': 24_000, 'max_target_tokens': 16,
                                              'vocab_size': 32, **overrides})
  processor = tokenizer.load(tokenizer.default_path(DATA_DIR, 32))
  return input_pipeline.SplitData(input_pipeline.index_split(DATA_DIR, split, processor, config), config), processor


def test_pipeline_drops_what_does_not_fit_and_pads_the_rest():
  data, processor = _smoke_data()
  assert len(data) == 20  # The two LibriVox clips (3.0 s and 3.3 s) do not fit in 1.5 s.
  assert len(_smoke_data(max_audio_samples=64_000, max_target_tokens=64)[0]) == 22
  batch = data.batch(np.array([0, 3]), np.array([1.0, 0.0]))
  assert batch['inputs'].shape == batch['input_paddings'].shape == (2, 24_000)
  assert batch['targets'].shape == batch['target_paddings'].shape == (2, 16)
  audio, _ = soundfile.read(data.utterances[0].path, dtype='int16')
  valid = int((1 - batch['input_paddings'][0]).sum())
  assert valid == len(audio) and np.array_equal(batch['inputs'][0, :valid], audio)
  assert not batch['inputs'][0, valid:].any()
  tokens = batch['targets'][0, :int((1 - batch['target_paddings'][0]).sum())]
  assert processor.decode(tokens.tolist()) == data.utterances[0].transcript == 'ZERO'
  assert batch['input_paddings'][1].all() and batch['target_paddings'][1].all()  # A weight-0 row is padding.


def test_train_batches_are_a_pure_function_of_seed_and_step():
  data, _ = _smoke_data()
  batches = [b for _, b in zip(range(7), data.train_batches(4, seed=5))]  # 5 batches per epoch.
  resumed = next(data.train_batches(4, seed=5, start_step=6))
  np.testing.assert_array_equal(resumed['inputs'], batches[6]['inputs'])
  assert not np.array_equal(batches[0]['targets'], batches[5]['targets'])


def test_eval_batches_cover_the_split_once_with_padding_rows():
  data, _ = _smoke_data('validation')
  batches = list(data.eval_batches(4, num_examples=6))
  assert [b['weights'].tolist() for b in batches] == [[1, 1, 1, 1], [1, 1, 0, 0]]
  assert batches[1]['input_paddings'][2:].all()


def test_missing_data_names_the_command():
  workload = registry.import_workload('librispeech_conformer', 'jax', scale='smoke')
  with pytest.raises(FileNotFoundError, match='make_datasets -- --dataset=librispeech'):
    workload.check_data('/nonexistent')


def test_front_end_twins_match_the_numpy_reference():
  data, _ = _smoke_data()
  batch = data.batch(np.arange(3))
  reference, paddings = frontend.log_mel(batch['inputs'], batch['input_paddings'])
  assert reference.shape == (3, frontend.num_frames(24_000), 80) and frontend.num_frames(320_000) == 1998
  jax_features, jax_paddings = jax.jit(jax_layers.log_mel)(batch['inputs'], batch['input_paddings'])
  torch_features, torch_paddings = torch_layers.LogMel()(torch.from_numpy(batch['inputs']),
                                                         torch.from_numpy(batch['input_paddings']))
  for features, frame_paddings in ((np.asarray(jax_features), jax_paddings), (torch_features.numpy(), torch_paddings)):
    np.testing.assert_array_equal(np.asarray(frame_paddings), paddings)
    np.testing.assert_allclose(features, reference, atol=2e-3, rtol=1e-4)
  # A frame is padding only when all its samples are: valid frames = ceil(valid samples / 160).
  lengths = (1 - batch['input_paddings']).sum(axis=1)
  np.testing.assert_array_equal((1 - paddings).sum(axis=1), np.ceil(lengths / 160))


def test_kept_samples_by_hand():
  assert frontend.num_frames(24_000) == 148
  # 63 valid frames + the 2 the first conv reads past them, rounded up to 148 mod 4: 68 frames.
  assert frontend.kept_samples(24_000, 9_999) == 401 + 67 * 160
  assert frontend.kept_samples(24_000, 23_999) == 24_000  # Nothing to drop.
  assert frontend.kept_samples(24_000, -1) == 401 + 3 * 160  # All padding: 2 frames, rounded up to 4.


def test_pytorch_trim_padding_keeps_outputs_and_gradients():
  workload = registry.import_workload('librispeech_conformer', 'pytorch', scale='smoke')
  model, _ = workload.init_model_fn(np.array([0, 1], np.uint32))
  testing.randomize_torch_model(model)
  batch = group_batch({k: torch.from_numpy(v) for k, v in testing.smoke_batch(workload).items()})
  assert torch_layers.trim_padding(*batch['inputs'])[0].shape[1] < 24_000  # The batch has padding to drop.
  results = []
  for trim in (False, True):
    model.config = dataclasses.replace(model.config, trim_padding=trim)
    model.zero_grad()
    torch.manual_seed(0)  # The same SpecAugment and dropout draws.
    (logits, paddings), _ = workload.model_fn(model, batch, None, spec.ForwardPassMode.TRAIN, None, False, 0.1)
    loss = workload.loss_fn(batch['targets'], (logits, paddings), batch['weights'])['summed']
    loss.backward()
    results.append([loss.detach(), logits.detach(), paddings] + [p.grad for p in model.parameters()])
  for untrimmed, trimmed in zip(*results):
    np.testing.assert_allclose(trimmed.numpy(), untrimmed.numpy(), rtol=1e-5, atol=1e-6)


def test_spec_augment_masks_match_a_hand_example_and_across_frameworks():
  config = SpecAugConfig(freq_mask_count=1, time_mask_count=1)
  paddings = np.zeros((1, 120), np.float32)
  paddings[:, 100:] = 1.0  # 100 valid frames: masks of at most int(0.05 * 100) = 5 frames.
  u_time = np.array([[[0.5, 0.2]]], np.float32)  # int(0.5 * 5) = 2 frames from int(0.2 * 99) = 19.
  u_freq = np.array([[[0.5, 0.0]]], np.float32)  # int(0.5 * 27) = 13 bins from 0.
  jax_time, jax_freq = jax_layers.spec_augment_masks(u_time, u_freq, paddings, 80, config)
  torch_time, torch_freq = torch_layers.spec_augment_masks(torch.from_numpy(u_time), torch.from_numpy(u_freq),
                                                           torch.from_numpy(paddings), 80, config)
  expected_time = np.ones((1, 120), np.float32)
  expected_time[0, 19:21] = 0.0
  expected_freq = np.ones((1, 80), np.float32)
  expected_freq[0, :13] = 0.0
  for time_keep, freq_keep in ((jax_time, jax_freq), (torch_time.numpy(), torch_freq.numpy())):
    np.testing.assert_array_equal(np.asarray(time_keep), expected_time)
    np.testing.assert_array_equal(np.asarray(freq_keep), expected_freq)
  rs = np.random.RandomState(0)
  u_time, u_freq = rs.rand(6, 10, 2).astype(np.float32), rs.rand(6, 2, 2).astype(np.float32)
  paddings = (np.arange(300)[None, :] >= rs.randint(0, 300, size=(6, 1))).astype(np.float32)
  jax_masks = jax_layers.spec_augment_masks(u_time, u_freq, paddings, 80, SpecAugConfig())
  torch_masks = torch_layers.spec_augment_masks(torch.from_numpy(u_time), torch.from_numpy(u_freq),
                                                torch.from_numpy(paddings), 80, SpecAugConfig())
  for a, b in zip(jax_masks, torch_masks):
    np.testing.assert_array_equal(np.asarray(a), b.numpy())


def _ctc_both(logits, logit_paddings, targets, target_paddings, weights):
  jax_loss = jax_layers.ctc_loss(*(jnp.asarray(x) for x in (logits, logit_paddings, targets, target_paddings, weights)))
  torch_loss = torch_layers.ctc_loss(*(torch.from_numpy(x) for x in (logits, logit_paddings, targets,
                                                                      target_paddings, weights)))
  return jax_loss, torch_loss


def test_ctc_loss_matches_a_hand_computed_case_in_both_frameworks():
  # Two frames, uniform over {blank, a}: the paths for "a" are (a, a), (blank, a), (a, blank) -> 3/4.
  logits = np.zeros((2, 2, 2), np.float32)
  logit_paddings = np.array([[0, 0], [1, 1]], np.float32)  # Row 2 pads the batch (weight 0).
  targets = np.array([[1, 0], [0, 0]], np.int32)
  target_paddings = np.array([[0, 1], [1, 1]], np.float32)
  weights = np.array([1, 0], np.float32)
  for loss in _ctc_both(logits, logit_paddings, targets, target_paddings, weights):
    np.testing.assert_allclose(float(loss['summed']), -math.log(0.75), rtol=1e-5)
    assert float(loss['n_valid_examples']) == 1.0  # One target token in the real rows.
    assert float(loss['per_example'][1]) == 0.0


def test_ctc_loss_agrees_across_frameworks_on_padded_batches():
  rs = np.random.RandomState(3)
  logits = rs.normal(size=(4, 30, 12)).astype(np.float32)
  logit_paddings = (np.arange(30)[None, :] >= np.array([[30], [25], [18], [22]])).astype(np.float32)
  targets = rs.randint(1, 12, size=(4, 8)).astype(np.int32)
  target_paddings = (np.arange(8)[None, :] >= np.array([[8], [5], [3], [6]])).astype(np.float32)
  weights = np.array([1, 1, 1, 0], np.float32)
  jax_loss, torch_loss = _ctc_both(logits, logit_paddings, targets, target_paddings, weights)
  np.testing.assert_allclose(np.asarray(jax_loss['per_example']), torch_loss['per_example'].numpy(), rtol=1e-4)
  assert float(jax_loss['n_valid_examples']) == float(torch_loss['n_valid_examples']) == 16.0


def test_greedy_decoding_and_word_error_rate_by_hand():
  np.testing.assert_array_equal(wer.collapse(np.array([0, 3, 3, 0, 3, 5, 5, 0, 7]), 8), [3, 3, 5])
  assert wer.edit_distance('the cat sat'.split(), 'the cat sat'.split()) == 0
  assert wer.edit_distance('a cat sat down'.split(), 'the cat sat'.split()) == 2  # 1 substitution, 1 insertion.
  assert wer.edit_distance([], 'three words here'.split()) == 3
  words = {1: 'the', 2: 'cat', 3: 'sat', 4: 'mat'}
  detokenize = lambda ids: ' '.join(words[int(i)] for i in ids)
  frame_ids = np.array([[1, 1, 0, 2, 4], [3, 0, 0, 0, 0], [1, 2, 3, 4, 1]])
  frame_paddings = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], np.float32)
  targets = np.array([[1, 2, 3], [3, 0, 0], [1, 1, 1]])
  target_paddings = np.array([[0, 0, 0], [0, 1, 1], [0, 0, 0]], np.float32)
  errors, num_words = wer.word_errors(frame_ids, frame_paddings, targets, target_paddings,
                                      np.array([1.0, 1.0, 0.0]), detokenize)
  assert (errors, num_words) == (1.0, 4.0)  # "the cat mat" vs "the cat sat"; "sat" exact; row 3 is padding.
