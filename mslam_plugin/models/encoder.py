"""The mSLAM encoder (Bapna et al., 2022, section 3.1), one implementation shared by
pre-training (``mslam``, which adds the quantizer and the objectives' heads), speech
translation (``mslam_st``) and the transducer (``mslam_transducer``).

speech: fbank -> front-end (4x) -> feature norm -> speech encoder (N conformer layers:
contrastive vectors) -> multimodal encoder (M layers: context vectors); text: characters
-> embedding + sinusoidal positions + LN -> the same multimodal encoder; paired: speech-
encoder output and text embeddings packed along time -> multimodal encoder.

For embeddings rather than training::

    encoder = MSLAMEncoder.from_checkpoint("checkpoint_best.pt")  # mslam, ST or transducer
    speech = encoder.embed_speech(waveform, sample_rate)   # .frames (T', D), .pooled (D,)
    text = encoder.embed_text("ein Satz")                  # .frames (U, D), .pooled (D,)
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Union

import torch
from fairseq.modules import GradMultiply, LayerNorm
from torch import nn

from ..modules.conformer import MSLAMConformerStack
from ..modules.packing import pack_pair
from ..modules.speech_frontend import MSLAMConvSubsampler, MSLAMFrameStacker, stack_frames
from ..modules.text_embedding import MSLAMTextEmbedding
from .outputs import MSLAMEmbedding, MSLAMPairedOutput, MSLAMSpeechOutput, MSLAMTextOutput

# state-dict prefixes of the encoder body (the mask embedding is pre-training's alone)
ENCODER_PARTS = ("frontend.", "feature_norm.", "speech_encoder.", "multimodal_encoder.",
                 "text_embedding.")
MASK_EMBEDDING = "mask_embedding"
SpeechMask = Union[torch.Tensor, Callable[[torch.Tensor], torch.Tensor], None]


class SpeechFeatures(NamedTuple):
    """The front-end's output (:meth:`MSLAMEncoder.speech_features`)."""

    targets: torch.Tensor       # (B, T', D) or (B, T', 2F): what the quantizer sees
    x: torch.Tensor             # (B, T', D) the speech encoder's input, before masking
    padding_mask: torch.Tensor  # (B, T') True at padding
    frontend_l2: torch.Tensor   # scalar: mean square of the front-end output before its norm


class MSLAMEncoder(nn.Module):
    """Front-end, feature norm, speech and multimodal conformer stacks, text embedding.

    ``cfg`` holds :class:`~mslam_plugin.models.mslam.MSLAMConfig`'s fields; ``masking``
    adds the learned mask embedding that masked speech frames get (pre-training only)."""

    def __init__(self, cfg, vocab_size: int, padding_idx: int, masking: bool = False):
        super().__init__()
        d = cfg.encoder_embed_dim
        quantizer_input = cfg.speech_quantizer_input
        if cfg.speech_frontend == "conv":
            if quantizer_input == "stacked":
                raise ValueError("`speech_quantizer_input` must be 'features' or 'fbank' with "
                                 "the conv front-end, but is 'stacked' instead.")
            self.frontend = MSLAMConvSubsampler(cfg.input_feat_per_channel,
                                                cfg.speech_conv_channels, d)
        else:
            if quantizer_input == "fbank":
                raise ValueError("`speech_quantizer_input` must be 'features' or 'stacked' "
                                 "with the stack front-end, but is 'fbank' instead.")
            self.frontend = MSLAMFrameStacker(cfg.input_feat_per_channel, 2, d)
        self.stacked_targets = quantizer_input == "stacked"
        # the filterbanks the conv front-end subsamples, 4 frames side by side, normalised
        # without learned parameters: targets that the front-end cannot move
        self.fbank_targets = (LayerNorm(4 * cfg.input_feat_per_channel, elementwise_affine=False)
                              if quantizer_input == "fbank" else None)
        # unit-scale features, as wav2vec 2.0 normalises its quantizer input: with the raw
        # projection the Gumbel logits start near zero and the hard codes collapse
        self.feature_norm = nn.Identity() if cfg.speech_no_feature_norm else LayerNorm(d)
        self.feature_dropout = nn.Dropout(cfg.speech_feature_dropout)
        self.feature_grad_mult = getattr(cfg, "speech_feature_grad_mult", 1.0)
        if masking:
            self.mask_embedding = nn.Parameter(torch.empty(d).uniform_())
        self.speech_encoder = MSLAMConformerStack(cfg.speech_encoder_layers, **block_args(cfg))
        self.multimodal_encoder = MSLAMConformerStack(cfg.multimodal_encoder_layers,
                                                      **block_args(cfg))
        self.text_embedding = MSLAMTextEmbedding(vocab_size, d, padding_idx,
                                                 cfg.text_max_positions, cfg.dropout)
        # what embed_speech / embed_text read; from_checkpoint sets them from the checkpoint
        self.speech_input, self.char_dictionary = "fbank", None

    @property
    def embed_dim(self) -> int:
        return self.text_embedding.embed.embedding_dim

    def speech_features(self, fbank: torch.Tensor, fbank_padding_mask: torch.Tensor
                        ) -> SpeechFeatures:
        """Front-end: ``fbank`` (B, T, F) -> the quantizer's input (B, T', D; 2F with
        ``speech_quantizer_input=stacked``, 4F with ``fbank``), the encoder input (B, T', D), the subsampled
        padding mask (B, T') and the mean square of the front-end output before its norm
        (wav2vec 2.0's feature penalty). ``speech_feature_grad_mult`` scales the gradient
        that reaches the conv front-end (wav2vec 2.0's ``feature_grad_mult``)."""
        if self.stacked_targets:
            targets, padding_mask = self.frontend.stack_and_norm(fbank, fbank_padding_mask)
            raw = self.frontend.proj(targets)
            x = self.feature_norm(raw)
        else:
            raw, padding_mask = self.frontend(fbank, fbank_padding_mask)
            if self.feature_grad_mult != 1.0:
                raw = GradMultiply.apply(raw, self.feature_grad_mult)
            x = targets = self.feature_norm(raw)
            if self.fbank_targets is not None:
                targets = self.fbank_targets(stack_frames(fbank, fbank_padding_mask, 4)[0])
        l2 = raw.float().pow(2).mean(-1).masked_fill(padding_mask, 0.0).sum() \
            / (~padding_mask).sum().clamp(min=1)
        return SpeechFeatures(targets, self.feature_dropout(x), padding_mask, l2)

    def speech_stack(self, fbank: torch.Tensor, fbank_padding_mask: torch.Tensor,
                     mask: SpeechMask = None) -> MSLAMSpeechOutput:
        """Front-end and speech encoder; masked frames get the mask embedding. ``mask``
        (B, T') marks subsampled frames, or is a function of the subsampled padding mask
        giving one. Returns the speech output without ``context``: the quantizer input,
        the padding mask (B, T'), the mask (B, T') or None, the speech-encoder output
        (B, T', D) and the front-end's mean square."""
        f = self.speech_features(fbank, fbank_padding_mask)
        x, padding_mask = f.x, f.padding_mask
        if callable(mask):
            mask = mask(padding_mask)
        if mask is not None:
            if not hasattr(self, MASK_EMBEDDING):
                raise ValueError("this encoder has no mask embedding (built with masking=False)")
            assert mask.shape == padding_mask.shape, (
                f"mask must be (B, T') = {tuple(padding_mask.shape)}, got {tuple(mask.shape)}")
            x = torch.where(mask[..., None], self.mask_embedding.to(x.dtype), x)
        return MSLAMSpeechOutput(f.targets, padding_mask, mask,
                                 self.speech_encoder(x, padding_mask), None, None,
                                 frontend_l2=f.frontend_l2)

    def encode_speech(self, fbank: torch.Tensor, fbank_padding_mask: torch.Tensor,
                      mask: SpeechMask = None) -> MSLAMSpeechOutput:
        """``fbank`` (B, T, F), ``fbank_padding_mask`` (B, T) True at padding -> speech-
        encoder (``contrastive``) and multimodal-encoder (``context``) output, (B, T', D)
        each, T' = T / 4; ``quantized`` is None (the quantizer is pre-training's)."""
        out = self.speech_stack(fbank, fbank_padding_mask, mask)
        out.context = self.multimodal_encoder(out.contrastive, out.padding_mask)
        return out

    def speech_layer_outputs(self, fbank: torch.Tensor, fbank_padding_mask: torch.Tensor
                             ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Unmasked speech through the whole encoder, keeping every depth: the front-end
        output (after the feature norm), then each speech-encoder and each multimodal
        layer's output, (B, T', D) each (1 + N + M of them), and the padding mask
        (B, T'). For representation probes (:mod:`mslam_plugin.scoring.ctc_probe`)."""
        f = self.speech_features(fbank, fbank_padding_mask)
        x, padding_mask = f.x, f.padding_mask
        speech = self.speech_encoder.layer_outputs(x, padding_mask)
        multimodal = self.multimodal_encoder.layer_outputs(speech[-1] if speech else x,
                                                           padding_mask)
        return [x, *speech, *multimodal], padding_mask

    def encode_text(self, tokens: torch.Tensor) -> MSLAMTextOutput:
        """``tokens`` (B, U) character ids right-padded with the dictionary's pad ->
        multimodal-encoder output (B, U, D)."""
        x, padding_mask = self.text_embedding(tokens)
        return MSLAMTextOutput(self.multimodal_encoder(x, padding_mask), padding_mask)

    def encode_paired(self, fbank: torch.Tensor, fbank_padding_mask: torch.Tensor,
                      tokens: torch.Tensor, mask: SpeechMask = None) -> MSLAMPairedOutput:
        """Speech (B, T, F) + transcript (B, U) (TLM / CTC): the speech-encoder output and
        the text embeddings, packed per item along time, share one multimodal-encoder
        pass; each half comes back in its own (B, T', D) / (B, U, D) layout."""
        speech = self.speech_stack(fbank, fbank_padding_mask, mask)
        text, text_padding_mask = self.text_embedding(tokens)
        packed = pack_pair(speech.contrastive, speech.padding_mask, text, text_padding_mask)
        speech.context, text_ctx = packed.split(
            self.multimodal_encoder(packed.x, packed.padding_mask))
        return MSLAMPairedOutput(speech, MSLAMTextOutput(text_ctx, text_padding_mask))

    def load_encoder_state(self, state: dict, source: str) -> int:
        """Copy the encoder tensors of ``state`` (keys as in :data:`ENCODER_PARTS`; see
        :func:`~mslam_plugin.models.pretrained.encoder_state`) into this encoder, which
        must match them all in name and shape. Returns the number of tensors copied."""
        from ..checkpoints import CheckpointError

        own = {k: v for k, v in self.state_dict().items() if k.startswith(ENCODER_PARTS)}
        body = {k: v for k, v in state.items() if k.startswith(ENCODER_PARTS)}
        wrong = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in body.items()
                 if k in own and v.shape != own[k].shape]
        if wrong:
            k, theirs, ours = wrong[0]
            raise CheckpointError(
                f"{source}: {len(wrong)} encoder tensors differ in shape from this model's "
                f"(e.g. {k}: {theirs} in the checkpoint, {ours} here); was it pre-trained "
                "with another --arch or character vocabulary?")
        missing, unexpected = sorted(set(own) - set(body)), sorted(set(body) - set(own))
        if missing or unexpected:
            raise CheckpointError(f"{source}: not an mSLAM checkpoint of this architecture "
                                  f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
        with torch.no_grad():
            for k, v in body.items():
                own[k].copy_(v)
        return len(body)

    # ------------------------------------------------------------------ public API
    @classmethod
    def from_checkpoint(cls, path, char_vocab=None, features: Optional[str] = None,
                        device: Union[str, torch.device] = "cpu") -> "MSLAMEncoder":
        """The encoder of an ``mslam``, ``mslam_st`` or ``mslam_transducer`` checkpoint,
        in eval mode. ``char_vocab`` (the character vocabulary, ``dict.char.txt``) is
        needed by :meth:`embed_text` only; by default the one the checkpoint's task
        named, where it still exists. ``features``: ``fbank`` or ``w2vbert2``, by default
        the checkpoint's task's (w2vbert2 for a stacking front-end)."""
        from .pretrained import PretrainedEncoder

        return PretrainedEncoder.read(path, char_vocab, features).build().to(device).eval()

    @torch.no_grad()
    def embed_speech(self, waveform, sample_rate: int) -> MSLAMEmbedding:
        """``waveform`` (N,) or (C, N) samples at ``sample_rate`` (mixed down to mono and
        resampled to 16 kHz as needed) -> multimodal-encoder output ``frames`` (T', D)
        and their mean ``pooled`` (D,)."""
        from ..data.sources import waveform_features

        feats = waveform_features(waveform, sample_rate, self.speech_input)
        weight = self.text_embedding.embed.weight
        device = weight.device
        out = self.encode_speech(feats[None].to(device, weight.dtype),
                                 torch.zeros(1, len(feats), dtype=torch.bool, device=device))
        return MSLAMEmbedding(out.context[0], out.context[0].mean(0))

    @torch.no_grad()
    def embed_text(self, text: str) -> MSLAMEmbedding:
        """``text`` -> multimodal-encoder output ``frames`` (U, D), one a character of the
        vocabulary's normalised form, and their mean ``pooled`` (D,)."""
        from ..data.char_vocab import encode

        if self.char_dictionary is None:
            raise ValueError("embed_text needs the character vocabulary: "
                             "MSLAMEncoder.from_checkpoint(path, char_vocab='dict.char.txt')")
        ids = encode(self.char_dictionary, text)
        if not ids:
            raise ValueError(f"no characters to embed in {text!r}")
        tokens = torch.tensor([ids], device=self.text_embedding.embed.weight.device)
        out = self.encode_text(tokens)
        return MSLAMEmbedding(out.context[0], out.context[0].mean(0))


def block_args(cfg) -> dict:
    """Conformer-layer arguments from the model config."""
    return dict(dim=cfg.encoder_embed_dim, ffn_dim=cfg.encoder_ffn_embed_dim,
                heads=cfg.encoder_attention_heads, conv_kernel_size=cfg.conv_kernel_size,
                dropout=cfg.dropout, attention_dropout=cfg.attention_dropout,
                pos=cfg.pos_scheme, conv_norm=cfg.conv_norm,
                conv_norm_groups=cfg.conv_norm_groups, conv_bias=not cfg.conv_no_bias,
                conv_causal=cfg.conv_causal, shaw_left=cfg.shaw_max_left,
                shaw_right=cfg.shaw_max_right, checkpoint_activations=cfg.checkpoint_activations)
