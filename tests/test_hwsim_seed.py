"""Tests for hwsim._seed: every random draw takes a real seed."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim._seed import check_seed


def test_accepts_non_negative_integers():
    assert check_seed(0) == 0 and check_seed(np.int64(7)) == 7
    assert type(check_seed(np.uint8(3))) is int


def test_generator_only_when_allowed():
    rng = np.random.default_rng(1)
    assert check_seed(rng, generator=True) is rng
    with pytest.raises(TypeError, match=r"^seed must be a non-negative integer, not Generator"):
        check_seed(rng)


@pytest.mark.parametrize(
    ("seed", "exc", "match"),
    [
        (None, TypeError, r"^seed must be a non-negative integer, not None \(NoneType\)$"),
        (True, TypeError, r"^seed must be a non-negative integer, not True \(bool\)$"),
        (1.0, TypeError, r"^seed must be a non-negative integer, not 1\.0 \(float\)$"),
        ("3", TypeError, r"^seed must be a non-negative integer, not '3' \(str\)$"),
        (-1, ValueError, r"^seed must be a non-negative integer, not -1$"),
    ],
)
def test_rejects(seed, exc, match):
    with pytest.raises(exc, match=match):
        check_seed(seed)


def test_name_and_generator_wording():
    with pytest.raises(TypeError, match=r"^rng must be a non-negative integer or a numpy"):
        check_seed(None, name="rng", generator=True)
