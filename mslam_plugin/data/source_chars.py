"""Source transcripts as character targets in speech-translation batches, for the
auxiliary CTC loss of ST fine-tuning (ESPnet ST's ``asr_weight``; here fairseq's
``label_smoothed_cross_entropy_with_ctc`` criterion).

A batch of fairseq's speech_to_text dataset gains ``source_chars`` (B, U) long, padded
with the character dictionary's pad, and ``source_char_lengths`` (B,), in the batch's own
(length-sorted) order. The characters are those of the pre-training vocabulary
(``dict.char.txt``), so the pre-training's CTC head reads them unchanged.
"""

from __future__ import annotations

import logging

import torch
from fairseq.data import BaseWrapperDataset, Dictionary, data_utils
from fairseq.data.audio.speech_to_text_dataset import (SpeechToTextDataset,
                                                       SpeechToTextMultitaskDataset)

from .char_vocab import encode
from .s2t_audio import SpeechToTextDatasetWithAudioFiles, reads_audio_files

logger = logging.getLogger(__name__)


class SpeechToTextDatasetWithSourceChars(SpeechToTextDatasetWithAudioFiles):
    """A speech_to_text dataset (audio files or stored features) whose items and batches
    carry the source transcript as characters; built by :func:`with_source_chars`."""

    char_dictionary: Dictionary
    source_chars: list  # one (U,) long tensor per row, encoded once by with_source_chars

    def __getitem__(self, index):
        item = super().__getitem__(index)
        if item is not None:  # None: skipped when read (--skip-invalid)
            item.source_chars = self.source_chars[index]
        return item

    def collater(self, samples, return_order=False):
        samples = [s for s in samples if s is not None]
        out = super().collater(samples, return_order=True)
        if not samples:
            return out
        order = out["order"] if return_order else out.pop("order")
        chars = [samples[j].source_chars for j in order.tolist()]
        out["source_chars"] = data_utils.collate_tokens(chars, self.char_dictionary.pad())
        out["source_char_lengths"] = torch.tensor([len(c) for c in chars], dtype=torch.long)
        return out


def with_source_chars(dataset, char_dictionary: Dictionary, max_chars: int = 512):
    """The same dataset (same state, same audio reading) whose batches carry the source
    transcripts as characters; the splits of a ConcatDataset and the dataset under a
    resampling wrapper are wrapped in place. Every row must have a transcript."""
    if isinstance(dataset, BaseWrapperDataset):
        dataset.dataset = with_source_chars(dataset.dataset, char_dictionary, max_chars)
        return dataset
    if hasattr(dataset, "datasets") and not isinstance(dataset, SpeechToTextDataset):
        dataset.datasets = [with_source_chars(d, char_dictionary, max_chars)
                            for d in dataset.datasets]
        return dataset
    if isinstance(dataset, SpeechToTextMultitaskDataset):
        raise ValueError(f"split {dataset.split!r}: the source CTC loss does not combine with "
                         "a multitask data config; drop one of the two")
    if not isinstance(dataset, SpeechToTextDataset):
        raise TypeError(f"source characters need a speech_to_text dataset, not "
                        f"{type(dataset).__name__}")
    texts = dataset.src_texts or [""] * len(dataset)
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        lines = ", ".join(str(i + 2) for i in empty[:5])  # line 1 is the header
        raise ValueError(f"{dataset.split}.tsv, line {lines}: empty src_text ({len(empty)} rows); "
                         "the source CTC loss needs the transcript of every utterance")
    long = sum(len(t) > max_chars for t in texts)
    if long:
        logger.warning("%s: %d source transcripts longer than %d characters are cut there "
                       "for the CTC loss (--max-source-chars)", dataset.split, long, max_chars)
    new = SpeechToTextDatasetWithSourceChars.__new__(SpeechToTextDatasetWithSourceChars)
    new.__dict__.update(reads_audio_files(dataset).__dict__)
    new.char_dictionary = char_dictionary
    new.source_chars = [torch.tensor(encode(char_dictionary, t)[:max_chars], dtype=torch.long)
                        for t in texts]
    return new
