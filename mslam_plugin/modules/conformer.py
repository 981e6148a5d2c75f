"""Conformer block and stack (Gulati et al., 2020) as mSLAM uses them (section 3.1):
half FFN, self-attention, convolution module, half FFN, final layer norm. mSLAM replaces
the convolution module's batch norm by group norm; ``conv_norm="layer"``, ``conv_bias=False``
and ``conv_causal=True`` give the w2v-BERT 2.0 variant (Seamless, 2023). Padding is respected everywhere: padded frames are zeroed before
the depthwise convolution and excluded from the group-norm statistics, so a sequence's
output does not depend on how much padding its batch adds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from fairseq.modules import LayerNorm
from torch import nn
from torch.utils.checkpoint import checkpoint

from .attention import MSLAMSelfAttention


class MSLAMFeedForward(nn.Module):
    """Pre-norm FFN: LN -> Linear(D, F) -> Swish -> dropout -> Linear(F, D) -> dropout."""

    def __init__(self, dim: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.norm = LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, ffn_dim), nn.Linear(ffn_dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(F.silu(self.fc1(self.norm(x))))))


class MaskedGroupNorm(nn.Module):
    """Group norm of x (B, C, T) over (channels of a group, valid frames). Without
    padding it is torch's fused group norm."""

    def __init__(self, groups: int, channels: int, eps: float = 1e-5):
        super().__init__()
        if channels % groups:
            raise ValueError(f"`conv_norm_groups` must divide the model dim {channels}, "
                             f"but is {groups} instead.")
        self.groups, self.eps = groups, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        if padding_mask is None:
            return F.group_norm(x, self.groups, self.weight, self.bias, self.eps)
        b, c, t = x.shape
        xf = x.float().view(b, self.groups, c // self.groups, t)
        valid = (~padding_mask).float()[:, None, None, :]
        count = valid.sum(-1, keepdim=True).clamp(min=1) * (c // self.groups)
        mean = (xf * valid).sum((2, 3), keepdim=True) / count
        var = (((xf - mean) * valid) ** 2).sum((2, 3), keepdim=True) / count
        y = ((xf - mean) * torch.rsqrt(var + self.eps)).view(b, c, t).to(x.dtype)
        return y * self.weight[:, None] + self.bias[:, None]


class MSLAMConvModule(nn.Module):
    """LN -> pointwise conv (2D) -> GLU -> depthwise conv (kernel K) -> norm -> Swish ->
    pointwise conv -> dropout, on x (B, T, D) with padding_mask (B, T); returns (B, T, D).

    Args:
        dim: model dimension D.
        kernel_size: depthwise kernel K (odd).
        dropout: dropout on the output.
        norm: ``group`` (mSLAM) or ``layer`` (w2v-BERT 2.0) after the depthwise conv.
        norm_groups: groups of the group norm.
        bias: biases in the three convolutions (w2v-BERT 2.0 has none).
        causal: the depthwise conv sees K - 1 past frames and no future one (w2v-BERT
            2.0) instead of (K - 1) / 2 on each side.
    """

    def __init__(self, dim: int, kernel_size: int, dropout: float, norm: str = "group",
                 norm_groups: int = 32, bias: bool = True, causal: bool = False):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"`conv_kernel_size` must be odd, but is {kernel_size} instead.")
        self.pre_norm = LayerNorm(dim)
        self.pointwise1 = nn.Linear(dim, 2 * dim, bias=bias)
        # left padding is applied in forward when causal (Conv1d pads both sides)
        self.left_pad = kernel_size - 1 if causal else 0
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, padding=0 if causal else kernel_size // 2,
                                   groups=dim, bias=bias)
        if norm == "group":
            self.norm = MaskedGroupNorm(norm_groups, dim)
        elif norm == "layer":
            self.norm = LayerNorm(dim)
        else:
            raise ValueError(f"`conv_norm` must be 'group' or 'layer', but is {norm!r} instead.")
        self.pointwise2 = nn.Linear(dim, dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        x = F.glu(self.pointwise1(self.pre_norm(x)), dim=-1)
        if padding_mask is not None:
            x = x.masked_fill(padding_mask[..., None], 0.0)
        x = self.depthwise(F.pad(x.transpose(1, 2), (self.left_pad, 0)))  # (B, D, T)
        if isinstance(self.norm, MaskedGroupNorm):
            x = self.norm(x, padding_mask).transpose(1, 2)
        else:
            x = self.norm(x.transpose(1, 2))
        return self.dropout(self.pointwise2(F.silu(x)))


class MSLAMConformerBlock(nn.Module):
    """One conformer block on x (B, T, D) with padding_mask (B, T), True at padding;
    returns (B, T, D). ``shaw_left`` / ``shaw_right`` clip the relative distances of the
    ``shaw`` position scheme; ``conv_bias`` / ``conv_causal`` go to the conv module."""

    def __init__(self, dim: int, ffn_dim: int, heads: int, conv_kernel_size: int = 5,
                 dropout: float = 0.1, attention_dropout: float = 0.0, pos: str = "rotary",
                 conv_norm: str = "group", conv_norm_groups: int = 32, conv_bias: bool = True,
                 conv_causal: bool = False, shaw_left: int = 64, shaw_right: int = 8):
        super().__init__()
        self.ffn1 = MSLAMFeedForward(dim, ffn_dim, dropout)
        self.attn_norm = LayerNorm(dim)
        self.attn = MSLAMSelfAttention(dim, heads, attention_dropout, pos,
                                       shaw_left=shaw_left, shaw_right=shaw_right)
        self.attn_dropout = nn.Dropout(dropout)
        self.conv = MSLAMConvModule(dim, conv_kernel_size, dropout, conv_norm, conv_norm_groups,
                                    bias=conv_bias, causal=conv_causal)
        self.ffn2 = MSLAMFeedForward(dim, ffn_dim, dropout)
        self.final_norm = LayerNorm(dim)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None,
                rotary: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = x + 0.5 * self.ffn1(x)
        x = x + self.attn_dropout(self.attn(self.attn_norm(x), padding_mask, rotary))
        x = x + self.conv(x, padding_mask)
        x = x + 0.5 * self.ffn2(x)
        return self.final_norm(x)


class MSLAMConformerStack(nn.Module):
    """``layers`` conformer blocks on x (B, T, D) with padding_mask (B, T); returns
    (B, T, D), with no norm after the last block (each block ends with its own).
    ``checkpoint_activations`` recomputes each block's activations in the backward pass
    (memory for compute: the 2B model on 80 GB GPUs)."""

    def __init__(self, layers: int, checkpoint_activations: bool = False, **block_args):
        super().__init__()
        self.layers = nn.ModuleList(MSLAMConformerBlock(**block_args) for _ in range(layers))
        self.checkpoint_activations = checkpoint_activations

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        outputs = self.layer_outputs(x, padding_mask)
        return outputs[-1] if outputs else x

    def layer_outputs(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None
                      ) -> list[torch.Tensor]:
        """Every block's output, (B, T, D) each, first block first (representation
        probes read them; :meth:`forward` returns the last)."""
        if padding_mask is not None and not padding_mask.any():
            padding_mask = None  # lets attention and group norm take their fused paths
        rotary = self.layers[0].attn.rotary_tables(x) if len(self.layers) else None
        outputs = []
        for layer in self.layers:
            if self.checkpoint_activations and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, padding_mask, rotary, use_reentrant=False)
            else:
                x = layer(x, padding_mask, rotary)
            outputs.append(x)
        return outputs
