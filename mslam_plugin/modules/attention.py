"""Multi-head self-attention with relative positions for the conformer blocks.

mSLAM (section 3.1) uses conformer layers, whose attention carries relative position
information (Gulati et al., 2020). Two relative schemes are offered:

* ``rotary`` (default): rotary position embedding (Su et al., 2021) applied to queries
  and keys. It is relative by construction and adds no B x H x T x T tensor, so
  attention stays on ``scaled_dot_product_attention``'s fused kernels.
* ``shaw``: Shaw et al. (2018) relative-key embeddings with distances clipped to
  ``[-left, right]``, the scheme of the public w2v-BERT 2.0 encoder:
  ``score_ij = (q_i . k_j + q_i . E[clip(j - i, -left, right) + left]) / sqrt(d_head)``,
  with j - i the key position minus the query position, one embedding table E
  (left + right + 1, d_head) per layer shared by the heads, and no relative values
  (Hugging Face's ``position_embeddings_type="relative_key"``, left 64, right 8).
  Implemented as an additive attention bias computed through a (T x distances)
  product and a gather rather than a T x T x d tensor.
* ``none``: no positions (ablations only).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

POSITION_SCHEMES = ("rotary", "shaw", "none")


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class MSLAMSelfAttention(nn.Module):
    """Self-attention over ``x`` (B, T, D) with ``padding_mask`` (B, T), True at padding.

    Args:
        dim: model dimension D.
        heads: number of heads H (D must be divisible by H).
        dropout: attention-probability dropout.
        pos: one of ``rotary``, ``shaw``, ``none``.
        shaw_left / shaw_right: clipping distances of the ``shaw`` scheme.
        rotary_base: frequency base of the ``rotary`` scheme.
    Returns (B, T, D). Padded keys never receive attention; padded query rows are
    computed but meaningless (callers zero or ignore them).
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, pos: str = "rotary",
                 shaw_left: int = 64, shaw_right: int = 8, rotary_base: float = 10000.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"`dim` must be divisible by `heads` ({heads}), but is {dim} instead.")
        if pos not in POSITION_SCHEMES:
            raise ValueError(f"`pos` must be one of {POSITION_SCHEMES}, but is {pos!r} instead.")
        self.heads, self.head_dim, self.dropout, self.pos = heads, dim // heads, dropout, pos
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        if pos == "rotary":
            inv_freq = 1.0 / rotary_base ** (torch.arange(0, self.head_dim, 2).float()
                                             / self.head_dim)
            self.register_buffer("inv_freq", inv_freq, persistent=False)
        elif pos == "shaw":
            self.shaw_left, self.shaw_right = shaw_left, shaw_right
            self.rel_k = nn.Embedding(shaw_left + shaw_right + 1, self.head_dim)

    def rotary_tables(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """cos and sin tables (T, head_dim) for x (B, T, D); computed once per stack."""
        if self.pos != "rotary":
            return None
        t = torch.arange(x.size(1), device=x.device, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq.to(x.device))
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

    def _shaw_bias(self, q: torch.Tensor) -> torch.Tensor:
        """(B, H, T, T) additive bias q_i . r_{clip(j - i)} / sqrt(d)."""
        t = q.size(-2)
        pos = torch.arange(t, device=q.device)
        dist = (pos[None, :] - pos[:, None]).clamp(-self.shaw_left, self.shaw_right)
        scores = q @ self.rel_k.weight.to(q.dtype).t()  # (B, H, T, distances)
        index = (dist + self.shaw_left).expand(*q.shape[:2], t, t)
        return scores.gather(-1, index) / math.sqrt(self.head_dim)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None,
                rotary: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        mask = None
        if self.pos == "rotary":
            cos, sin = rotary if rotary is not None else self.rotary_tables(x)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        elif self.pos == "shaw":
            mask = self._shaw_bias(q)
        if padding_mask is not None:
            keep = ~padding_mask[:, None, None, :]  # (B, 1, 1, T)
            mask = keep if mask is None else mask.masked_fill(~keep, float("-inf"))
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, t, d))
