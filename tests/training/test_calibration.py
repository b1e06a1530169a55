"""Temperature scaling and the expected calibration error."""

import numpy as np
import pytest

from bilstm_clf.models.calibrated import TemperatureScaled
from bilstm_clf.training.calibration import (
    calibration_report,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability,
    softmax,
)


def test_ece_by_hand():
    # confidences 0.9, 0.9 (one of them right), 0.6 (right), 0.7 (wrong)
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    labels = np.array([0, 1, 1, 1])
    # bins of 0.1: (0.8, 0.9] holds two at 0.9 with accuracy 0.5 -> gap 0.4; (0.5, 0.6]: 0.6 right -> 0.4;
    # (0.6, 0.7]: 0.7 wrong -> 0.7. ECE = (2 * 0.4 + 0.4 + 0.7) / 4
    assert expected_calibration_error(probs, labels, bins=10) == pytest.approx((2 * 0.4 + 0.4 + 0.7) / 4)
    bins = reliability(probs, labels, bins=10)
    assert bins.counts.sum() == 4 and bins.counts[8] == 2 and bins.accuracy[8] == 0.5


def _overconfident_dev(seed: int, temperature: float = 3.0, n: int = 2000, classes: int = 5):
    """True logits z give the labels; the model outputs z * temperature: right as often, far too sure."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0, 1.5, (n, classes))
    probs = softmax(true_logits)
    labels = np.array([rng.choice(classes, p=p) for p in probs])
    return true_logits * temperature, labels


def test_temperature_scaling_lowers_dev_ece_of_an_overconfident_model_and_keeps_its_predictions():
    logits, labels = _overconfident_dev(0)
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)  # recovers the over-confidence factor
    report = calibration_report(logits, labels, temperature)
    assert report["ece"] > 0.15 and report["ece_calibrated"] < 0.03
    assert report["nll_calibrated"] < report["nll"]
    np.testing.assert_array_equal(softmax(logits, temperature).argmax(1), logits.argmax(1))
    # on fresh examples from the same source (a test split) the fitted T helps as much
    test_logits, test_labels = _overconfident_dev(1)
    before = expected_calibration_error(softmax(test_logits), test_labels)
    assert expected_calibration_error(softmax(test_logits, temperature), test_labels) < min(0.05, before / 4)


def test_temperature_is_never_worse_than_none_and_one_when_nothing_to_fit():
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, int)) == 1.0
    logits, labels = _overconfident_dev(2, temperature=1.0)
    temperature = fit_temperature(logits, labels)
    assert nll(logits, labels, temperature) <= nll(logits, labels)
    assert temperature == pytest.approx(1.0, abs=0.1)


def test_temperature_scaled_module_divides_the_logits():
    torch = pytest.importorskip("torch")

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vocab_size = 4

        def forward(self, ids, lengths):
            return torch.tensor([[2.0, -4.0]])

    wrapped = TemperatureScaled(Fixed(), 2.0)
    assert wrapped(None, None).tolist() == [[1.0, -2.0]] and wrapped.vocab_size == 4  # what exporters read
    with pytest.raises(ValueError):
        TemperatureScaled(Fixed(), 0.0)


def test_the_temperature_goes_into_this_runs_checkpoint_and_never_into_another_runs(tmp_path):
    import os

    torch = pytest.importorskip("torch")
    from bilstm_clf.training.calibrate_run import store_in_checkpoint

    run, old = tmp_path / "run", tmp_path / "old"
    for d in (run, old):
        (d / "checkpoints").mkdir(parents=True)
    best = run / "checkpoints" / "epoch01.ckpt"
    torch.save({"bilstm_clf": {"tokenizer_json": "{}"}}, best)
    os.link(best, run / "checkpoints" / "last.ckpt")  # the epoch's top-k file and last.ckpt: one file
    assert store_in_checkpoint(best, {"temperature": 2.0}, run) == best
    assert (run / "checkpoints" / "last.ckpt").samefile(best)
    assert torch.load(best, weights_only=True)["bilstm_clf"]["calibration"] == {"temperature": 2.0}
    foreign = old / "checkpoints" / "epoch03.ckpt"  # a resumed run's best can be the old run's file
    torch.save({"bilstm_clf": {}}, foreign)
    before = foreign.read_bytes()
    copy = store_in_checkpoint(foreign, {"temperature": 1.5}, run)
    assert copy == run / "checkpoints" / "epoch03.ckpt" and foreign.read_bytes() == before
    assert torch.load(copy, weights_only=True)["bilstm_clf"]["calibration"] == {"temperature": 1.5}
