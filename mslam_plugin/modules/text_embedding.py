"""Text encoder of mSLAM (section 3.1): character embedding + sinusoidal positions +
layer norm. The characters come from the shared 4096-symbol vocabulary
(``mslam_plugin.data.char_vocab``)."""

from __future__ import annotations

import math

import torch
from fairseq.modules import LayerNorm, SinusoidalPositionalEmbedding
from torch import nn


class MSLAMTextEmbedding(nn.Module):
    """``tokens`` (B, U) character ids, right-padded with ``padding_idx`` -> (B, U, D).

    Args:
        vocab_size: number of symbols in the character dictionary.
        dim: model dimension D.
        padding_idx: the dictionary's pad index (positions skip padding, so a sequence's
            embedding is the same whatever padding its batch adds).
        max_positions: longest text the sinusoid table is built for (it grows on demand).
        dropout: dropout after the layer norm.
    """

    def __init__(self, vocab_size: int, dim: int, padding_idx: int, max_positions: int = 1024,
                 dropout: float = 0.1):
        super().__init__()
        self.padding_idx = padding_idx
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
        nn.init.normal_(self.embed.weight, mean=0.0, std=dim ** -0.5)
        nn.init.zeros_(self.embed.weight[padding_idx])
        self.scale = math.sqrt(dim)
        self.positions = SinusoidalPositionalEmbedding(dim, padding_idx, init_size=max_positions + padding_idx + 1)
        self.norm = LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the embeddings (B, U, D) and the padding mask (B, U)."""
        assert tokens.dim() == 2, f"tokens must be (B, U), got {tuple(tokens.shape)}"
        padding_mask = tokens.eq(self.padding_idx)
        x = self.embed(tokens) * self.scale + self.positions(tokens)
        return self.dropout(self.norm(x)), padding_mask
