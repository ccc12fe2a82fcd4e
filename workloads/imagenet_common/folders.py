"""Finding ImageNet's images on disk, in the layouts the data is distributed in.

- train and validation: `<root>/{train,val}/<wnid>/*.JPEG` (the ImageFolder layout); the class index of a
  wnid is its position among the sorted train folders, which for the 1,000 ILSVRC-2012 synsets is the
  standard label order.
- test (ImageNet-v2, matched-frequency): `imagenetv2-matched-frequency-format-val/<class index>/*.jpeg`.

`<root>` is `<data_dir>/imagenet` (or `data_dir` itself when it holds `train/`); ImageNet-v2 sits in
`<root>/imagenet_v2/`, or in the directory the runner's --imagenet_v2_data_dir names.
"""
import os
from typing import List, Optional, Tuple

MAKE_DATASETS = 'bazel run //tools:make_datasets -- --dataset=imagenet --data_dir={data_dir}'
V2_FOLDER = 'imagenetv2-matched-frequency-format-val'
IMAGE_EXTENSIONS = ('.jpeg', '.jpg', '.png')


def _missing(what: str, data_dir: str) -> FileNotFoundError:
  return FileNotFoundError(f'ImageNet {what} not found under {data_dir}; build the dataset with: '
                           + MAKE_DATASETS.format(data_dir=data_dir))


def dataset_dir(data_dir: str) -> str:
  """The folder that holds train/ and val/."""
  data_dir = os.path.expanduser(data_dir)
  for candidate in (os.path.join(data_dir, 'imagenet'), data_dir):
    if os.path.isdir(os.path.join(candidate, 'train')):
      return candidate
  raise _missing('train/ folder', data_dir)


def v2_dir(data_dir: str) -> str:
  """The folder whose subfolders 0..C-1 hold the ImageNet-v2 images."""
  data_dir = os.path.expanduser(data_dir)
  candidates = [os.path.join(data_dir, 'imagenet', 'imagenet_v2', V2_FOLDER),
                os.path.join(data_dir, 'imagenet_v2', V2_FOLDER), os.path.join(data_dir, V2_FOLDER), data_dir]
  for candidate in candidates:
    if os.path.isdir(candidate) and _class_index_folders(candidate):
      return candidate
  raise _missing(f'test split (ImageNet-v2, {V2_FOLDER}/<class index>/)', data_dir)


def _class_index_folders(directory: str) -> List[str]:
  return [n for n in os.listdir(directory) if n.isdigit() and os.path.isdir(os.path.join(directory, n))]


def _images_in(directory: str) -> List[str]:
  return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                if n.lower().endswith(IMAGE_EXTENSIONS))


def class_names(data_dir: str) -> List[str]:
  """The sorted wnids of the train folders: position = class index."""
  train = os.path.join(dataset_dir(data_dir), 'train')
  names = sorted(n for n in os.listdir(train) if os.path.isdir(os.path.join(train, n)))
  if not names:
    raise _missing('class folders in train/', data_dir)
  return names


def list_split(data_dir: str, split: str, v2_data_dir: Optional[str] = None) -> Tuple[List[str], List[int]]:
  """(paths, labels) of one split, 'train', 'val' or 'test', in a fixed (sorted) order."""
  paths, labels = [], []
  if split == 'test':  # Folder names are class indices: no train/ needed (it may sit elsewhere).
    root = v2_dir(v2_data_dir or data_dir)
    for name in sorted(_class_index_folders(root), key=int):
      files = _images_in(os.path.join(root, name))
      paths += files
      labels += [int(name)] * len(files)
  else:
    classes = class_names(data_dir)
    root = os.path.join(dataset_dir(data_dir), split)
    if not os.path.isdir(root):
      raise _missing(f'{split}/ folder', data_dir)
    index = {name: i for i, name in enumerate(classes)}
    for name in sorted(os.listdir(root)):
      if not os.path.isdir(os.path.join(root, name)):
        continue
      if name not in index:
        raise ValueError(f'{root}/{name} is not a class of train/; the splits must share their wnids.')
      files = _images_in(os.path.join(root, name))
      paths += files
      labels += [index[name]] * len(files)
  if not paths:
    raise _missing(f'images of the {split} split', data_dir)
  return paths, labels
