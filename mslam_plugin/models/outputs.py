"""Typed outputs of the mSLAM encoder, one per input kind (speech, text, paired)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class MSLAMQuantized:
    """w2v-BERT quantizer output for the valid frames of a batch."""

    quantized: torch.Tensor        # (B, T, code_dim); zeros at padding
    code_ids: torch.Tensor         # (B, T) long; -1 at padding: argmax of the clean logits
                                   # (the masked-prediction targets)
    sample_ids: torch.Tensor       # (B, T) long; -1 at padding: the code each ``quantized``
                                   # vector is (the Gumbel sample in training)
    code_perplexity: torch.Tensor  # scalar: perplexity of the hard code choices
    prob_perplexity: torch.Tensor  # scalar: perplexity of the mean soft assignment
    num_codes: int
    temperature: float


@dataclass
class MSLAMSpeechOutput:
    """Speech through front-end, speech encoder (N layers) and multimodal encoder (M)."""

    features: torch.Tensor          # (B, T, D) quantizer input: front-end output before masking
                                    # (B, T, 2F) with speech_quantizer_input=stacked
    padding_mask: torch.Tensor      # (B, T) True at padding
    mask: torch.Tensor | None       # (B, T) True at masked frames (None: nothing masked)
    contrastive: torch.Tensor       # (B, T, D) speech-encoder output ("contrastive vectors")
    context: torch.Tensor | None    # (B, T, D) multimodal-encoder output ("context vectors")
    quantized: MSLAMQuantized | None
    frontend_l2: torch.Tensor | None = None  # scalar: the front-end output's mean square
                                             # before its norm (wav2vec 2.0's feature penalty)


@dataclass
class MSLAMTextOutput:
    """Characters through the text embedding and the multimodal encoder."""

    context: torch.Tensor       # (B, U, D)
    padding_mask: torch.Tensor  # (B, U) True at padding


@dataclass
class MSLAMPairedOutput:
    """Speech + transcript concatenated along time through the multimodal encoder; the
    context of each half is unpacked back to its own (B, T, D) / (B, U, D) layout."""

    speech: MSLAMSpeechOutput
    text: MSLAMTextOutput


@dataclass
class MSLAMEmbedding:
    """One utterance or text through the encoder (:meth:`MSLAMEncoder.embed_speech`,
    :meth:`MSLAMEncoder.embed_text`)."""

    frames: torch.Tensor  # (T', D) multimodal-encoder output, one row a frame or character
    pooled: torch.Tensor  # (D,) mean of the frames
