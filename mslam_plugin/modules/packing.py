"""Concatenation of two padded sequences along time, packed per item (mSLAM section 3.1:
paired speech + text go through the multimodal encoder as one sequence).

Item i becomes ``[a_i (valid frames), b_i (valid tokens), padding]``: padding never sits
between the two halves, so relative positions inside the pair do not depend on the
batch, and an item's encoding is the same alone or in any batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PackedPair:
    x: torch.Tensor             # (B, Ta + Tb, D)
    padding_mask: torch.Tensor  # (B, Ta + Tb), True at padding
    a_index: torch.Tensor       # (B, Ta): where a's frame t sits in x (padding -> last slot)
    b_index: torch.Tensor       # (B, Tb)

    def split(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Undo the packing of y (B, Ta + Tb, C): returns (B, Ta, C) and (B, Tb, C)."""
        gather = lambda idx: y.gather(1, idx[..., None].expand(-1, -1, y.size(-1)))
        return gather(self.a_index), gather(self.b_index)


def pack_pair(a: torch.Tensor, a_mask: torch.Tensor, b: torch.Tensor, b_mask: torch.Tensor
              ) -> PackedPair:
    """Pack ``a`` (B, Ta, D) and ``b`` (B, Tb, D) with their padding masks (True at pad)."""
    bsz, ta, tb = a.size(0), a.size(1), b.size(1)
    total = ta + tb
    a_len, b_len = (~a_mask).sum(-1), (~b_mask).sum(-1)
    last = total - 1
    pos_a = torch.arange(ta, device=a.device).expand(bsz, ta)
    pos_b = torch.arange(tb, device=a.device).expand(bsz, tb)
    a_index = torch.where(a_mask, last, pos_a)
    b_index = torch.where(b_mask, last, a_len[:, None] + pos_b)
    # Padding of a and b all lands on `last`, which is a padding slot whenever either
    # half has padding; it is zeroed below.
    # under autocast the halves can differ in dtype (matmul output vs layer norm output)
    dtype = torch.promote_types(a.dtype, b.dtype)
    a, b = a.to(dtype), b.to(dtype)
    x = a.new_zeros(bsz, total, a.size(-1))
    x = x.scatter(1, b_index[..., None].expand_as(b), b.masked_fill(b_mask[..., None], 0.0))
    x = x.scatter(1, a_index[..., None].expand_as(a), a.masked_fill(a_mask[..., None], 0.0))
    lengths = a_len + b_len
    padding_mask = torch.arange(total, device=a.device)[None, :] >= lengths[:, None]
    x = x.masked_fill(padding_mask[..., None], 0.0)
    return PackedPair(x, padding_mask, a_index, b_index)
