"""Pre-training model ``mslam`` (Bapna et al., 2022, section 3.1): the mSLAM encoder
(:class:`~mslam_plugin.models.encoder.MSLAMEncoder`) plus the objectives' heads: the
w2v-BERT quantizer (wav2vec 2.0's Gumbel-softmax quantizer with one group of 1024 codes,
as w2v-BERT uses), contrastive projections, masked code prediction, text MLM and CTC
(characters + blank) on the multimodal output. The model *is* the encoder (a subclass),
so its checkpoints keep the encoder's keys at the top level.
"""

import torch
from fairseq.models import BaseFairseqModel, register_model, register_model_architecture
from fairseq.modules import GumbelVectorQuantizer
from torch import nn

from . import config
from .config import MSLAMConfig
from .encoder import ENCODER_PARTS, MASK_EMBEDDING, MSLAMEncoder
from .outputs import MSLAMPairedOutput, MSLAMQuantized, MSLAMSpeechOutput, MSLAMTextOutput

# what fine-tuning's encoder learning-rate group holds: the encoder body and mask embedding
ENCODER_GROUP = ENCODER_PARTS + (MASK_EMBEDDING,)


def quantizer_dim(cfg) -> int:
    """What the quantizer sees (``speech_quantizer_input``): the front-end output (D), the
    stack front-end's 2 normalised frames (2F) or 4 stacked filterbank frames (4F)."""
    frames = {"stacked": 2, "fbank": 4}.get(cfg.speech_quantizer_input)
    return frames * cfg.input_feat_per_channel if frames else cfg.encoder_embed_dim


@register_model("mslam", dataclass=MSLAMConfig)
class MSLAMModel(MSLAMEncoder, BaseFairseqModel):
    """Typed forward per input kind: :meth:`forward_speech`, :meth:`forward_text`,
    :meth:`forward_paired` (the encoder's, with the quantizer's targets added); heads are
    applied by the criterion to the positions it needs."""

    def __init__(self, cfg: MSLAMConfig, vocab_size: int, padding_idx: int):
        super().__init__(cfg, vocab_size, padding_idx, masking=True)
        self.cfg = cfg
        d = cfg.encoder_embed_dim
        self.quantizer = GumbelVectorQuantizer(
            dim=quantizer_dim(cfg),
            num_vars=cfg.codebook_size, temp=tuple(cfg.quantizer_temp), groups=1,
            combine_groups=False, vq_dim=cfg.codebook_dim, time_first=True)
        self.contrastive_proj = nn.Linear(d, cfg.contrastive_dim)
        self.quantized_proj = nn.Linear(cfg.codebook_dim, cfg.contrastive_dim)
        self.code_head = nn.Linear(d, cfg.codebook_size)
        self.text_head = nn.Linear(d, vocab_size)
        self.ctc_head = nn.Linear(d, vocab_size)
        # for --optimizer mslam_adam: the encoder body and the objectives' heads (quantizer
        # included) can get their own schedules (--encoder-freeze-updates lets fresh heads
        # learn to read the encoder before it moves; docs/learning_curves.md)
        for name, p in self.named_parameters():
            p.param_group = "encoder" if name.startswith(ENCODER_GROUP) else "decoder"

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
        out = self.quantizer(frames[None], produce_targets=True)
        quantized = features.new_zeros(*features.shape[:2], self.cfg.codebook_dim)
        quantized[valid] = out["x"][0].to(quantized.dtype)
        with torch.no_grad():  # the quantizer's projection again, on the same frames
            logits = self.quantizer.weight_proj(frames)
        code_ids = torch.full(features.shape[:2], -1, dtype=torch.long, device=features.device)
        code_ids[valid] = logits.view(len(frames), self.quantizer.groups, -1).argmax(-1)[:, 0]
        sample_ids = torch.full_like(code_ids, -1)
        sample_ids[valid] = out["targets"][0, :, 0]
        return MSLAMQuantized(quantized, code_ids, sample_ids, out["code_perplexity"],
                              out["prob_perplexity"], out["num_vars"], out["temp"])

    def forward_speech(self, fbank, fbank_padding_mask, mask=None, quantize=True
                       ) -> MSLAMSpeechOutput:
        """``fbank`` (B, T, F), ``fbank_padding_mask`` (B, T); ``mask`` (B, T') marks
        subsampled frames to mask (T' = frames after the front-end), or is a function
        of the subsampled padding mask returning such a mask. Outputs (B, T', D)."""
        out = self.encode_speech(fbank, fbank_padding_mask, mask)
        if quantize:
            out.quantized = self.quantize(out.features, out.padding_mask)
        return out

    def ctc_logits(self, context: torch.Tensor) -> torch.Tensor:
        """The CTC head on multimodal-encoder output ``context`` (B, T', D): (B, T', V).
        The blind control (``blind_encoder``) gives it zeros."""
        if getattr(self.cfg, "blind_encoder", False):
            context = torch.zeros_like(context)
        return self.ctc_head(context)

    def forward_text(self, tokens) -> MSLAMTextOutput:
        """``tokens`` (B, U) character ids right-padded with the dictionary's pad ->
        context (B, U, D)."""
        return self.encode_text(tokens)

    def forward_paired(self, fbank, fbank_padding_mask, tokens, mask=None, quantize=True
                       ) -> MSLAMPairedOutput:
        """Speech (B, T, F) + transcript (B, U) (TLM / CTC): the speech encoder output and
        the text embeddings, packed per item along time, share one multimodal-encoder
        pass."""
        out = self.encode_paired(fbank, fbank_padding_mask, tokens, mask)
        if quantize:
            out.speech.quantized = self.quantize(out.speech.features, out.speech.padding_mask)
        return out

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


@register_model_architecture("mslam", "mslam_tiny")
def mslam_tiny(args):
    """A few million parameters: tests and the CPU demo."""
    config.tiny(args)


@register_model_architecture("mslam", "mslam_base")
def mslam_base(args):
    """The paper's 0.6B model: D 1024, FFN 4096, 8 heads, 8 speech + 16 multimodal layers."""
    config.base(args)


@register_model_architecture("mslam", "mslam_large")
def mslam_large(args):
    """The paper's 2B model: D 1408, FFN 5632, 16 heads, 8 speech + 32 multimodal layers."""
    config.large(args)


@register_model_architecture("mslam", "mslam_w2vbert2")
def mslam_w2vbert2(args):
    """The public w2v-BERT 2.0 encoder's shape (see :func:`mslam_plugin.models.config.w2vbert2`)."""
    config.w2vbert2(args)
