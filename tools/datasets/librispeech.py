"""LibriSpeech as FLAC trees with .trans.txt transcripts, from real read speech in Debian packages.

Sources (pinned .debs from the Debian archive, verified by sha256):
- pocketsphinx-testdata: 5 LibriVox utterances of Sense and Sensibility (LibriSpeech's own source) and
  5 read "cards" utterances, 16 kHz mono 16-bit WAV with CMU Sphinx transcripts;
- asterisk-core-sounds-en-wav: the 568 English prompts read by one speaker (Allison), 8 kHz mono WAV,
  resampled here to 16 kHz; their transcripts come from asterisk-core-sounds-en's core-sounds-en.txt.gz.

Transcripts are normalised to LibriSpeech style (upper case, letters, apostrophes and single spaces).
Prompts that are not speech ("[beep]", "(1 second of silence)") or whose words we cannot spell out for
sure (multi-digit numbers such as "dial 500") are left out; single digits become words ("press 1").

Layout, as LibriSpeech: <data_dir>/librispeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
plus <speaker>-<chapter>.trans.txt, with splits train-clean-100, dev-clean and test-clean. Every prompt
goes to one split by a hash of its name (80/10/10); the pocketsphinx clips (other speakers) are training
data. Beside the tree: SentencePiece unigram tokenizers trained on the training transcripts
(spm_<vocab>.model for each size in TOKENIZER_VOCAB_SIZES; id 0 is <pad>, the CTC blank, and 1 is
<unk>), manifest.tsv (where every utterance came from) and provenance.json.

`source='smoke'` writes SMOKE_PROMPTS only, a fixed few utterances for unit tests.

No root is needed: a .deb is an ar archive whose data.tar.* member Python's tarfile reads.
"""
import dataclasses
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from tools.datasets import sources

DEBIAN_MIRROR = 'https://deb.debian.org/debian'
POCKETSPHINX = sources.Package(
    'debian', 'pocketsphinx-testdata', '0.8+5prealpha+1-15',
    'pool/main/p/pocketsphinx/pocketsphinx-testdata_0.8+5prealpha+1-15_all.deb',
    'eaeb7a01d54f20b799d1a81ef110ec544b2cb47ea006614078220737a33019f0',
    'BSD-2-Clause (CMU); LibriVox recordings are public domain')
ASTERISK_WAV = sources.Package(
    'debian', 'asterisk-core-sounds-en-wav', '1.6.1-1',
    'pool/main/a/asterisk-core-sounds/asterisk-core-sounds-en-wav_1.6.1-1_all.deb',
    '2be3ea287d83299d143815fa804f11179a75b7affd4a758b98b55f5afc18a35d', 'CC-BY-SA-3.0')
ASTERISK_TEXT = sources.Package(
    'debian', 'asterisk-core-sounds-en', '1.6.1-1',
    'pool/main/a/asterisk-core-sounds/asterisk-core-sounds-en_1.6.1-1_all.deb',
    '973e797d28e37fa6ca3c0a9d6fa717e77cf1268ae916bf09fd3503113cdffa50', 'CC-BY-SA-3.0')
PACKAGES = (POCKETSPHINX, ASTERISK_WAV, ASTERISK_TEXT)

SAMPLE_RATE = 16_000
TOKENIZER_VOCAB_SIZES = (1024, 128, 32)
SPLITS = ('train-clean-100', 'dev-clean', 'test-clean')
PS_DATA = 'usr/share/pocketsphinx/test/data/'
ASTERISK_SOUNDS = 'usr/share/asterisk/sounds/en_US_f_Allison/'
ASTERISK_TRANSCRIPTS = 'usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz'
# LibriSpeech speaker ids of our three voices, and chapter ids of the asterisk prompt folders.
SPEAKERS = {'asterisk': 1001, 'librivox': 1002, 'cards': 1003}
ASTERISK_CHAPTERS = {'': 1, 'digits': 2, 'letters': 3, 'phonetic': 4, 'dictate': 5, 'followme': 6}
# The unit-test subset: (split, source, name) with names as in the packages.
SMOKE_PROMPTS = (
    [('train-clean-100', 'asterisk', f'digits/{i}') for i in range(20)] +
    [('train-clean-100', 'librivox', f'sense_and_sensibility_01_austen_64kb-{i}') for i in ('0880', '0930')] +
    [('dev-clean', 'asterisk', f'letters/{c}') for c in 'abcdef'] +
    [('test-clean', 'asterisk', f'letters/{c}') for c in 'ghijkl'])
_DIGITS = ('ZERO', 'ONE', 'TWO', 'THREE', 'FOUR', 'FIVE', 'SIX', 'SEVEN', 'EIGHT', 'NINE')


@dataclasses.dataclass
class Utterance:
  source: str  # 'asterisk', 'librivox' or 'cards'.
  name: str  # The name in the package (e.g. 'digits/7').
  transcript: str  # Normalised, LibriSpeech style.
  audio: np.ndarray  # int16 at 16 kHz.
  split: str = ''
  speaker: int = 0
  chapter: int = 0
  index: int = 0

  @property
  def utt_id(self) -> str:
    return f'{self.speaker}-{self.chapter}-{self.index:04d}'


# Debian packages -----------------------------------------------------------------------------------

def fetch_deb(package: sources.Package, cache_dir: str) -> str:
  """The .deb in `cache_dir`, downloaded from the Debian pool (or with `apt-get download`) if missing.

  Fails if its sha256 differs from the pin: an archive update must be a deliberate change here.
  """
  os.makedirs(cache_dir, exist_ok=True)
  path = os.path.join(cache_dir, os.path.basename(package.filename))
  if not os.path.exists(path):
    errors = []
    try:
      tmp = path + '.part'
      with urllib.request.urlopen(f'{DEBIAN_MIRROR}/{package.filename}', timeout=120) as response, \
          open(tmp, 'wb') as f:
        shutil.copyfileobj(response, f)
      os.replace(tmp, path)
    except OSError as e:
      errors.append(f'{DEBIAN_MIRROR}: {e}')
      _apt_get_download(package, cache_dir, errors)
    if not os.path.exists(path):
      raise RuntimeError(f'Could not download Debian package {package.name}={package.version} '
                         f'({"; ".join(errors)}). The dataset builder needs the Debian archive; retry on '
                         'a machine that can reach it.')
  actual = sources.sha256_file(path)
  if actual != package.sha256:
    raise RuntimeError(f'{path} has sha256 {actual}, expected {package.sha256}; delete it and rerun.')
  return path


def _apt_get_download(package: sources.Package, cache_dir: str, errors: List[str]) -> None:
  """Falls back on apt (this machine's mirrors and proxies); needs no root."""
  try:
    subprocess.run(['apt-get', 'download', f'{package.name}={package.version}'], cwd=cache_dir, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
  except (OSError, subprocess.SubprocessError) as e:
    errors.append(f'apt-get download: {e}')
    return
  # apt names the file with an escaped epoch/version; normalise to the pool's file name.
  wanted = os.path.join(cache_dir, os.path.basename(package.filename))
  for name in os.listdir(cache_dir):
    if name.startswith(package.name + '_') and name.endswith('.deb') and not os.path.exists(wanted):
      os.replace(os.path.join(cache_dir, name), wanted)


def read_deb(path: str, wanted) -> Dict[str, bytes]:
  """{member path: bytes} of the files in a .deb's data archive for which `wanted(path)` is true."""
  with open(path, 'rb') as f:
    data = f.read()
  if data[:8] != b'!<arch>\n':
    raise ValueError(f'{path} is not a Debian package (no ar header).')
  pos, out = 8, {}
  while pos + 60 <= len(data):
    header = data[pos:pos + 60]
    name = header[:16].decode('ascii').strip().rstrip('/')
    size = int(header[48:58].decode('ascii').strip())
    body = data[pos + 60:pos + 60 + size]
    if name.startswith('data.tar'):
      with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        for member in archive.getmembers():
          member_path = member.name[2:] if member.name.startswith('./') else member.name
          if member.isfile() and wanted(member_path):
            out[member_path] = archive.extractfile(member).read()
    pos += 60 + size + (size % 2)
  return out


# Transcripts -------------------------------------------------------------------------------------

def normalise_transcript(text: str) -> Optional[str]:
  """LibriSpeech style (upper case A-Z, apostrophes, single spaces), or None if not sure of the words."""
  text = re.sub(r'\[[^\]]*\]|\([^)]*\)', ' ', text)  # Bracketed notes are not spoken: "[@]", "(note: ...)".
  if re.search(r'\d\d|\d[.,]\d', text):
    return None  # "dial 500", "28.8", "H.323": the spoken form is ambiguous.
  text = re.sub(r'\d', lambda m: ' ' + _DIGITS[int(m.group())] + ' ', text)
  text = text.upper().replace('\u2019', "'")
  text = re.sub(r"[^A-Z']+", ' ', text)
  text = re.sub(r"(?<![A-Z])'|'(?![A-Z])", ' ', text)  # Quotes, not apostrophes.
  text = ' '.join(text.split())
  return text or None


def _sphinx_transcripts(text: str) -> Dict[str, str]:
  """'<s> words </s> (id)' lines -> {id: words}."""
  out = {}
  for line in text.splitlines():
    match = re.match(r'\s*(?:<s>)?(.*?)(?:</s>)?\s*\(([^)]+)\)\s*$', line)
    if match:
      out[match.group(2)] = ' '.join(match.group(1).split())
  return out


# Audio -------------------------------------------------------------------------------------------

def _read_wav(data: bytes) -> Tuple[np.ndarray, int]:
  import soundfile  # pylint: disable=import-outside-toplevel
  audio, rate = soundfile.read(io.BytesIO(data), dtype='int16')
  if audio.ndim != 1:
    raise ValueError(f'expected mono audio, got shape {audio.shape}')
  return audio, rate


def resample_to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
  """int16 at `rate` -> int16 at 16 kHz (polyphase, anti-aliased)."""
  if rate == SAMPLE_RATE:
    return audio
  from scipy import signal  # pylint: disable=import-outside-toplevel
  g = np.gcd(SAMPLE_RATE, rate)
  out = signal.resample_poly(audio.astype(np.float64), SAMPLE_RATE // g, rate // g)
  return np.clip(np.round(out), -32768, 32767).astype(np.int16)


# Collecting utterances ---------------------------------------------------------------------------

def _pocketsphinx_utterances(deb_path: str) -> List[Utterance]:
  files = read_deb(deb_path, lambda p: p.startswith(PS_DATA + 'librivox/') or p.startswith(PS_DATA + 'cards/'))
  out = []
  for source, folder, transcript_file in (('librivox', 'librivox/', 'transcription'),
                                          ('cards', 'cards/', 'cards.transcription')):
    for name, words in sorted(_sphinx_transcripts(files[PS_DATA + folder + transcript_file].decode()).items()):
      wav = PS_DATA + folder + name + '.wav'
      transcript = normalise_transcript(words)
      if wav in files and transcript:
        audio, rate = _read_wav(files[wav])
        out.append(Utterance(source, name, transcript, resample_to_16k(audio, rate)))
  return out


def _asterisk_utterances(wav_deb: str, text_deb: str, names: Optional[Iterable[str]] = None) -> List[Utterance]:
  text = read_deb(text_deb, lambda p: p == ASTERISK_TRANSCRIPTS)[ASTERISK_TRANSCRIPTS]
  transcripts = {}
  for line in gzip.decompress(text).decode('utf-8', errors='replace').splitlines():
    if line.strip() and not line.startswith(';') and ':' in line:
      name, _, words = line.partition(':')
      transcripts[name.strip()] = words.strip()
  wanted = None if names is None else set(names)
  wavs = read_deb(wav_deb, lambda p: p.startswith(ASTERISK_SOUNDS) and p.endswith('.wav') and (
      wanted is None or p[len(ASTERISK_SOUNDS):-4] in wanted))
  out = []
  for path in sorted(wavs):
    name = path[len(ASTERISK_SOUNDS):-4]
    transcript = normalise_transcript(transcripts.get(name, ''))
    if transcript:
      audio, rate = _read_wav(wavs[path])
      out.append(Utterance('asterisk', name, transcript, resample_to_16k(audio, rate)))
  return out


def _hash_split(name: str) -> str:
  """80 % train, 10 % dev, 10 % test, by a stable hash of the prompt name."""
  bucket = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 10
  return SPLITS[0] if bucket < 8 else SPLITS[1] if bucket == 8 else SPLITS[2]


def assign_ids(utterances: List[Utterance]) -> None:
  """Speaker and chapter by source and prompt folder; utterance numbers in name order per chapter."""
  for u in utterances:
    u.speaker = SPEAKERS[u.source]
    u.chapter = ASTERISK_CHAPTERS[os.path.dirname(u.name)] if u.source == 'asterisk' else 1
  counters: Dict[Tuple[str, int, int], int] = {}
  for u in sorted(utterances, key=lambda u: (u.split, u.speaker, u.chapter, u.name)):
    key = (u.split, u.speaker, u.chapter)
    u.index = counters.get(key, 0)
    counters[key] = u.index + 1


# Writing -----------------------------------------------------------------------------------------

def write_tree(out_dir: str, utterances: List[Utterance]) -> None:
  import soundfile  # pylint: disable=import-outside-toplevel
  chapters: Dict[str, List[Utterance]] = {}
  for u in utterances:
    folder = os.path.join(out_dir, u.split, str(u.speaker), str(u.chapter))
    os.makedirs(folder, exist_ok=True)
    soundfile.write(os.path.join(folder, u.utt_id + '.flac'), u.audio, SAMPLE_RATE, format='FLAC',
                    subtype='PCM_16')
    chapters.setdefault(folder, []).append(u)
  for folder, members in chapters.items():
    first = members[0]
    with open(os.path.join(folder, f'{first.speaker}-{first.chapter}.trans.txt'), 'w') as f:
      for u in sorted(members, key=lambda u: u.index):
        f.write(f'{u.utt_id} {u.transcript}\n')


def train_tokenizer(transcripts: List[str], vocab_size: int) -> bytes:
  """A SentencePiece unigram model (as upstream's tokenizer tool) with id 0 kept for the CTC blank.

  `hard_vocab_limit=False`: a small corpus may yield fewer pieces than asked; models keep their output
  size and never see the unused ids.
  """
  import sentencepiece as spm  # pylint: disable=import-outside-toplevel
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(transcripts), model_writer=model, vocab_size=vocab_size, model_type='unigram',
      character_coverage=1.0, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, hard_vocab_limit=False,
      num_threads=1, shuffle_input_sentence=False, minloglevel=2)
  return model.getvalue()


def tokenizer_path(data_dir: str, vocab_size: int) -> str:
  return os.path.join(data_dir, 'librispeech', f'spm_{vocab_size}.model')


def build(data_dir: str, source: str = 'all') -> str:
  """Writes <data_dir>/librispeech/ (FLAC tree, tokenizers, manifest.tsv, provenance.json)."""
  if source not in ('all', 'smoke'):
    raise ValueError(f'Unknown LibriSpeech source {source!r}; use all or smoke.')
  cache_dir = sources.download_cache(data_dir)
  debs = {p.name: fetch_deb(p, cache_dir) for p in PACKAGES}
  if source == 'smoke':
    asterisk_names = [name for _, src, name in SMOKE_PROMPTS if src == 'asterisk']
    splits = {(src, name): split for split, src, name in SMOKE_PROMPTS}
    utterances = _asterisk_utterances(debs[ASTERISK_WAV.name], debs[ASTERISK_TEXT.name], asterisk_names)
    utterances += [u for u in _pocketsphinx_utterances(debs[POCKETSPHINX.name]) if (u.source, u.name) in splits]
    for u in utterances:
      u.split = splits[(u.source, u.name)]
  else:
    utterances = _asterisk_utterances(debs[ASTERISK_WAV.name], debs[ASTERISK_TEXT.name])
    for u in utterances:
      u.split = _hash_split(u.name)
    for u in _pocketsphinx_utterances(debs[POCKETSPHINX.name]):
      u.split = SPLITS[0]
      utterances.append(u)
  assign_ids(utterances)
  out_dir = os.path.join(data_dir, 'librispeech')
  if os.path.exists(out_dir):
    shutil.rmtree(out_dir)  # A rebuild starts clean: no utterance of an older build stays behind.
  os.makedirs(out_dir)
  write_tree(out_dir, utterances)
  train_text = [u.transcript for u in sorted(utterances, key=lambda u: u.utt_id) if u.split == SPLITS[0]]
  for vocab_size in TOKENIZER_VOCAB_SIZES:
    with open(tokenizer_path(data_dir, vocab_size), 'wb') as f:
      f.write(train_tokenizer(train_text, vocab_size))
  with open(os.path.join(out_dir, 'manifest.tsv'), 'w') as f:
    f.write('split\tutterance\tpackage\tname\tseconds\ttranscript\n')
    for u in sorted(utterances, key=lambda u: (u.split, u.utt_id)):
      package = POCKETSPHINX.name if u.source in ('librivox', 'cards') else ASTERISK_WAV.name
      f.write(f'{u.split}\t{u.utt_id}\t{package}\t{u.name}\t{len(u.audio) / SAMPLE_RATE:.3f}\t{u.transcript}\n')
  counts = {s: sum(u.split == s for u in utterances) for s in SPLITS}
  notes = (f'source={source}: {len(utterances)} utterances ({counts}), 16 kHz FLAC (asterisk prompts resampled '
           'from 8 kHz with a polyphase filter); transcripts normalised to LibriSpeech style; prompts that are '
           'not speech or hold multi-digit numbers left out; asterisk prompts split 80/10/10 by a hash of '
           f'their name, pocketsphinx clips in {SPLITS[0]}; SentencePiece unigram tokenizers of sizes '
           f'{TOKENIZER_VOCAB_SIZES} (pad/blank 0, unk 1, no bos/eos) trained on the {SPLITS[0]} transcripts. '
           'manifest.tsv maps every utterance to its package file.')
  sources.write_provenance(out_dir, 'librispeech', list(PACKAGES), notes)
  return out_dir


def is_built(data_dir: str) -> bool:
  return os.path.exists(os.path.join(data_dir, 'librispeech', 'provenance.json'))
