"""The AlgoPerf submission API: enums, types and the Workload base class.

Public names match upstream's `algoperf.spec`, so an upstream-format submission file runs unchanged.
A submission implements `get_batch_size`, `init_optimizer_state`, `update_params`, `data_selection` and,
optionally, `prepare_for_eval`; everything else (model, data, loss, metrics) belongs to the Workload.
"""
import abc
import enum
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union


class LossType(enum.Enum):
  SOFTMAX_CROSS_ENTROPY = 0
  SIGMOID_CROSS_ENTROPY = 1
  MEAN_SQUARED_ERROR = 2
  CTC_LOSS = 3
  MEAN_ABSOLUTE_ERROR = 4


class ForwardPassMode(enum.Enum):
  TRAIN = 0
  EVAL = 1


class ParameterType(enum.Enum):
  WEIGHT = 0
  BIAS = 1
  CONV_WEIGHT = 2
  BATCH_NORM_SCALE = 3
  BATCH_NORM_BIAS = 4
  LAYER_NORM_SCALE = 5
  LAYER_NORM_BIAS = 6
  EMBEDDING = 7
  ATTENTION_Q = 8
  ATTENTION_K = 9
  ATTENTION_V = 10
  ATTENTION_OUT = 11
  ATTENTION_QKV = 12  # Fused query, key and value projection.
  ATTENTION_KV = 13  # Fused key and value projection.
  ATTENTION_BIAS = 14


class ShapeTuple:
  """A shape that pytree utilities treat as a leaf, not as a tuple of ints."""

  def __init__(self, shape_tuple):
    self.shape_tuple = tuple(shape_tuple)

  def __repr__(self):
    return f'ShapeTuple({self.shape_tuple})'

  def __eq__(self, other):
    return isinstance(other, ShapeTuple) and self.shape_tuple == other.shape_tuple

  def __hash__(self):
    return hash(self.shape_tuple)


Shape = Union[Tuple[int], Tuple[int, int], Tuple[int, int, int], Tuple[int, int, int, int], ShapeTuple]
ParameterShapeTree = Dict[str, Dict[str, Shape]]

# A nested dict of arrays in JAX; the torch.nn.Module itself in PyTorch (DDP-wrapped under torchrun).
Tensor = Any
ParameterContainer = Any
ParameterTypeTree = Dict[str, Dict[str, ParameterType]]

RandomState = Any  # A JAX PRNG key, or a numpy-emulated key (an int pair) for PyTorch.
OptimizerState = Union[Dict[str, Any], Tuple[Any, Any]]
Hyperparameters = Any
Timing = int
Steps = int
ModelAuxiliaryState = Any  # Batch-norm statistics, for example.
ModelInitState = Tuple[ParameterContainer, ModelAuxiliaryState]
UpdateReturn = Tuple[OptimizerState, ParameterContainer, ModelAuxiliaryState]
InitOptimizerFn = Callable[..., OptimizerState]
UpdateParamsFn = Callable[..., UpdateReturn]
PrepareForEvalFn = Callable[..., UpdateReturn]
DataSelectionFn = Callable[..., Dict[str, Tensor]]
GetBatchSizeFn = Callable[[str], int]
LossFn = Callable[..., Dict[str, Tensor]]


class TrainingCompleteError(Exception):
  """Raised by `update_params` to end training; the runner then does one final eval."""


class Workload(metaclass=abc.ABCMeta):
  """A model, its data, loss and metrics: everything a submission may not change."""

  def __init__(self, *args, **kwargs) -> None:
    del args, kwargs
    self._param_shapes: Optional[ParameterShapeTree] = None
    self._param_types: Optional[ParameterTypeTree] = None
    self._eval_iters: Dict[str, Iterator] = {}
    self.metrics_logger = None

  @property
  @abc.abstractmethod
  def target_metric_name(self) -> str:
    """The name of the metric the targets refer to, e.g. 'accuracy'."""

  @property
  @abc.abstractmethod
  def validation_target_value(self) -> float:
    """The validation target."""

  @property
  @abc.abstractmethod
  def test_target_value(self) -> float:
    """The test target."""

  @property
  @abc.abstractmethod
  def loss_type(self) -> LossType:
    """The type of loss function."""

  @property
  @abc.abstractmethod
  def num_train_examples(self) -> int:
    """The size of the training set."""

  @property
  @abc.abstractmethod
  def eval_batch_size(self) -> int:
    """The batch size for evaluation."""

  @property
  @abc.abstractmethod
  def num_eval_train_examples(self) -> int:
    """The number of training examples to evaluate metrics on."""

  @property
  @abc.abstractmethod
  def num_validation_examples(self) -> int:
    """The size of the validation set."""

  @property
  @abc.abstractmethod
  def num_test_examples(self) -> Optional[int]:
    """The size of the test set, or None where the workload has no test split."""

  @property
  @abc.abstractmethod
  def train_mean(self):
    """The mean of the training data."""

  @property
  @abc.abstractmethod
  def train_stddev(self):
    """The standard deviation of the training data."""

  @property
  @abc.abstractmethod
  def max_allowed_runtime_sec(self) -> float:
    """The submission-time budget of one external-tuning trial (whole seconds at full scale)."""

  @property
  @abc.abstractmethod
  def eval_period_time_sec(self) -> int:
    """Submission time between two evals."""

  @property
  @abc.abstractmethod
  def step_hint(self) -> int:
    """A step count that schedules may use as their horizon."""

  @abc.abstractmethod
  def has_reached_validation_target(self, eval_result: Dict[str, float]) -> bool:
    """Whether the validation target was reached (strict comparison, as upstream's runner does)."""

  @abc.abstractmethod
  def has_reached_test_target(self, eval_result: Dict[str, float]) -> bool:
    """Whether the test target was reached (strict comparison, as upstream's runner does)."""

  @abc.abstractmethod
  def _build_input_queue(self, data_rng: RandomState, split: str, data_dir: str, global_batch_size: int,
                         cache: Optional[bool] = None, repeat_final_dataset: Optional[bool] = None,
                         num_batches: Optional[int] = None) -> Iterator[Dict[str, Any]]:
    """An iterator over batches of the split: dicts with 'inputs', 'targets' and 'weights'."""

  def attach_metrics_logger(self, metrics_logger) -> None:
    self.metrics_logger = metrics_logger

  @property
  def param_shapes(self) -> ParameterShapeTree:
    if self._param_shapes is None:
      raise ValueError('This should not happen, workload.init_model_fn() should be called before '
                       'workload.param_shapes!')
    return self._param_shapes

  @property
  def model_params_types(self) -> ParameterTypeTree:
    if self._param_types is None:
      raise ValueError('This should not happen, workload.init_model_fn() should be called before '
                       'workload.model_params_types!')
    return self._param_types

  @abc.abstractmethod
  def is_output_params(self, param_key: str) -> bool:
    """Whether a key names a parameter of the output layer."""

  @abc.abstractmethod
  def init_model_fn(self, rng: RandomState) -> ModelInitState:
    """Initialises the model; sets `_param_shapes` and `_param_types`."""

  @abc.abstractmethod
  def model_fn(self, params: ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Tensor],
               model_state: ModelAuxiliaryState, mode: ForwardPassMode, rng: RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None
               ) -> Tuple[Tensor, ModelAuxiliaryState]:
    """Returns the logits (before the output activation) and the new model state."""

  def output_activation_fn(self, logits_batch: Tensor, framework: str) -> Tensor:
    """Turns logits into predictions: softmax, sigmoid or the identity by loss type."""
    if framework not in ('jax', 'pytorch'):
      raise ValueError(f'`framework` must be "jax" or "pytorch", not {framework!r}.')
    if framework == 'jax':
      import jax  # pylint: disable=import-outside-toplevel
      activations = {
          LossType.SOFTMAX_CROSS_ENTROPY: jax.nn.softmax,
          LossType.SIGMOID_CROSS_ENTROPY: jax.nn.sigmoid,
          LossType.CTC_LOSS: jax.nn.softmax,
      }
    else:
      import torch  # pylint: disable=import-outside-toplevel
      activations = {
          LossType.SOFTMAX_CROSS_ENTROPY: lambda x: torch.softmax(x, dim=-1),
          LossType.SIGMOID_CROSS_ENTROPY: torch.sigmoid,
          LossType.CTC_LOSS: lambda x: torch.softmax(x, dim=-1),
      }
    return activations.get(self.loss_type, lambda x: x)(logits_batch)

  @abc.abstractmethod
  def loss_fn(self, label_batch: Tensor, logits_batch: Tensor, mask_batch: Optional[Tensor] = None,
              label_smoothing: float = 0.0) -> Dict[str, Tensor]:
    """Returns {'summed', 'n_valid_examples', 'per_example'}; no regularisation, not synced across devices."""

  @abc.abstractmethod
  def _eval_model_on_split(self, split: str, num_examples: int, global_batch_size: int,
                           params: ParameterContainer, model_state: ModelAuxiliaryState, rng: RandomState,
                           data_dir: str, global_step: int = 0) -> Dict[str, float]:
    """Evaluates the model on one split."""

  def eval_model(self, global_batch_size: int, params: ParameterContainer, model_state: ModelAuxiliaryState,
                 rng: RandomState, data_dir: str, imagenet_v2_data_dir: Optional[str],
                 global_step: int) -> Dict[str, float]:
    """Evaluates eval_train (as 'train/...'), validation and, where it exists, test."""
    train_metrics = self._eval_model_on_split(
        'eval_train', self.num_eval_train_examples, global_batch_size, params, model_state, rng, data_dir,
        global_step)
    eval_metrics = {'train/' + k: v for k, v in train_metrics.items()}
    validation_metrics = self._eval_model_on_split(
        'validation', self.num_validation_examples, global_batch_size, params, model_state, rng, data_dir,
        global_step)
    for k, v in validation_metrics.items():
      eval_metrics['validation/' + k] = v
    eval_metrics['validation/num_examples'] = self.num_validation_examples
    if self.num_test_examples is not None:
      try:
        test_data_dir = imagenet_v2_data_dir if imagenet_v2_data_dir else data_dir
        test_metrics = self._eval_model_on_split(
            'test', self.num_test_examples, global_batch_size, params, model_state, rng, test_data_dir,
            global_step)
      except NotImplementedError:
        test_metrics = {}
      for k, v in test_metrics.items():
        eval_metrics['test/' + k] = v
      if test_metrics:
        eval_metrics['test/num_examples'] = self.num_test_examples
    return eval_metrics


def get_batch_size(workload_name: str) -> int:
  """Template of the submission function: the global batch size for a workload."""
  raise NotImplementedError(f'get_batch_size is implemented by the submission ({workload_name}).')


def init_optimizer_state(workload: Workload, model_params: ParameterContainer,
                         model_state: ModelAuxiliaryState, hyperparameters: Hyperparameters,
                         rng: RandomState) -> OptimizerState:
  """Template of the submission function: builds the optimizer state (untimed)."""
  raise NotImplementedError


def update_params(workload: Workload, current_param_container: ParameterContainer,
                  current_params_types: ParameterTypeTree, model_state: ModelAuxiliaryState,
                  hyperparameters: Hyperparameters, batch: Dict[str, Tensor], loss_type: LossType,
                  optimizer_state: OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: RandomState, train_state: Optional[Dict[str, Any]] = None) -> UpdateReturn:
  """Template of the submission function: one training step (timed)."""
  raise NotImplementedError


def prepare_for_eval(workload: Workload, current_param_container: ParameterContainer,
                     current_params_types: ParameterTypeTree, model_state: ModelAuxiliaryState,
                     hyperparameters: Hyperparameters, loss_type: LossType, optimizer_state: OptimizerState,
                     eval_results: List[Tuple[int, float]], global_step: int,
                     rng: RandomState) -> UpdateReturn:
  """Template of the optional submission function: returns the params to evaluate (timed)."""
  raise NotImplementedError


def data_selection(workload: Workload, input_queue: Iterator[Dict[str, Any]], optimizer_state: OptimizerState,
                   current_param_container: ParameterContainer, model_state: ModelAuxiliaryState,
                   hyperparameters: Hyperparameters, global_step: int, rng: RandomState) -> Dict[str, Tensor]:
  """Template of the submission function: picks the next batch (timed)."""
  raise NotImplementedError
