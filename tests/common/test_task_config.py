"""Config keys of multi-label data and calibration, checked before anything trains."""

import pytest
from omegaconf import OmegaConf

from bilstm_clf.common.config_checks import check_run_config
from bilstm_clf.common.errors import ConfigError


def _cfg(**top):
    base = {"seed": 1, "monitor": "val/f1_macro", "label_smoothing": 0.0, "data": {"multi_label": False}}
    return OmegaConf.create({**base, **top})


@pytest.mark.parametrize(("top", "message"), [
    ({"monitor": "val/acc", "data": {"multi_label": True}}, "config monitor='val/acc': expected one of val/f1_macro, val/f1_micro, val/subset_acc"),
    ({"monitor": "val/f1_micro"}, "config monitor='val/f1_micro': expected one of val/acc, val/f1_macro"),
    ({"class_weights": "balanced", "data": {"multi_label": True}}, "is for single-label data; with data.multi_label=true use pos_weight"),
    ({"label_smoothing": 0.1, "data": {"multi_label": True}}, "config label_smoothing=0.1: is for single-label data"),
    ({"pos_weight": "balanced"}, "config pos_weight='balanced': is for multi-label data"),
    ({"pos_weight": [1, -2], "data": {"multi_label": True}}, "expected null, balanced or a list of positive numbers"),
    ({"thresholds": 1.5, "data": {"multi_label": True}}, "config thresholds=1.5: expected per_label, global or a number in"),
    ({"calibration": "platt"}, "config calibration='platt': expected one of temperature, none"),
])
def test_bad_task_settings_name_the_key(top, message):
    with pytest.raises(ConfigError) as info:
        check_run_config(_cfg(**top))
    assert message in str(info.value)


def test_good_task_settings_pass():
    check_run_config(_cfg(monitor="val/f1_micro", thresholds="global", pos_weight=[2.0, 1.0], data={"multi_label": True}))
    check_run_config(_cfg(calibration="none", thresholds=0.4))
