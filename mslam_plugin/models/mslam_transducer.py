"""Conformer-transducer ASR from mSLAM (section 4.3): the pre-trained mSLAM encoder as the
transcription network, a 2-layer LSTM prediction network over graphemes and a joint
network, assembled as a :class:`torchaudio.models.RNNT` (transcribe / predict / join), so
torchaudio's :class:`~torchaudio.models.RNNTBeamSearch` decodes it unchanged.

Parameters carry ``param_group`` = ``encoder`` (transcription network) or ``decoder``
(prediction + joint networks): the ``mslam_adam`` optimiser and the
``mslam_group_inverse_sqrt`` schedule give each group its own peak learning rate and
warm-up, as the paper does (3e-4 / 5k updates and 1e-3 / 1.5k updates).
"""

import logging
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch
import torchaudio
from fairseq.dataclass import ChoiceEnum
from fairseq.models import BaseFairseqModel, register_model, register_model_architecture
from torch import nn

from ..data.char_vocab import BLANK
from . import config
from .config import MSLAMConfig
from .encoder import MSLAMEncoder
from .pretrained import finetuning_start, rename_keys

logger = logging.getLogger(__name__)
State = List[List[torch.Tensor]]


@dataclass
class MSLAMTransducerConfig(MSLAMConfig):
    load_pretrained_mslam_from: str = field(default="", metadata={"help": "mSLAM pre-training checkpoint for the encoder"})
    joint_dim: int = field(default=640, metadata={"help": "joint network dim"})
    predictor_embed_dim: int = field(default=640, metadata={"help": "grapheme embedding dim of the prediction network"})
    predictor_layers: int = field(default=2, metadata={"help": "LSTM layers of the prediction network"})
    predictor_hidden_dim: int = field(default=640, metadata={"help": "LSTM units of the prediction network"})
    predictor_dropout: float = field(default=0.1, metadata={"help": "dropout in the prediction network"})
    ctc_weight: float = field(default=0.0, metadata={"help": "weight of an auxiliary CTC loss over graphemes on the encoder output (icefall, ESPnet); 0 (the paper's recipe) builds no CTC head"})
    joint_activation: ChoiceEnum(["tanh", "relu"]) = field(default="tanh", metadata={"help": "joint network non-linearity"})


class Transcriber(nn.Module):
    """The mSLAM encoder on filterbanks and a projection to the joint dimension:
    ``input`` (B, T, F) float, ``lengths`` (B,) -> encodings (B, T', joint_dim) (zero at
    padding) and their lengths (B,) int32. The blind control (``blind``) gives zeros
    without running the encoder."""

    def __init__(self, encoder: MSLAMEncoder, out_dim: int, blind: bool = False):
        super().__init__()
        self.encoder = encoder
        dim = encoder.embed_dim
        self.proj = nn.Linear(dim, out_dim) if dim != out_dim else nn.Identity()
        self.out_dim, self.blind = out_dim, blind

    def forward(self, input: torch.Tensor, lengths: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        fbank_mask = torch.arange(input.size(1), device=input.device)[None, :] >= lengths[:, None]
        if self.blind:  # nothing reads the encoder: not run
            x, padding_mask = self.encoder.frontend(input, fbank_mask)
            x = x.new_zeros(*padding_mask.shape, self.out_dim)
        else:
            out = self.encoder.encode_speech(input, fbank_mask)
            padding_mask = out.padding_mask
            x = self.proj(out.context).masked_fill(padding_mask[..., None], 0.0)
        return x, (~padding_mask).sum(1).to(torch.int32)

    def infer(self, input: torch.Tensor, lengths: torch.Tensor, states):
        """torchaudio's streaming interface, without streaming state."""
        x, lengths = self(input, lengths)
        return x, lengths, []

    def upgrade_state_dict_named(self, state_dict, name):
        """Checkpoints written before the encoder became one module hold the projection
        as ``...transcriber.encoder.proj.``: it moves to ``...transcriber.proj.``."""
        prefix = f"{name}." if name else ""
        rename_keys(state_dict, prefix + "encoder.", prefix, parts=("proj.",))
        return state_dict


class Predictor(nn.Module):
    """Embedding -> LSTM layers -> linear: ``input`` (B, U) grapheme ids, ``lengths``
    (B,) -> (B, U, out_dim), the lengths, and the new state; the state is torchaudio's:
    per layer [h, c], each (B, H)."""

    def __init__(self, num_symbols: int, embed_dim: int, hidden_dim: int, layers: int,
                 out_dim: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(num_symbols, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_dim, out_dim)

    def forward(self, input: torch.Tensor, lengths: torch.Tensor, state: Optional[State] = None
                ) -> Tuple[torch.Tensor, torch.Tensor, State]:
        hc = None
        if state:
            hc = (torch.stack([s[0] for s in state]), torch.stack([s[1] for s in state]))
        x, (h, c) = self.lstm(self.dropout(self.embedding(input)), hc)
        new_state = [[h[i], c[i]] for i in range(h.size(0))]
        return self.output(self.dropout(x)), lengths, new_state


class Joiner(nn.Module):
    """``source_encodings`` (B, T, D) + ``target_encodings`` (B, U, D), broadcast to
    (B, T, U, D) -> activation -> linear: logits (B, T, U, V), and both lengths (B,)."""

    def __init__(self, joint_dim: int, num_symbols: int, activation: str = "tanh"):
        super().__init__()
        self.activation = torch.tanh if activation == "tanh" else torch.relu
        self.output = nn.Linear(joint_dim, num_symbols)

    def forward(self, source_encodings, source_lengths, target_encodings, target_lengths):
        x = source_encodings.unsqueeze(2) + target_encodings.unsqueeze(1)
        return self.output(self.activation(x)), source_lengths, target_lengths


@register_model("mslam_transducer", dataclass=MSLAMTransducerConfig)
class MSLAMTransducerModel(BaseFairseqModel):
    def __init__(self, rnnt: torchaudio.models.RNNT, blank: int, ctc_weight: float = 0.0):
        super().__init__()
        self.rnnt, self.blank, self.ctc_weight = rnnt, blank, ctc_weight
        joiner = rnnt.joiner
        # auxiliary CTC head over the same graphemes (blank last), on the encoder output
        self.ctc_head = (nn.Linear(joiner.output.in_features, joiner.output.out_features)
                         if ctc_weight > 0 else None)
        for name, p in self.named_parameters():
            p.param_group = "encoder" if name.startswith("rnnt.transcriber.") else "decoder"

    @classmethod
    def build_model(cls, cfg: MSLAMTransducerConfig, task):
        graphemes = task.target_dictionary
        blank = graphemes.index(BLANK)
        if blank != len(graphemes) - 1:  # torchaudio's beam search takes the last as blank
            raise ValueError(f"the target dictionary must end with {BLANK}: use a grapheme "
                             "vocabulary built by manifests/build_grapheme_vocab.py")
        vocab_size, padding_idx, pretrained = finetuning_start(cfg, task)
        encoder = MSLAMEncoder(cfg, vocab_size, padding_idx)
        if pretrained is not None:
            n = encoder.load_encoder_state(pretrained.body, pretrained.path)
            logger.info("encoder initialised from %s (%d tensors)", pretrained.path, n)
        transcriber = Transcriber(encoder, cfg.joint_dim, bool(getattr(cfg, "blind_encoder", False)))
        predictor = Predictor(len(graphemes), cfg.predictor_embed_dim, cfg.predictor_hidden_dim,
                              cfg.predictor_layers, cfg.joint_dim, cfg.predictor_dropout)
        joiner = Joiner(cfg.joint_dim, len(graphemes), cfg.joint_activation)
        return cls(torchaudio.models.RNNT(transcriber, predictor, joiner), blank, cfg.ctc_weight)

    @property
    def transcriber(self):
        return self.rnnt.transcriber

    @property
    def predictor(self):
        return self.rnnt.predictor

    @property
    def joiner(self):
        return self.rnnt.joiner

    def forward(self, src_tokens, src_lengths, target=None, target_lengths=None,
                loss_fn=None, **kwargs):
        """Transcription and prediction networks (the joint is left to the criterion, which
        bounds its memory): encodings (B, T', D), their lengths, predictions (B, U+1, D)
        for the blank-prefixed targets. With ``loss_fn``, returns ``loss_fn(model, out)``:
        the criterion's joint and CTC head then run inside this forward, where
        DistributedDataParallel sees them used."""
        enc, enc_lengths = self.rnnt.transcribe(src_tokens, src_lengths)
        out = {"encoder_out": enc, "encoder_lengths": enc_lengths}
        if target is not None:
            start = torch.full_like(target[:, :1], self.blank)
            pred, _, _ = self.rnnt.predict(torch.cat([start, target], 1), target_lengths + 1, None)
            out["predictor_out"] = pred
        return out if loss_fn is None else loss_fn(self, out)

    def max_positions(self):
        return None


@register_model_architecture("mslam_transducer", "mslam_transducer_tiny")
def mslam_transducer_tiny(args):
    """mslam_tiny encoder + a 2 x 192 LSTM prediction network and a 192-dim joint (the
    joint's (B, T, U, D) activations dominate a CPU step)."""
    config.set_defaults(args, joint_dim=192, predictor_embed_dim=128, predictor_hidden_dim=192)
    config.tiny(args)


@register_model_architecture("mslam_transducer", "mslam_transducer_base")
def mslam_transducer_base(args):
    """mslam_base (0.6B) encoder + the paper's 2 x 640 LSTM prediction network."""
    config.base(args)


@register_model_architecture("mslam_transducer", "mslam_transducer_large")
def mslam_transducer_large(args):
    """mslam_large (2B) encoder + the paper's 2 x 640 LSTM prediction network."""
    config.large(args)


@register_model_architecture("mslam_transducer", "mslam_transducer_w2vbert2")
def mslam_transducer_w2vbert2(args):
    """mslam_w2vbert2 encoder (w2v-BERT 2.0, converted by ``python -m
    mslam_plugin.convert_w2vbert2``) + the paper's 2 x 640 LSTM prediction network."""
    config.w2vbert2(args)
