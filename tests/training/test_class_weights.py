import numpy as np
import pytest

from bilstm_clf.common.errors import ConfigError
from bilstm_clf.train import class_weights


def test_balanced_weights_make_every_class_weigh_the_same_in_total():
    counts = np.array([90, 9, 1])
    weights = np.array(class_weights("balanced", counts))
    np.testing.assert_allclose(weights * counts, counts.sum() / len(counts))


def test_sqrt_balanced_is_the_square_root_of_balanced():
    counts = np.array([96, 4])
    balanced = np.array(class_weights("balanced", counts))
    soft = np.array(class_weights("sqrt_balanced", counts))
    np.testing.assert_allclose(soft, np.sqrt(balanced))
    assert soft[1] / soft[0] == pytest.approx(np.sqrt(96 / 4))  # rare class up-weighted, less so


def test_explicit_weights_must_match_the_classes():
    assert class_weights(None, np.array([3, 4])) is None
    assert class_weights([1, 2.5], np.array([3, 4])) == [1.0, 2.5]
    with pytest.raises(ConfigError, match="one weight per class"):
        class_weights([1, 2, 3], np.array([3, 4]))


def test_auto_is_sqrt_balanced_and_leaves_multi_label_runs_alone():
    from omegaconf import OmegaConf

    from bilstm_clf.common.config_checks import check_run_config

    counts = np.array([50, 2])
    assert class_weights("auto", counts) == class_weights("sqrt_balanced", counts)
    base = {"seed": 1, "monitor": "val/f1_macro", "label_smoothing": 0.0}
    check_run_config(OmegaConf.create({**base, "class_weights": "auto", "data": {"multi_label": True}}))  # the default: fine
    with pytest.raises(ConfigError, match="is for single-label data"):
        check_run_config(OmegaConf.create({**base, "class_weights": "balanced", "data": {"multi_label": True}}))
