"""The mSLAM model configuration (section 3.1 and table 1 of the paper) and its size
presets; the architecture functions registered for ``mslam``, ``mslam_st`` and
``mslam_transducer`` apply these presets.

A preset fills only the options not given; fairseq rebuilds a model saved under an
architecture name from the stored config through the architecture function alone, so
options newer than a checkpoint take their defaults, the behaviour it was trained with.
"""

from dataclasses import dataclass, field, fields
from typing import Tuple

from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.utils import safe_getattr


@dataclass
class MSLAMConfig(FairseqDataclass):
    encoder_embed_dim: int = field(default=1024, metadata={"help": "model dim D"})
    encoder_ffn_embed_dim: int = field(default=4096, metadata={"help": "conformer FFN dim"})
    encoder_attention_heads: int = field(default=8, metadata={"help": "attention heads"})
    speech_encoder_layers: int = field(default=8, metadata={"help": "N: speech-only layers"})
    multimodal_encoder_layers: int = field(default=16, metadata={"help": "M: shared layers"})
    conv_kernel_size: int = field(default=5, metadata={"help": "depthwise kernel (5 mSLAM, 31 w2v-BERT 2.0)"})
    conv_norm: ChoiceEnum(["group", "layer"]) = field(default="group", metadata={"help": "norm in the conv module"})
    conv_norm_groups: int = field(default=32, metadata={"help": "groups of the group norm (unconfirmed in the paper)"})
    conv_no_bias: bool = field(default=False, metadata={"help": "no biases in the conv module's pointwise and depthwise convolutions (w2v-BERT 2.0)"})
    conv_causal: bool = field(default=False, metadata={"help": "causal depthwise conv: K - 1 frames of left padding (w2v-BERT 2.0) instead of (K - 1) / 2 on each side"})
    pos_scheme: ChoiceEnum(["rotary", "shaw", "none"]) = field(default="rotary", metadata={"help": "relative positions in attention"})
    shaw_max_left: int = field(default=64, metadata={"help": "shaw: key-minus-query distances clipped at -this (w2v-BERT 2.0: 64)"})
    shaw_max_right: int = field(default=8, metadata={"help": "shaw: key-minus-query distances clipped at +this (w2v-BERT 2.0: 8)"})
    speech_frontend: ChoiceEnum(["conv", "stack"]) = field(default="conv", metadata={"help": "conv: 2x Conv2d stride 2; stack: 2 frames + LN + linear"})
    speech_no_feature_norm: bool = field(default=False, metadata={"help": "no LayerNorm on the front-end output (w2v-BERT 2.0: its stack front-end normalises before the projection)"})
    speech_feature_dropout: float = field(default=0.0, metadata={"help": "dropout on the front-end output (w2v-BERT 2.0's feature-projection dropout)"})
    speech_feature_grad_mult: float = field(default=1.0, metadata={"help": "scale of the gradient that reaches the conv front-end (wav2vec 2.0's feature_grad_mult: 0.1 in pre-training)"})
    speech_quantizer_input: ChoiceEnum(["features", "stacked", "fbank"]) = field(default="features", metadata={"help": "what the w2v-BERT quantizer sees: the D-dim front-end output (mSLAM, w2v-BERT); with the stack front-end the normalised stacked filterbanks (w2v-BERT 2.0); with the conv front-end 4 stacked filterbank frames, normalised without parameters (fbank: targets the front-end cannot move; docs/pretraining.md)"})
    speech_conv_channels: int = field(default=128, metadata={"help": "channels of the conv front-end (unconfirmed)"})
    input_feat_per_channel: int = field(default=80, metadata={"help": "fbank bins"})
    input_channels: int = field(default=1, metadata={"help": "audio channels (speech_to_text sets it)"})
    dropout: float = field(default=0.1, metadata={"help": "residual dropout"})
    attention_dropout: float = field(default=0.0, metadata={"help": "attention-probability dropout (unconfirmed in the paper; 0 keeps the fused attention kernels)"})
    text_max_positions: int = field(default=1024, metadata={"help": "sinusoid table size"})
    codebook_size: int = field(default=1024, metadata={"help": "w2v-BERT codebook entries"})
    codebook_dim: int = field(default=1024, metadata={"help": "w2v-BERT code vector dim"})
    quantizer_temp: Tuple[float, float, float] = field(default=(2.0, 0.5, 0.999995), metadata={"help": "Gumbel temperature (start, end, decay per update)"})
    contrastive_dim: int = field(default=768, metadata={"help": "dim of the contrastive comparison space"})
    checkpoint_activations: bool = field(default=False, metadata={"help": "recompute each conformer layer in backward"})
    text_vocab_size: int = field(default=0, metadata={"help": "character vocab size when the task has no dictionary"})
    blind_encoder: bool = field(default=False, metadata={"help": "control runs: what reads the encoder output sees zeros instead, so it cannot use the input (pre-training: the CTC head; speech translation: the decoder, while a source CTC head still reads and trains the encoder; transducer: the joint network and its CTC head). Where nothing reads the real output, the encoder is not run"})


def set_defaults(args, **values) -> None:
    """Set each option of ``args`` not given yet (None or missing) to ``values``'s."""
    for name, value in values.items():
        setattr(args, name, safe_getattr(args, name, value))


def tiny(args) -> None:
    """A few million parameters: tests and the CPU demo."""
    set_defaults(args, encoder_embed_dim=144, encoder_ffn_embed_dim=576,
                 encoder_attention_heads=4, speech_encoder_layers=2,
                 multimodal_encoder_layers=4, conv_norm_groups=16, speech_conv_channels=32,
                 codebook_size=1024, codebook_dim=64, contrastive_dim=64)
    base(args)


def base(args) -> None:
    """The paper's 0.6B model: D 1024, FFN 4096, 8 heads, 8 speech + 16 multimodal layers."""
    set_defaults(args, encoder_embed_dim=1024, encoder_ffn_embed_dim=4096,
                 encoder_attention_heads=8, speech_encoder_layers=8,
                 multimodal_encoder_layers=16, conv_kernel_size=5, conv_norm="group",
                 conv_norm_groups=32, codebook_size=1024, codebook_dim=1024,
                 contrastive_dim=768)
    set_defaults(args, **{f.name: f.default for f in fields(MSLAMConfig)
                          if not f.name.startswith("_")})


def large(args) -> None:
    """The paper's 2B model: D 1408, FFN 4x D, 8 speech + 32 multimodal layers; 16 heads
    (the paper does not state the head count; 1408 / 16 = 88 dims a head)."""
    set_defaults(args, encoder_embed_dim=1408, encoder_ffn_embed_dim=5632,
                 encoder_attention_heads=16, speech_encoder_layers=8,
                 multimodal_encoder_layers=32)
    base(args)


def w2vbert2(args) -> None:
    """The public w2v-BERT 2.0 encoder (Seamless Communication, 2023; 580M parameters) as
    mSLAM's 8 speech + 16 multimodal layers, D 1024, FFN 4096, 16 heads of 64: stacked
    filterbanks -> LayerNorm(160) -> Linear(160, D) with no norm after it; conv module with
    layer norm, a causal depthwise kernel of 31 and no biases; Shaw relative keys clipped
    to [-64, 8]. The quantizer sees the normalised 160-dim stacked filterbanks. The text
    embedding, quantizer and heads are mSLAM's (``base``). ``python -m
    mslam_plugin.convert_w2vbert2`` fills the encoder with the released weights."""
    set_defaults(args, encoder_embed_dim=1024, encoder_ffn_embed_dim=4096,
                 encoder_attention_heads=16, speech_encoder_layers=8,
                 multimodal_encoder_layers=16, speech_frontend="stack",
                 speech_no_feature_norm=True, speech_quantizer_input="stacked",
                 conv_kernel_size=31, conv_norm="layer", conv_no_bias=True, conv_causal=True,
                 pos_scheme="shaw", shaw_max_left=64, shaw_max_right=8)
    base(args)
