"""Hash functions and exact linear probing of the SMASH scratchpad tables."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim.spgemm.hashing import hash_slots, linear_probe, linear_probe_reference, occupancy


def test_multiplicative_hash_hand_checked():
    # top 4 bits of key * 0x9E3779B97F4A7C15 mod 2**64
    got = hash_slots(np.array([0, 1, 2]), 16, "multiplicative")
    assert got.tolist() == [0, 0x9, 0x3]
    assert got.dtype == np.int64


def test_modulo_hash_uses_low_bits():
    assert hash_slots(np.array([37, 16, 15]), 16, "modulo").tolist() == [5, 0, 15]


def test_hash_single_slot_table():
    assert hash_slots(np.arange(5), 1).tolist() == [0] * 5


@pytest.mark.parametrize(
    ("size", "kind", "match"),
    [(12, "multiplicative", "power of two"), (16, "crc", "hash kind must be")],
)
def test_hash_errors(size, kind, match):
    with pytest.raises(ValueError, match=match):
        hash_slots(np.arange(3), size, kind)


def test_linear_probe_hand_checked_with_wraparound():
    # T = 8: 3->3, 3->4, 4->5, 7->7, 7 wraps to 0, 0 -> 1
    homes = [3, 3, 4, 7, 7, 0]
    assert linear_probe_reference(homes, 8) == [0, 1, 1, 0, 1, 1]
    got = linear_probe(np.zeros(6, np.int64), np.array(homes), 8)
    assert got.tolist() == [0, 1, 1, 0, 1, 1]


def test_linear_probe_order_matters_but_occupancy_does_not():
    a = linear_probe(np.zeros(3, np.int64), np.array([5, 4, 4]), 8).tolist()
    b = linear_probe(np.zeros(3, np.int64), np.array([4, 4, 5]), 8).tolist()
    assert a == [0, 0, 2] and b == [0, 1, 1]
    assert sum(a) == sum(b)  # total displacement is order-independent with linear probing
    for homes in ([5, 4, 4], [4, 4, 5]):
        _, slots = occupancy(np.zeros(3, np.int64), np.array(homes), 8)
        assert slots.tolist() == [4, 5, 6]


def test_linear_probe_tables_are_independent():
    inst = np.array([0, 0, 1, 1, 1])
    homes = np.array([2, 2, 2, 2, 3])
    assert linear_probe(inst, homes, 4).tolist() == [0, 1, 0, 1, 1]


def test_linear_probe_rejects_full_table():
    with pytest.raises(ValueError, match="has only 4 slots"):
        linear_probe(np.zeros(4, np.int64), np.arange(4), 4)


def test_linear_probe_empty():
    assert linear_probe(np.zeros(0, np.int64), np.zeros(0, np.int64), 8).size == 0


@given(
    st.integers(1, 6).flatmap(
        lambda b: st.tuples(
            st.just(1 << b),
            st.lists(
                st.lists(st.integers(0, (1 << b) - 1), max_size=(1 << b) - 1), min_size=1, max_size=5
            ),
        )
    )
)
def test_linear_probe_matches_sequential_reference(case):
    size, tables = case
    inst = np.repeat(np.arange(len(tables)), [len(t) for t in tables])
    homes = np.array([h for t in tables for h in t], dtype=np.int64)
    want = [d for t in tables for d in linear_probe_reference(t, size)]
    assert linear_probe(inst, homes, size).tolist() == want


def test_linear_probe_is_vectorised_over_many_tables():
    rng = np.random.default_rng(0)
    inst = np.repeat(np.arange(200), 300)
    homes = rng.integers(0, 512, inst.size)
    got = linear_probe(inst, homes, 512)
    for i in (0, 57, 199):
        sel = inst == i
        assert got[sel].tolist() == linear_probe_reference(homes[sel].tolist(), 512)
