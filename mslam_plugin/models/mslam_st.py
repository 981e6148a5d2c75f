"""Speech translation from mSLAM (section 4.1, CoVoST 2 recipe): the pre-trained mSLAM
encoder (front-end, speech encoder, multimodal encoder; text through the character
embedding) and a 6-layer, 512-dim fairseq Transformer decoder, with dropout 0.3 on the
decoder's input embedding and residuals.

Registered as ``mslam_st``; works with fairseq's ``speech_to_text`` task (speech input:
``src_tokens`` are filterbanks (B, T, 80)) and with character input (``src_tokens`` are
character ids (B, U)) for text translation, including zero-shot text translation by a
model fine-tuned on speech only.
"""

import argparse
import logging
from dataclasses import dataclass, field
from typing import Optional

import torch
from fairseq.models import (FairseqEncoder, FairseqEncoderDecoderModel, register_model,
                            register_model_architecture)
from fairseq.models.transformer import Embedding, TransformerDecoder
from fairseq.utils import safe_getattr
from torch import nn

from ..data.char_vocab import BLANK
from . import config
from .config import MSLAMConfig
from .encoder import MSLAMEncoder
from .pretrained import PretrainedEncoder, finetuning_start, rename_keys

logger = logging.getLogger(__name__)


@dataclass
class MSLAMSTConfig(MSLAMConfig):
    load_pretrained_mslam_from: str = field(default="", metadata={"help": "mSLAM pre-training checkpoint for the encoder"})
    decoder_layers: int = field(default=6, metadata={"help": "Transformer decoder layers"})
    decoder_embed_dim: int = field(default=512, metadata={"help": "decoder dim"})
    decoder_ffn_embed_dim: int = field(default=2048, metadata={"help": "decoder FFN dim"})
    decoder_attention_heads: int = field(default=8, metadata={"help": "decoder heads"})
    decoder_dropout: float = field(default=0.3, metadata={"help": "dropout on the decoder input embedding and residuals"})
    decoder_attention_dropout: float = field(default=0.1, metadata={"help": "decoder attention dropout"})
    share_decoder_input_output_embed: bool = field(default=True, metadata={"help": "tie decoder input and output embeddings"})
    source_ctc: bool = field(default=False, metadata={"help": "a CTC head over the source transcript's characters on the multimodal encoder output (ESPnet ST's auxiliary CTC), initialised from the pre-training's CTC head; the task sets it when --criterion label_smoothed_cross_entropy_with_ctc has --ctc-weight > 0"})
    speaker_to_id: Optional[str] = field(default=None, metadata={"help": "set by fairseq's speech_to_text task; unused"})


class MSLAMSTEncoder(FairseqEncoder):
    """The mSLAM encoder (``self.mslam``) for fine-tuning: speech (B, T, F) float or
    characters (B, U) long in, encoder states (T', B, out_dim) out, in fairseq's
    encoder_out dict convention; optionally a source CTC head on the multimodal output."""

    def __init__(self, cfg, vocab_size: int, padding_idx: int, out_dim: int):
        super().__init__(None)
        self.mslam = MSLAMEncoder(cfg, vocab_size, padding_idx)
        self.proj = (nn.Linear(cfg.encoder_embed_dim, out_dim)
                     if cfg.encoder_embed_dim != out_dim else nn.Identity())
        self.proj_dim = out_dim
        self.blind = bool(getattr(cfg, "blind_encoder", False))
        self.ctc_head = (nn.Linear(cfg.encoder_embed_dim, vocab_size)
                         if getattr(cfg, "source_ctc", False) else None)
        self.ctc_blank: Optional[int] = None  # set by build_model from the character vocabulary

    def load_pretrained(self, pretrained: PretrainedEncoder) -> None:
        """The encoder body, and the source CTC head where both sides have one, from a
        checkpoint read once (:class:`PretrainedEncoder`)."""
        n = self.mslam.load_encoder_state(pretrained.body, pretrained.path)
        if self.ctc_head is not None:
            if pretrained.ctc_head:
                self.ctc_head.load_state_dict(pretrained.ctc_head)
                n += len(pretrained.ctc_head)
            else:
                logger.info("%s has no CTC head: the source CTC head starts fresh",
                            pretrained.path)
        logger.info("encoder initialised from %s (%d tensors)", pretrained.path, n)

    def upgrade_state_dict_named(self, state_dict, name):
        """Checkpoints written before the encoder became one module hold its tensors
        directly under ``encoder.``: they move to ``encoder.mslam.``."""
        prefix = f"{name}." if name else ""
        rename_keys(state_dict, prefix, prefix + "mslam.")
        return state_dict

    def forward(self, src_tokens, src_lengths=None, **kwargs):
        """src_tokens: filterbanks (B, T, F) float with ``src_lengths`` (B,), or characters
        (B, U) long. Returns fairseq's encoder_out dict: ``encoder_out`` [(T', B, C)],
        ``encoder_padding_mask`` [(B, T')], and with a source CTC head ``ctc_logits``
        [(T', B, V)] over the character vocabulary, from the multimodal encoder's output
        before the projection to C (computed here, inside forward, so that distributed
        training sees the head used)."""
        skip = self.blind and self.ctc_head is None  # nothing reads the encoder: not run
        if src_tokens.dtype == torch.long:  # characters: text translation
            if skip:
                x, padding_mask = self.mslam.text_embedding(src_tokens)
            else:
                out = self.mslam.encode_text(src_tokens)
                hidden, padding_mask = out.context, out.padding_mask
        else:
            t = src_tokens.size(1)
            fbank_mask = torch.arange(t, device=src_tokens.device)[None, :] >= src_lengths[:, None]
            if skip:
                x, padding_mask = self.mslam.frontend(src_tokens, fbank_mask)
            else:
                out = self.mslam.encode_speech(src_tokens, fbank_mask)
                hidden, padding_mask = out.context, out.padding_mask
        if skip:  # the control then trains only its decoder
            return self._encoder_out(x.new_zeros(*padding_mask.shape, self.proj_dim),
                                     padding_mask, None)
        x = self.proj(hidden).masked_fill(padding_mask[..., None], 0.0)
        if self.blind:
            x = torch.zeros_like(x)
        ctc_logits = self.ctc_head(hidden) if self.ctc_head is not None else None
        return self._encoder_out(x, padding_mask, ctc_logits)

    @staticmethod
    def _encoder_out(x, padding_mask, ctc_logits):
        out = {"encoder_out": [x.transpose(0, 1)], "encoder_padding_mask": [padding_mask],
               "encoder_embedding": [], "encoder_states": [], "src_tokens": [],
               "src_lengths": []}
        if ctc_logits is not None:
            out["ctc_logits"] = [ctc_logits.transpose(0, 1)]
        return out

    def reorder_encoder_out(self, encoder_out, new_order):
        return {"encoder_out": [encoder_out["encoder_out"][0].index_select(1, new_order)],
                "encoder_padding_mask": [encoder_out["encoder_padding_mask"][0].index_select(0, new_order)],
                "encoder_embedding": [], "encoder_states": [], "src_tokens": [], "src_lengths": []}


@register_model("mslam_st", dataclass=MSLAMSTConfig)
class MSLAMSTModel(FairseqEncoderDecoderModel):
    @classmethod
    def build_model(cls, cfg: MSLAMSTConfig, task):
        encoder = build_encoder(cfg, task, cfg.decoder_embed_dim)
        tgt = task.target_dictionary
        max_target = safe_getattr(getattr(task, "cfg", None), "max_target_positions", 1024)
        decoder = TransformerDecoder(_decoder_args(cfg, max_target), tgt,
                                     Embedding(len(tgt), cfg.decoder_embed_dim, tgt.pad()))
        model = cls(encoder, decoder)
        chars = getattr(task, "char_dictionary", None)
        if chars is not None:
            encoder.ctc_blank = chars.index(BLANK)
        for name, p in model.named_parameters():  # for --optimizer mslam_adam
            p.param_group = "encoder" if name.startswith("encoder.") else "decoder"
        return model

    def max_positions(self):
        return (self.encoder.max_positions(), self.decoder.max_positions())

    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        """A checkpoint trained with the source CTC loss also loads into a model without
        its head (fine-tuning on or decoding without that loss): the head is dropped."""
        if self.encoder.ctc_head is None:
            head = [k for k in state_dict if k.startswith("encoder.ctc_head.")]
            if head:
                logger.info("checkpoint's source CTC head not used (no CTC loss): dropped")
                state_dict = {k: v for k, v in state_dict.items() if k not in head}
        return super().load_state_dict(state_dict, strict=strict, model_cfg=model_cfg, args=args)

    def forward(self, src_tokens, src_lengths, prev_output_tokens, **kwargs):
        """Decoder logits (B, U, V) and extras; the extras also hold ``encoder_out`` (the
        encoder's dict) for the source CTC loss (fairseq's s2t_transformer convention)."""
        encoder_out = self.encoder(src_tokens, src_lengths=src_lengths, **kwargs)
        logits, extra = self.decoder(prev_output_tokens, encoder_out=encoder_out, **kwargs)
        extra["encoder_out"] = encoder_out
        return logits, extra

    def get_ctc_target(self, sample):
        """Source transcripts (B, U) and their lengths (B,), for
        label_smoothed_cross_entropy_with_ctc."""
        if "source_chars" not in sample:
            raise ValueError("the source CTC loss needs batches with source transcripts: "
                             "train with --task mslam_speech_translation on speech input")
        return sample["source_chars"], sample["source_char_lengths"]

    def get_ctc_output(self, net_output, sample):
        """CTC log-probabilities (T', B, V) over the character vocabulary and the input
        lengths (B,). fairseq's criterion takes index 0 as the blank; the vocabulary's own
        ``<blank>`` (the one pre-training trained) is moved there, and ``<s>``, which no
        transcript holds, takes its place."""
        enc = net_output[1]["encoder_out"]
        head, blank = self.encoder.ctc_head, self.encoder.ctc_blank
        if head is None or "ctc_logits" not in enc:
            raise ValueError("label_smoothed_cross_entropy_with_ctc: the model has no source "
                             "CTC head (it is built when the task trains with that criterion "
                             "and --ctc-weight > 0)")
        if blank is None:
            raise ValueError("the source CTC loss needs the character vocabulary (--char-vocab)")
        logits = enc["ctc_logits"][0]
        order = torch.arange(logits.size(-1), device=logits.device)
        order[0], order[blank] = blank, 0
        lprobs = torch.log_softmax(logits.index_select(-1, order).float(), dim=-1)
        lengths = (~enc["encoder_padding_mask"][0]).long().sum(-1)
        return lprobs, lengths


def build_encoder(cfg, task, out_dim: int) -> MSLAMSTEncoder:
    """The mSLAM encoder, initialised from ``cfg.load_pretrained_mslam_from`` (read once)
    when set."""
    vocab_size, padding_idx, pretrained = finetuning_start(cfg, task)
    encoder = MSLAMSTEncoder(cfg, vocab_size, padding_idx, out_dim)
    if pretrained is not None:
        encoder.load_pretrained(pretrained)
    return encoder


def _decoder_args(cfg: MSLAMSTConfig, max_target_positions: int) -> argparse.Namespace:
    return argparse.Namespace(
        decoder_layers=cfg.decoder_layers, decoder_embed_dim=cfg.decoder_embed_dim,
        decoder_output_dim=cfg.decoder_embed_dim, decoder_input_dim=cfg.decoder_embed_dim,
        decoder_ffn_embed_dim=cfg.decoder_ffn_embed_dim,
        decoder_attention_heads=cfg.decoder_attention_heads, dropout=cfg.decoder_dropout,
        attention_dropout=cfg.decoder_attention_dropout, activation_dropout=0.0,
        encoder_embed_dim=cfg.decoder_embed_dim, decoder_normalize_before=True,
        share_decoder_input_output_embed=cfg.share_decoder_input_output_embed,
        max_target_positions=max_target_positions, no_scale_embedding=False,
        decoder_learned_pos=False, no_token_positional_embeddings=False,
        adaptive_softmax_cutoff=None, decoder_layerdrop=0.0, activation_fn="relu")


@register_model_architecture("mslam_st", "mslam_st_tiny")
def mslam_st_tiny(args):
    """mslam_tiny encoder + a small decoder (3 layers, 256 dim) for tests and the demo."""
    config.set_defaults(args, decoder_layers=3, decoder_embed_dim=256,
                        decoder_ffn_embed_dim=1024, decoder_attention_heads=4)
    config.tiny(args)


@register_model_architecture("mslam_st", "mslam_st_base")
def mslam_st_base(args):
    """mslam_base encoder + the paper's 6-layer, 512-dim decoder."""
    config.base(args)


@register_model_architecture("mslam_st", "mslam_st_w2vbert2")
def mslam_st_w2vbert2(args):
    """mslam_w2vbert2 encoder (w2v-BERT 2.0, converted by ``python -m
    mslam_plugin.convert_w2vbert2``) + the paper's 6-layer, 512-dim, 8-head decoder."""
    config.w2vbert2(args)
