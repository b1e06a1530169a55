"""The CPU dropout mask cut from 64-bit draws is dropout: right keep rate, independent elements,
scaled survivors, the mask's gradient, seeded, and nothing at eval time."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bilstm_clf.models.dropout import LEVELS, Dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.8])
def test_keep_rate_and_independence_of_neighbouring_elements(p):
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([400_000]), p).float()
    keep = 1 - round(p * LEVELS) / LEVELS
    assert mask.mean().item() == pytest.approx(keep, abs=4e-3)
    # elements cut from the same draw, and from neighbouring draws, are uncorrelated
    for lag in (1, 2, 3, 4, 5):
        both = (mask[:-lag] * mask[lag:]).mean().item()
        assert both == pytest.approx(keep * keep, abs=4e-3)


@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=3), p=st.sampled_from([0.2, 0.5]), seed=st.integers(0, 100))
@settings(max_examples=30, deadline=None)
def test_survivors_are_scaled_and_the_gradient_is_the_mask(shape, p, seed):
    x = (torch.rand(shape) + 0.5).requires_grad_()
    torch.manual_seed(seed)
    y = Dropout(p).train()(x)
    scale = LEVELS / (LEVELS - round(p * LEVELS))
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] * scale)
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() * scale)
    torch.manual_seed(seed)
    assert torch.equal(Dropout(p).train()(x), y)  # seeded runs repeat


def test_eval_and_zero_rate_are_the_identity():
    x = torch.randn(4, 5)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
