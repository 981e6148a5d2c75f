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
from pathlib import Path
from dataclasses import dataclass, field
from typing import Optional

import torch
from fairseq.models import (FairseqEncoder, FairseqEncoderDecoderModel, register_model,
                            register_model_architecture)
from fairseq.models.transformer import Embedding, TransformerDecoder
from fairseq.utils import safe_getattr
from torch import nn

from ..checkpoints import CheckpointError
from ..data.char_vocab import BLANK
from .mslam import ENCODER_PARTS as PRETRAINED_PARTS
from .mslam import MSLAMConfig, MSLAMModel, mslam_base, mslam_tiny, mslam_w2vbert2

logger = logging.getLogger(__name__)
# the pre-trained encoder body without the mask embedding (fine-tuning masks nothing)
ENCODER_PARTS = tuple(p for p in PRETRAINED_PARTS if p != "mask_embedding")


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
    """The mSLAM encoder for fine-tuning: speech (B, T, F) float or characters (B, U) long
    in, encoder states (T', B, decoder dim) out, fairseq's encoder_out dict convention."""

    def __init__(self, cfg: MSLAMConfig, vocab_size: int, padding_idx: int,
                 out_dim: Optional[int] = None):
        super().__init__(None)
        out_dim = out_dim or cfg.decoder_embed_dim
        full = MSLAMModel(cfg, vocab_size, padding_idx)
        self.frontend, self.feature_norm = full.frontend, full.feature_norm
        self.feature_dropout = full.feature_dropout
        self.speech_encoder, self.multimodal_encoder = full.speech_encoder, full.multimodal_encoder
        self.text_embedding = full.text_embedding
        self.proj = (nn.Linear(cfg.encoder_embed_dim, out_dim)
                     if cfg.encoder_embed_dim != out_dim else nn.Identity())
        self.proj_dim = out_dim
        self.blind = bool(getattr(cfg, "blind_encoder", False))
        self.ctc_head = full.ctc_head if getattr(cfg, "source_ctc", False) else None
        self.ctc_blank: Optional[int] = None  # set by build_model from the character vocabulary

    def load_pretrained(self, path: str) -> None:
        from fairseq import checkpoint_utils

        state = checkpoint_utils.load_checkpoint_to_cpu(path)["model"]
        parts = ENCODER_PARTS + (("ctc_head.",) if self.ctc_head is not None else ())
        encoder = {k: v for k, v in state.items() if k.startswith(parts)}
        own = self.state_dict()
        wrong = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in encoder.items()
                 if k in own and v.shape != own[k].shape]
        if wrong:
            k, theirs, ours = wrong[0]
            raise CheckpointError(
                f"{path}: {len(wrong)} encoder tensors differ in shape from this model's "
                f"(e.g. {k}: {theirs} in the checkpoint, {ours} here); was it pre-trained "
                "with another --arch or character vocabulary?")
        missing, unexpected = self.load_state_dict(encoder, strict=False)
        if any(k.startswith("ctc_head.") for k in missing):
            logger.info("%s has no CTC head: the source CTC head starts fresh", path)
        missing = [k for k in missing if not k.startswith(("proj.", "ctc_head."))]
        if missing or unexpected:
            raise ValueError(f"{path}: not an mSLAM checkpoint of this architecture "
                             f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
        logger.info("encoder initialised from %s (%d tensors)", path, len(encoder))

    def forward(self, src_tokens, src_lengths=None, **kwargs):
        """src_tokens: filterbanks (B, T, F) float with ``src_lengths`` (B,), or characters
        (B, U) long. Returns fairseq's encoder_out dict: ``encoder_out`` [(T', B, C)],
        ``encoder_padding_mask`` [(B, T')], and with a source CTC head ``ctc_logits``
        [(T', B, V)] over the character vocabulary, from the multimodal encoder's output
        before the projection to C (computed here, inside forward, so that distributed
        training sees the head used)."""
        skip = self.blind and self.ctc_head is None  # nothing reads the encoder: not run
        if src_tokens.dtype == torch.long:  # characters: text translation
            x, padding_mask = self.text_embedding(src_tokens)
        else:
            t = src_tokens.size(1)
            fbank_mask = torch.arange(t, device=src_tokens.device)[None, :] >= src_lengths[:, None]
            x, padding_mask = self.frontend(src_tokens, fbank_mask)
            if not skip:
                x = self.speech_encoder(self.feature_dropout(self.feature_norm(x)), padding_mask)
        if skip:  # the control then trains only its decoder
            return self._encoder_out(x.new_zeros(*padding_mask.shape, self.proj_dim),
                                     padding_mask, None)
        hidden = self.multimodal_encoder(x, padding_mask)
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
    """The mSLAM encoder, initialised from ``cfg.load_pretrained_mslam_from`` when that
    file exists; a checkpoint being restored (``text_vocab_size`` already recorded)
    brings its own weights, so a moved pre-training file is then not an error."""
    restoring = cfg.text_vocab_size > 0  # set below, so saved in every checkpoint
    vocab_size, padding_idx = _char_vocab(cfg, task)
    encoder = MSLAMSTEncoder(cfg, vocab_size, padding_idx, out_dim)
    path = cfg.load_pretrained_mslam_from
    if path and Path(path).is_file():
        encoder.load_pretrained(path)
    elif path and not restoring:
        raise FileNotFoundError(f"{path}: mSLAM pre-training checkpoint not found")
    elif path:
        logger.info("%s not found: weights come from the checkpoint being loaded", path)
    cfg.text_vocab_size = vocab_size
    return encoder


def _char_vocab(cfg, task) -> tuple[int, int]:
    """Size and pad of the character vocabulary: the task's, the checkpoint's, or the flag."""
    chars = getattr(task, "char_dictionary", None)
    if chars is not None:
        return len(chars), chars.pad()
    if cfg.text_vocab_size > 0:
        return cfg.text_vocab_size, 1
    if cfg.load_pretrained_mslam_from:
        from fairseq import checkpoint_utils

        state = checkpoint_utils.load_checkpoint_to_cpu(cfg.load_pretrained_mslam_from)["model"]
        return state["text_embedding.embed.weight"].size(0), 1
    raise ValueError("the model needs --load-pretrained-mslam-from or --text-vocab-size "
                     "(the character vocabulary of the encoder)")


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
    for name, value in dict(decoder_layers=3, decoder_embed_dim=256, decoder_ffn_embed_dim=1024,
                            decoder_attention_heads=4).items():
        setattr(args, name, safe_getattr(args, name, value))
    mslam_tiny(args)


@register_model_architecture("mslam_st", "mslam_st_base")
def mslam_st_base(args):
    """mslam_base encoder + the paper's 6-layer, 512-dim decoder."""
    mslam_base(args)


@register_model_architecture("mslam_st", "mslam_st_w2vbert2")
def mslam_st_w2vbert2(args):
    """mslam_w2vbert2 encoder (w2v-BERT 2.0, converted by ``python -m
    mslam_plugin.convert_w2vbert2``) + the paper's 6-layer, 512-dim, 8-head decoder."""
    mslam_w2vbert2(args)
