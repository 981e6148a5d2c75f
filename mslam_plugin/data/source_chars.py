"""Source transcripts as character targets in speech-translation batches, for the
auxiliary CTC loss of ST fine-tuning (ESPnet ST's ``asr_weight``; here fairseq's
``label_smoothed_cross_entropy_with_ctc`` criterion).

A batch of fairseq's speech_to_text dataset gains ``source_chars`` (B, U) long, padded
with the character dictionary's pad, and ``source_char_lengths`` (B,), in the batch's own
(length-sorted) order. The characters are those of the pre-training vocabulary
(``dict.char.txt``), so the pre-training's CTC head reads them unchanged.
"""

from __future__ import annotations

import torch
from fairseq.data import Dictionary, data_utils
from fairseq.data.audio.speech_to_text_dataset import SpeechToTextDataset

from .char_vocab import encode


class _WithSourceChars:
    """Mixin over a SpeechToTextDataset that holds ``char_dictionary`` and ``max_chars``."""

    def __getitem__(self, index):
        item = super().__getitem__(index)
        text = self.src_texts[index] if self.src_texts is not None else ""
        if not text:
            raise ValueError(f"{self.split}.tsv, line {index + 2}: empty src_text; the "
                             "source CTC loss needs the transcript of every utterance")
        ids = encode(self.char_dictionary, text)[: self.max_chars]
        item.source_chars = torch.tensor(ids, dtype=torch.long)
        return item

    def collater(self, samples, return_order=False):
        out = super().collater(samples, return_order=return_order)
        if not samples:
            return out
        by_index = {}
        for s in samples:
            if s.index in by_index:  # two sub-datasets of a ConcatDataset share an index
                raise ValueError(f"split {self.split!r}: index {s.index} twice in one batch; "
                                 "the source CTC loss reads one split at a time")
            by_index[s.index] = s.source_chars
        chars = [by_index[int(i)] for i in out["id"]]
        out["source_chars"] = data_utils.collate_tokens(chars, self.char_dictionary.pad())
        out["source_char_lengths"] = torch.tensor([len(c) for c in chars], dtype=torch.long)
        return out


def with_source_chars(dataset, char_dictionary: Dictionary, max_chars: int = 512):
    """The same dataset (same state, same audio reading) whose batches carry the source
    transcripts as characters; ConcatDatasets of several splits are wrapped per split."""
    if hasattr(dataset, "datasets") and not isinstance(dataset, SpeechToTextDataset):
        dataset.datasets = [with_source_chars(d, char_dictionary, max_chars)
                            for d in dataset.datasets]
        return dataset
    if not isinstance(dataset, SpeechToTextDataset):
        raise TypeError(f"source characters need a speech_to_text dataset, not "
                        f"{type(dataset).__name__}")
    if dataset.src_texts is None or not any(dataset.src_texts):
        raise ValueError(f"split {dataset.split!r}: the manifest has no src_text column; the "
                         "source CTC loss needs the transcripts")
    cls = type(f"{type(dataset).__name__}WithSourceChars", (_WithSourceChars, type(dataset)), {})
    new = cls.__new__(cls)
    new.__dict__.update(dataset.__dict__)
    new.char_dictionary, new.max_chars = char_dictionary, max_chars
    return new
