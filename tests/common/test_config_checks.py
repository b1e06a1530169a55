"""Config checks name the key, the value and what is valid; the model itself knows no keys."""

import re

import pytest

from bilstm_clf.common.config_checks import check_model_config
from bilstm_clf.common.errors import ConfigError


@pytest.mark.parametrize(
    ("model", "message"),
    [({"pooling": "min"}, "config model.pooling='min': expected one of attention, last, mean, max"),
     ({"hidden_size": 0}, "config model.hidden_size=0: must be a positive integer"),
     ({"merge_mode": "mul"}, "config model.merge_mode='mul': expected one of concat, sum, mean"),
     ({"encoder": "cudnn"}, "config model.encoder='cudnn': expected one of packed, padded"),
     ({"output_dropout": 1.5}, "config model.output_dropout=1.5: must be a probability in [0, 1)"),
     ({"embedding_dropout": True}, "config model.embedding_dropout=True: must be a probability in [0, 1)"),
     ({"bidirectional": "yes"}, "config model.bidirectional='yes': must be true or false"),
     ({"forget_bias": "one"}, "config model.forget_bias='one': must be a finite number or null")],
)
def test_bad_model_values_name_key_value_and_choices(model, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message) + "$"):
        check_model_config(model)


def test_the_default_model_config_passes():
    check_model_config({"pooling": "last", "merge_mode": "concat", "encoder": "padded", "hidden_size": 256, "forget_bias": None})
