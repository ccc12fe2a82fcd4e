"""The hyperparameter domain checks name the hyperparameter, the value and the range."""
import collections

import pytest

from submissions.common import hparam_checks

H = collections.namedtuple('H', ['learning_rate', 'beta1', 'p'])


def test_values_inside_the_domain_pass():
  hparam_checks.check_range(H(1e-3, 0.9, 2.0), 'learning_rate', low=0.0, low_inclusive=False)
  hparam_checks.check_range({'beta1': 0.0}, 'beta1', 0.0, 1.0, high_inclusive=False)


@pytest.mark.parametrize('name,value,kwargs,interval', [
    ('learning_rate', -0.1, dict(low=0.0, low_inclusive=False), '(0, inf)'),
    ('beta1', 1.0, dict(low=0.0, high=1.0, high_inclusive=False), '[0, 1)'),
    ('p', float('nan'), dict(low=0.0, low_inclusive=False), '(0, inf)'),
])
def test_values_outside_the_domain_raise_one_sentence(name, value, kwargs, interval):
  hparams = H(1e-3, 0.9, 2.0)._replace(**{name: value})
  with pytest.raises(ValueError) as error:
    hparam_checks.check_range(hparams, name, **kwargs)
  message = str(error.value)
  assert f'{name}={value!r}' in message and interval in message


def test_missing_required_hyperparameter_is_named():
  with pytest.raises(ValueError, match='weight_decay is missing'):
    hparam_checks.check_range(H(1e-3, 0.9, 2.0), 'weight_decay', low=0.0)
  hparam_checks.check_range(H(1e-3, 0.9, 2.0), 'weight_decay', low=0.0, required=False)
