"""Sparse × sparse matrix multiply (SpGEMM): SMASH row-wise hashing and inner/outer baselines."""

from .engine import DATAFLOWS, check_output, simulate_spgemm
from .hashing import hash_slots, linear_probe, linear_probe_reference
from .inputs import as_csr, operands, read_mtx, rmat
from .spec import SpgemmSpec
from .work import RowWork, make_windows, row_work

__all__ = [
    "DATAFLOWS",
    "RowWork",
    "SpgemmSpec",
    "as_csr",
    "check_output",
    "hash_slots",
    "linear_probe",
    "linear_probe_reference",
    "make_windows",
    "operands",
    "read_mtx",
    "rmat",
    "row_work",
    "simulate_spgemm",
]
