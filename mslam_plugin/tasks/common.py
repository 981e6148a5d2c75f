"""Helpers shared by the fine-tuning tasks."""

import logging
from pathlib import Path

import torch
from fairseq import metrics

from ..data.sources import WAVEFORM, device_fbank
from ..modules.sensitivity import input_sensitivity

logger = logging.getLogger(__name__)


def keep_every_example(task, dataset, kwargs: dict) -> dict:
    """fairseq 0.12's batch_by_size drops the last batch when its size is not a multiple
    of --required-batch-size-multiple (default 8; fairseq issue #5036): fairseq-generate
    and validation would silently skip up to 7 utterances, and training would never see
    the shortest ones (the last batch of the length-sorted order). Our tasks batch with a
    multiple of 1, so every example is used."""
    multiple = kwargs.get("required_batch_size_multiple", 1)
    if multiple != 1:
        if not getattr(task, "_told_batch_multiple", False):
            logger.info("--required-batch-size-multiple %d -> 1: fairseq would drop the last "
                        "batch of every split otherwise", multiple)
            task._told_batch_multiple = True
        kwargs = dict(kwargs, required_batch_size_multiple=1)
    return kwargs


def vocabulary_path(name: str, data: str) -> Path:
    """Where a vocabulary option points: a bare file name lives in the data directory
    (never the working directory, where a stray file of that name would silently replace
    the model's); a path with a directory part is used as given."""
    path = Path(name)
    return path if path.is_absolute() or len(path.parts) > 1 else Path(data) / path


def restoring_without_pretraining_file(cfg, from_checkpoint: bool) -> None:
    """A fine-tuned checkpoint being loaded (decoding, ``from_checkpoint``) holds every
    weight: its model is built without re-reading the pre-training checkpoint it started
    from, which may have moved or been replaced since."""
    if from_checkpoint and getattr(cfg, "load_pretrained_mslam_from", ""):
        logger.info("loading a fine-tuned checkpoint: its pre-training file %s is not read",
                    cfg.load_pretrained_mslam_from)
        cfg.load_pretrained_mslam_from = ""


FBANK_ON_DEVICE_HELP = ("compute the filterbanks on the training device (the GPU) from "
                        "batched waveforms, so loader workers only decode audio; the same "
                        "features as the CPU path (speech_features fbank only)")


def loader_features(cfg) -> str:
    """What the task's loaders produce: ``cfg.speech_features``, or waveforms for
    ``--fbank-on-device`` (turned into filterbanks by :class:`DeviceFeaturesMixin`)."""
    if not getattr(cfg, "fbank_on_device", False):
        return cfg.speech_features
    if cfg.speech_features != "fbank":
        raise ValueError(f"--fbank-on-device computes `fbank` features, but "
                         f"--speech-features is {cfg.speech_features!r}")
    return WAVEFORM


class DeviceFeaturesMixin:
    """For a fairseq task whose loader may hand over waveforms (``--fbank-on-device``):
    every batch's waveforms become filterbanks on the batch's device before the model,
    the criterion or a generator sees it (fairseq has moved the batch there by then)."""

    def train_step(self, sample, model, *args, **kwargs):
        return super().train_step(device_fbank(sample, _dtype(model)), model, *args, **kwargs)

    def valid_step(self, sample, model, *args, **kwargs):
        return super().valid_step(device_fbank(sample, _dtype(model)), model, *args, **kwargs)

    def inference_step(self, generator, models, sample, *args, **kwargs):
        sample = device_fbank(sample, _dtype(models[0]))
        return super().inference_step(generator, models, sample, *args, **kwargs)


def _dtype(model) -> torch.dtype:
    """The floating dtype of ``model``'s parameters (bf16 / fp16 under fairseq's --bf16 /
    --fp16), float32 for a model without parameters."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


# Encoder input sensitivity on validation batches (mslam_plugin/modules/sensitivity.py).
MIN_VARIATION = 0.05  # see docs/learning_curves.md for what healthy encoders keep


class EncoderSensitivityMixin:
    """For a fairseq task: logs the encoder's input sensitivity on every validation batch
    and warns at collapse. The task defines :meth:`encoder_output` and a
    ``min_encoder_variation`` option."""

    def encoder_output(self, model, sample):
        """(x (B, T, D), padding_mask (B, T)) of the model's encoder on ``sample``, or None."""
        raise NotImplementedError

    def valid_step(self, sample, model, criterion):
        loss, sample_size, log = super().valid_step(sample, model, criterion)
        with torch.no_grad():
            out = self.encoder_output(model, sample)
        if out is not None:
            log.update(sensitivity_log(*out))
        return loss, sample_size, log

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        options = getattr(self, "cfg", None) or self.args
        reduce_sensitivity(logging_outputs, getattr(options, "min_encoder_variation", MIN_VARIATION))


def sensitivity_log(x, padding_mask) -> dict:
    """Logging-output entries for encoder output ``x`` (B, T, D) with ``padding_mask``
    (B, T); both figures count only for batches of two or more utterances (one alone has
    no mean frame of the data to be centred on, nor a pair to compare)."""
    s = input_sensitivity(x, padding_mask)
    many = int(x.size(0) > 1)
    return {"enc_variation": s.variation * many, "n_enc_variation": many,
            "enc_pooled_cos": s.pooled_cos * many, "n_enc_pooled_cos": many}


_warned = {"pass": None}


def reduce_sensitivity(logging_outputs, min_variation: float) -> None:
    """Logs ``enc_variation`` and ``enc_pooled_cos`` (validation only) and warns when the
    encoder output has stopped depending on its input."""
    total = lambda key: sum(float(log.get(key, 0)) for log in logging_outputs)
    n = total("n_enc_variation")
    if not n:
        return
    variation = total("enc_variation") / n
    metrics.log_scalar("enc_variation", variation, n, round=4)
    n_cos = total("n_enc_pooled_cos")
    if n_cos:
        metrics.log_scalar("enc_pooled_cos", total("enc_pooled_cos") / n_cos, n_cos, round=5)
    # fairseq reduces every validation batch on its own: warn once per validation pass
    # (a validation pass is the root of its own aggregator stack), from its first batch
    passes = metrics.get_active_aggregators()
    current = id(passes[0]) if passes else None
    if variation < min_variation and current != _warned["pass"]:
        _warned["pass"] = current
        logger.warning("encoder output varies little with its input (enc_variation %.4f < "
                       "%.2f): it is collapsing toward one vector. In fine-tuning, freeze the "
                       "encoder while the fresh decoder learns to read it "
                       "(--encoder-freeze-updates; docs/learning_curves.md)",
                       variation, min_variation)
