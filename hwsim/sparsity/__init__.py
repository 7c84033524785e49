"""Sparse weight formats: N:M (with SAT's bidirectional BDWP masks), block, unstructured and dense.

The package is split by format (:mod:`.nm`, :mod:`.compress`, :mod:`.block`) and by the text
grammar and seeded weights (:mod:`.spec`); every public name is imported from here.
"""

from __future__ import annotations

from ._common import MAX_M, SparsityParseError
from .block import (
    BlockSparsity,
    Dense,
    Unstructured,
    block_mask,
    prune_block,
    to_csr,
    unstructured_mask,
)
from .compress import NMCompressed, compress_nm, nm_metadata_bits
from .nm import NMPattern, bdwp_masks, check_nm, group_nnz, nm_mask, prune_nm
from .spec import SparsitySpec, apply_sparsity, parse_sparsity, random_weights

__all__ = [
    "MAX_M",
    "SparsityParseError",
    "NMPattern",
    "NMCompressed",
    "BlockSparsity",
    "Unstructured",
    "Dense",
    "SparsitySpec",
    "nm_mask",
    "prune_nm",
    "check_nm",
    "group_nnz",
    "compress_nm",
    "nm_metadata_bits",
    "bdwp_masks",
    "block_mask",
    "prune_block",
    "unstructured_mask",
    "to_csr",
    "parse_sparsity",
    "apply_sparsity",
    "random_weights",
]
