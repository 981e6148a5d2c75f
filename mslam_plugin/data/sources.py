"""Loading and collating pre-training items (mSLAM section 3.2 data; the rows themselves
come from :mod:`mslam_plugin.data.item_source`).

Speech is read from the audio file and turned into 80-dim Kaldi filterbanks with
utterance-level mean/variance normalisation (``fbank``), or into the features of the
public w2v-BERT 2.0 encoder (``w2vbert2``, for models converted from it); text becomes
character ids of the shared vocabulary, capped at ``max_chars`` characters.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from . import manifest as mf
from .audio import SAMPLE_RATE, mono_16k
from .char_vocab import encode
from .fbank import batched_fbank, fbank_features, normalise_utterances
from .w2vbert2_features import w2vbert2_fbank

logger = logging.getLogger(__name__)
SPEECH_FEATURES = ("fbank", "w2vbert2")
# Not a user choice: with --fbank-on-device the loader hands over checked waveforms and the
# task computes ``fbank`` features on the batch's device (:func:`device_fbank`).
WAVEFORM = "waveform"


class AudioReadError(ValueError):
    """Audio that passed the start-up checks but fails when read, located as
    ``manifest:line: reason``; ``reason`` names the skip counter."""

    def __init__(self, where: str, message: str, reason: str):
        super().__init__(f"{where}: {message}")
        self.reason = reason


def read_audio(path: Path, where: str, n_frames: int | None = None) -> torch.Tensor:
    """Samples of a 16 kHz mono file, checked: decodable, finite, at least one filterbank
    frame long and, when ``n_frames`` is given, of about that many frames."""
    where = where or str(path)
    if not Path(path).is_file():
        raise AudioReadError(where, f"audio file not found: {path}", "audio_missing")
    try:
        wav, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioReadError(where, f"audio unreadable: {path} ({err})", "audio_undecodable") from None
    if rate != SAMPLE_RATE or wav.ndim != 1:
        raise AudioReadError(where, f"{path} must be 16 kHz mono", "audio_format")
    if not np.isfinite(wav).all():
        raise AudioReadError(where, f"{path} holds {int((~np.isfinite(wav)).sum())} non-finite "
                             "samples (NaN or Inf)", "audio_nonfinite")
    problem = mf.length_problem(path, len(wav), n_frames)
    if problem:
        raise AudioReadError(where, *problem)
    return torch.from_numpy(wav)


def load_fbank_raw(path: Path, where: str = "") -> torch.Tensor:
    """(T, 80) Kaldi filterbanks of a 16 kHz mono file."""
    return fbank_features(read_audio(path, where))


def load_fbank(path: Path, where: str, features: str = "fbank",
               n_frames: int | None = None) -> torch.Tensor:
    """(T, 80) utterance-normalised filterbanks of a 16 kHz mono file: ``fbank``, or
    ``w2vbert2`` (mslam_plugin.data.w2vbert2_features: T even); for ``waveform`` its
    checked samples (N,). Audio that cannot be used raises :class:`AudioReadError`
    located by ``where`` (``manifest:line``)."""
    if features == WAVEFORM:
        return read_audio(path, where, n_frames)
    _check_features(features)
    return features_of(read_audio(path, where, n_frames), features)


def _check_features(features: str) -> None:
    if features not in SPEECH_FEATURES:
        raise ValueError(f"`speech_features` must be one of {SPEECH_FEATURES}, but is "
                         f"{features!r} instead.")


def features_of(wav: torch.Tensor, features: str = "fbank") -> torch.Tensor:
    """Features (T, 80) of 16 kHz mono samples (N,), as the loaders give them:
    utterance-normalised filterbanks (``fbank``) or w2v-BERT 2.0's (``w2vbert2``)."""
    if features == "w2vbert2":
        return w2vbert2_fbank(wav)
    feats = fbank_features(wav)
    return (feats - feats.mean(0)) / feats.std(0).clamp(min=1e-5)


def waveform_features(waveform, sample_rate: int, features: str = "fbank") -> torch.Tensor:
    """:func:`features_of` any waveform (:func:`mono_16k` first)."""
    _check_features(features)
    return features_of(mono_16k(waveform, sample_rate), features)


UNK_WARN_SHARE = 0.01  # warn when more than 1% of a language's characters are <unk>


def report_unknown(path: Path, texts: list[str], langs: list[str], dictionary,
                   sample: int = 20000) -> dict[str, float]:
    """Share of characters mapped to ``<unk>`` per language, over an even sample of at most
    ``sample`` rows; logged for the manifest, with a warning per language above
    :data:`UNK_WARN_SHARE`. Returns language -> share."""
    step = max(1, len(texts) // sample)
    total: Counter = Counter()
    unknown: Counter = Counter()
    unk = dictionary.unk()
    for text, lang in zip(texts[::step], langs[::step]):
        ids = encode(dictionary, text)
        total[lang] += len(ids)
        unknown[lang] += sum(1 for i in ids if i == unk)
    share = {lang: unknown[lang] / total[lang] for lang in total if total[lang]}
    overall = sum(unknown.values()) / max(1, sum(total.values()))
    if overall:
        logger.info("%s: %.3f%% of characters are not in the vocabulary (<unk>)", path,
                    100 * overall)
    high = sorted(((v, lang) for lang, v in share.items() if v > UNK_WARN_SHARE), reverse=True)
    if high:  # one line, however many languages (a text corpus may have hundreds)
        worst = ", ".join(f"{lang} {100 * v:.1f}%" for v, lang in high[:10])
        logger.warning("%s: in %d language(s) more than %.0f%% of the characters are not in "
                       "the vocabulary and become <unk> (was the vocabulary built from this "
                       "data?): %s%s", path, len(high), 100 * UNK_WARN_SHARE, worst,
                       ", ..." if len(high) > 10 else "")
    return share


class ReadSkips:
    """Rows whose audio fails when read: raised as :class:`AudioReadError`, or with
    ``skip_invalid`` skipped (never read again) and counted by reason in the log."""

    def __init__(self, skip_invalid: bool):
        self.skip_invalid, self.bad, self.counts = skip_invalid, set(), Counter()

    def load(self, index: int, read):
        """``read()``, or None for a row skipped now or earlier."""
        if index in self.bad:
            return None
        try:
            return read()
        except AudioReadError as err:
            if not self.skip_invalid:
                raise
            self.bad.add(index)
            self.counts[err.reason] += 1
            logger.warning("%s: skipped (--skip-invalid; %d rows skipped when read so far: %s)",
                           err, sum(self.counts.values()), dict(self.counts))
            return None


def speech_key(features: str) -> str:
    """The item key of loaded speech: ``wav`` for waveforms, else ``fbank``."""
    return "wav" if features == WAVEFORM else "fbank"


def collate_speech(items: list[dict]) -> dict:
    """Padded speech of ``items``: ``fbank`` (B, T, F) with ``fbank_padding_mask`` (B, T),
    or, for waveform items, ``wav`` (B, N) with ``wav_lengths`` (B,)."""
    if "wav" in items[0]:  # int16 sample values: exact for 16-bit audio, half the bytes,
        # and untouched by fairseq's fp16 / bf16 cast of the batch
        lengths = torch.tensor([it["wav"].size(0) for it in items])
        wav = torch.zeros(len(items), int(lengths.max()), dtype=torch.int16)
        for i, it in enumerate(items):
            wav[i, : lengths[i]] = (it["wav"] * 32768.0).round().clamp(-32768, 32767).to(torch.int16)
        return {"wav": wav, "wav_lengths": lengths}
    lengths = torch.tensor([it["fbank"].size(0) for it in items])
    fbank = torch.zeros(len(items), int(lengths.max()), items[0]["fbank"].size(1))
    for i, it in enumerate(items):
        fbank[i, : lengths[i]] = it["fbank"]
    padding_mask = torch.arange(fbank.size(1))[None, :] >= lengths[:, None]
    return {"fbank": fbank, "fbank_padding_mask": padding_mask}


def device_fbank(sample, dtype: torch.dtype = torch.float32):
    """``sample`` with every collated waveform replaced by utterance-normalised filterbanks
    computed where the waveform lives (the GPU once fairseq has moved the batch there):
    ``wav`` / ``wav_lengths`` become ``fbank`` / ``fbank_padding_mask``, and an ASR batch's
    ``src_wav`` / ``src_wav_lengths`` become ``src_tokens`` / ``src_lengths`` (frames).
    Features are returned in ``dtype`` (the model's). Batches without waveforms are
    returned unchanged."""
    if not isinstance(sample, dict):
        return sample
    out = {}
    for key, value in sample.items():
        if key in ("wav", "src_wav"):
            lengths = sample[f"{key}_lengths"]
            feats, mask = batched_fbank(value, lengths)
            feats = normalise_utterances(feats, mask).to(dtype)
            if key == "wav":
                out.update(fbank=feats, fbank_padding_mask=mask)
            else:
                out.update(src_tokens=feats, src_lengths=(~mask).sum(1))
        elif key not in ("wav_lengths", "src_wav_lengths"):
            out[key] = device_fbank(value, dtype)
    return out


def collate_tokens(seqs: list[torch.Tensor], pad: int) -> torch.Tensor:
    out = torch.full((len(seqs), max(len(s) for s in seqs)), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out
