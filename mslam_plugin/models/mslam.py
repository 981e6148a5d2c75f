"""The mSLAM encoder (Bapna et al., 2022, section 3.1) registered as fairseq model ``mslam``.

speech: fbank -> front-end (4x) -> speech encoder (N conformer layers: contrastive
vectors) -> multimodal encoder (M layers: context vectors); text: characters ->
embedding + sinusoidal positions + LN -> the same multimodal encoder; paired: speech-
encoder output and text embeddings concatenated along time -> multimodal encoder.
Heads: w2v-BERT quantizer (wav2vec 2.0's Gumbel-softmax quantizer with one group of
1024 codes, as w2v-BERT uses), contrastive projections, masked code prediction, text
MLM and CTC (characters + blank) on the multimodal output.
"""


from dataclasses import dataclass, field, fields
from typing import Tuple

import torch
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.models import BaseFairseqModel, register_model, register_model_architecture
from fairseq.modules import GumbelVectorQuantizer, LayerNorm
from fairseq.utils import safe_getattr
from torch import nn

from ..modules.conformer import MSLAMConformerStack
from ..modules.packing import pack_pair
from ..modules.speech_frontend import MSLAMConvSubsampler, MSLAMFrameStacker
from ..modules.text_embedding import MSLAMTextEmbedding
from .outputs import MSLAMPairedOutput, MSLAMQuantized, MSLAMSpeechOutput, MSLAMTextOutput


# the encoder body: everything but the quantizer and the objectives' heads
ENCODER_PARTS = ("frontend.", "feature_norm.", "mask_embedding", "speech_encoder.",
                 "multimodal_encoder.", "text_embedding.")


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
    speech_quantizer_input: ChoiceEnum(["features", "stacked"]) = field(default="features", metadata={"help": "what the w2v-BERT quantizer sees: the D-dim front-end output, or (stack front-end) the normalised stacked filterbanks, as w2v-BERT 2.0"})
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


@register_model("mslam", dataclass=MSLAMConfig)
class MSLAMModel(BaseFairseqModel):
    """Typed forward per input kind: :meth:`forward_speech`, :meth:`forward_text`,
    :meth:`forward_paired`; heads are applied by the criterion to the positions it needs."""

    def __init__(self, cfg: MSLAMConfig, vocab_size: int, padding_idx: int):
        super().__init__()
        self.cfg = cfg
        d = cfg.encoder_embed_dim
        stacked = cfg.speech_quantizer_input == "stacked"
        if cfg.speech_frontend == "conv":
            if stacked:
                raise ValueError("`speech_quantizer_input` must be 'features' with the conv "
                                 "front-end, but is 'stacked' instead.")
            self.frontend = MSLAMConvSubsampler(cfg.input_feat_per_channel,
                                                cfg.speech_conv_channels, d)
        else:
            self.frontend = MSLAMFrameStacker(cfg.input_feat_per_channel, 2, d)
        # unit-scale features, as wav2vec 2.0 normalises its quantizer input: with the raw
        # projection the Gumbel logits start near zero and the hard codes collapse
        self.feature_norm = nn.Identity() if cfg.speech_no_feature_norm else LayerNorm(d)
        self.feature_dropout = nn.Dropout(cfg.speech_feature_dropout)
        self.mask_embedding = nn.Parameter(torch.empty(d).uniform_())
        self.speech_encoder = MSLAMConformerStack(cfg.speech_encoder_layers, **_block_args(cfg))
        self.multimodal_encoder = MSLAMConformerStack(cfg.multimodal_encoder_layers,
                                                      **_block_args(cfg))
        self.text_embedding = MSLAMTextEmbedding(vocab_size, d, padding_idx,
                                                 cfg.text_max_positions, cfg.dropout)
        self.quantizer = GumbelVectorQuantizer(
            dim=2 * cfg.input_feat_per_channel if stacked else d, num_vars=cfg.codebook_size,
            temp=tuple(cfg.quantizer_temp), groups=1, combine_groups=False,
            vq_dim=cfg.codebook_dim, time_first=True)
        self.contrastive_proj = nn.Linear(d, cfg.contrastive_dim)
        self.quantized_proj = nn.Linear(cfg.codebook_dim, cfg.contrastive_dim)
        self.code_head = nn.Linear(d, cfg.codebook_size)
        self.text_head = nn.Linear(d, vocab_size)
        self.ctc_head = nn.Linear(d, vocab_size)
        # for --optimizer mslam_adam: the encoder body and the objectives' heads (quantizer
        # included) can get their own schedules (--encoder-freeze-updates lets fresh heads
        # learn to read the encoder before it moves; docs/learning_curves.md)
        for name, p in self.named_parameters():
            p.param_group = "encoder" if name.startswith(ENCODER_PARTS) else "decoder"

    @classmethod
    def build_model(cls, cfg: MSLAMConfig, task):
        dictionary = getattr(task, "source_dictionary", None) or getattr(task, "dictionary", None)
        if dictionary is not None:
            return cls(cfg, len(dictionary), dictionary.pad())
        if cfg.text_vocab_size <= 0:
            raise ValueError("`text_vocab_size` must be set when the task has no "
                             f"dictionary, but is {cfg.text_vocab_size} instead.")
        return cls(cfg, cfg.text_vocab_size, 1)

    def set_num_updates(self, num_updates):
        super().set_num_updates(num_updates)
        self.quantizer.set_num_updates(num_updates)

    def quantize(self, features: torch.Tensor, padding_mask: torch.Tensor) -> MSLAMQuantized:
        """Quantize the valid frames of ``features`` (B, T, D) only, so padding never
        enters the codebook statistics.

        ``code_ids``, the w2v-BERT masked-prediction targets, are the argmax of the clean
        logits in training too, as at validation: the quantizer's own targets in training
        are its Gumbel-noised sample, a label drawn afresh for a frame at every step. The
        quantized vectors (contrastive targets) stay the Gumbel sample, as in wav2vec 2.0."""
        valid = ~padding_mask
        frames = features[valid]
        out = self.quantizer(frames[None])
        quantized = features.new_zeros(*features.shape[:2], self.cfg.codebook_dim)
        quantized[valid] = out["x"][0].to(quantized.dtype)
        with torch.no_grad():  # the quantizer's projection again, on the same frames
            logits = self.quantizer.weight_proj(frames)
        code_ids = torch.full(features.shape[:2], -1, dtype=torch.long, device=features.device)
        code_ids[valid] = logits.view(len(frames), self.quantizer.groups, -1).argmax(-1)[:, 0]
        return MSLAMQuantized(quantized, code_ids, out["code_perplexity"],
                              out["prob_perplexity"], out["num_vars"], out["temp"])

    def speech_features(self, fbank, fbank_padding_mask):
        """Front-end: ``fbank`` (B, T, F) -> the quantizer's input (B, T', D, or 2F with
        ``speech_quantizer_input=stacked``), the encoder input (B, T', D) and the
        subsampled padding mask (B, T')."""
        if self.cfg.speech_quantizer_input == "stacked":
            targets, padding_mask = self.frontend.stack_and_norm(fbank, fbank_padding_mask)
            x = self.feature_norm(self.frontend.proj(targets))
        else:
            x, padding_mask = self.frontend(fbank, fbank_padding_mask)
            x = targets = self.feature_norm(x)
        return targets, self.feature_dropout(x), padding_mask

    def encode_speech(self, fbank, fbank_padding_mask, mask=None):
        """Front-end and speech encoder; masked frames get the learned mask embedding.
        Returns the quantizer input, the padding mask and mask (B, T') and the speech-
        encoder output (B, T', D)."""
        features, x, padding_mask = self.speech_features(fbank, fbank_padding_mask)
        if callable(mask):  # masks drawn on the subsampled frames, e.g. by the criterion
            mask = mask(padding_mask)
        if mask is not None:
            assert mask.shape == padding_mask.shape, (
                f"mask must be (B, T') = {tuple(padding_mask.shape)}, got {tuple(mask.shape)}")
            x = torch.where(mask[..., None], self.mask_embedding.to(x.dtype), x)
        return features, padding_mask, mask, self.speech_encoder(x, padding_mask)

    def forward_speech(self, fbank, fbank_padding_mask, mask=None, quantize=True
                       ) -> MSLAMSpeechOutput:
        """``fbank`` (B, T, F), ``fbank_padding_mask`` (B, T); ``mask`` (B, T') marks
        subsampled frames to mask (T' = frames after the front-end), or is a function
        of the subsampled padding mask returning such a mask."""
        features, padding_mask, mask, contrastive = self.encode_speech(fbank, fbank_padding_mask, mask)
        context = self.multimodal_encoder(contrastive, padding_mask)
        quantized = self.quantize(features, padding_mask) if quantize else None
        return MSLAMSpeechOutput(features, padding_mask, mask, contrastive, context, quantized)

    def ctc_logits(self, context: torch.Tensor) -> torch.Tensor:
        """The CTC head on multimodal-encoder output ``context`` (B, T', D): (B, T', V).
        The blind control (``blind_encoder``) gives it zeros."""
        if getattr(self.cfg, "blind_encoder", False):
            context = torch.zeros_like(context)
        return self.ctc_head(context)

    def forward_text(self, tokens) -> MSLAMTextOutput:
        """``tokens`` (B, U) character ids right-padded with the dictionary's pad."""
        x, padding_mask = self.text_embedding(tokens)
        return MSLAMTextOutput(self.multimodal_encoder(x, padding_mask), padding_mask)

    def forward_paired(self, fbank, fbank_padding_mask, tokens, mask=None, quantize=True
                       ) -> MSLAMPairedOutput:
        """Speech + transcript (TLM / CTC): the speech encoder output and the text
        embeddings, packed per item along time, share one multimodal-encoder pass."""
        features, padding_mask, mask, contrastive = self.encode_speech(fbank, fbank_padding_mask, mask)
        text, text_padding_mask = self.text_embedding(tokens)
        packed = pack_pair(contrastive, padding_mask, text, text_padding_mask)
        speech_ctx, text_ctx = packed.split(self.multimodal_encoder(packed.x, packed.padding_mask))
        quantized = self.quantize(features, padding_mask) if quantize else None
        speech = MSLAMSpeechOutput(features, padding_mask, mask, contrastive, speech_ctx, quantized)
        return MSLAMPairedOutput(speech, MSLAMTextOutput(text_ctx, text_padding_mask))

    def forward(self, fbank=None, fbank_padding_mask=None, tokens=None, mask=None,
                quantize=True, loss_fn=None):
        """Dispatch on the inputs given: speech, text, or both (paired). ``loss_fn(model)``,
        when given, runs instead and its result is returned: the pre-training criterion's
        passes and heads then all run inside this forward, where DistributedDataParallel
        sees which parameters a step uses."""
        if loss_fn is not None:
            return loss_fn(self)
        if fbank is not None and tokens is not None:
            return self.forward_paired(fbank, fbank_padding_mask, tokens, mask, quantize)
        if fbank is not None:
            return self.forward_speech(fbank, fbank_padding_mask, mask, quantize)
        if tokens is not None:
            return self.forward_text(tokens)
        raise ValueError("mslam forward needs fbank, tokens or both")


def _block_args(cfg: MSLAMConfig) -> dict:
    return dict(dim=cfg.encoder_embed_dim, ffn_dim=cfg.encoder_ffn_embed_dim,
                heads=cfg.encoder_attention_heads, conv_kernel_size=cfg.conv_kernel_size,
                dropout=cfg.dropout, attention_dropout=cfg.attention_dropout,
                pos=cfg.pos_scheme, conv_norm=cfg.conv_norm,
                conv_norm_groups=cfg.conv_norm_groups, conv_bias=not cfg.conv_no_bias,
                conv_causal=cfg.conv_causal, shaw_left=cfg.shaw_max_left,
                shaw_right=cfg.shaw_max_right, checkpoint_activations=cfg.checkpoint_activations)


def _defaults(args, **values):
    for name, value in values.items():
        setattr(args, name, safe_getattr(args, name, value))


@register_model_architecture("mslam", "mslam_tiny")
def mslam_tiny(args):
    """A few million parameters: tests and the CPU demo."""
    _defaults(args, encoder_embed_dim=144, encoder_ffn_embed_dim=576, encoder_attention_heads=4,
              speech_encoder_layers=2, multimodal_encoder_layers=4, conv_norm_groups=16,
              speech_conv_channels=32, codebook_size=1024, codebook_dim=64, contrastive_dim=64)
    mslam_base(args)


@register_model_architecture("mslam", "mslam_base")
def mslam_base(args):
    """The paper's 0.6B model: D 1024, FFN 4096, 8 heads, 8 speech + 16 multimodal layers."""
    _defaults(args, encoder_embed_dim=1024, encoder_ffn_embed_dim=4096, encoder_attention_heads=8,
              speech_encoder_layers=8, multimodal_encoder_layers=16, conv_kernel_size=5,
              conv_norm="group", conv_norm_groups=32, codebook_size=1024, codebook_dim=1024,
              contrastive_dim=768)
    # fairseq rebuilds a model saved under an architecture name from the stored config
    # through the architecture function alone: options newer than the checkpoint take
    # their defaults, which are the behaviour it was trained with
    _defaults(args, **{f.name: f.default for f in fields(MSLAMConfig) if not f.name.startswith("_")})


@register_model_architecture("mslam", "mslam_large")
def mslam_large(args):
    """The paper's 2B model: D 1408, FFN 4x D, 8 speech + 32 multimodal layers; 16 heads
    (the paper does not state the head count; 1408 / 16 = 88 dims a head)."""
    _defaults(args, encoder_embed_dim=1408, encoder_ffn_embed_dim=5632,
              encoder_attention_heads=16, speech_encoder_layers=8,
              multimodal_encoder_layers=32)
    mslam_base(args)


@register_model_architecture("mslam", "mslam_w2vbert2")
def mslam_w2vbert2(args):
    """The public w2v-BERT 2.0 encoder (Seamless Communication, 2023; 580M parameters) as
    mSLAM's 8 speech + 16 multimodal layers, D 1024, FFN 4096, 16 heads of 64: stacked
    filterbanks -> LayerNorm(160) -> Linear(160, D) with no norm after it; conv module with
    layer norm, a causal depthwise kernel of 31 and no biases; Shaw relative keys clipped
    to [-64, 8]. The quantizer sees the normalised 160-dim stacked filterbanks. The text
    embedding, quantizer and heads are mSLAM's (``mslam_base``). ``python -m
    mslam_plugin.convert_w2vbert2`` fills the encoder with the released weights."""
    _defaults(args, encoder_embed_dim=1024, encoder_ffn_embed_dim=4096,
              encoder_attention_heads=16, speech_encoder_layers=8, multimodal_encoder_layers=16,
              speech_frontend="stack", speech_no_feature_norm=True,
              speech_quantizer_input="stacked", conv_kernel_size=31, conv_norm="layer",
              conv_no_bias=True, conv_causal=True,
              pos_scheme="shaw", shaw_max_left=64, shaw_max_right=8)
    mslam_base(args)
