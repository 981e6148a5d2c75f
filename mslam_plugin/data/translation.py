"""Text-source translation data for fine-tuning (mSLAM section 4.1).

:class:`TextTranslationDataset` reads a TSV with ``id, src_text, tgt_text, src_lang,
tgt_lang`` columns (an MT manifest, or an ST manifest that carries ``src_text``): the
source becomes character ids of the pre-training vocabulary, the target is tokenised
exactly as fairseq's speech_to_text dataset tokenises it (pre-tokenizer, BPE, target
dictionary, optional target-language tag). Batches look like speech_to_text batches with
``src_tokens`` of dtype long, so the same model, criterion and SequenceGenerator apply.

:class:`JointSpeechTextDataset` pairs every speech-translation example with one MT
example (a seeded permutation per epoch): every batch holds equal numbers of ST and MT
examples, as the paper's speech + text fine-tuning does.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from fairseq.data import FairseqDataset, data_utils

from . import manifest as mf
from .char_vocab import encode

logger = logging.getLogger(__name__)
LANG_TAG_TEMPLATE = "<lang:{}>"  # fairseq speech_to_text's target-language tag


class TextTranslationDataset(FairseqDataset):
    def __init__(self, path, char_dict, tgt_dict, *, pre_tokenizer=None, bpe_tokenizer=None,
                 prepend_tgt_lang_tag: bool = False, max_chars: int = 512,
                 skip_invalid: bool = False):
        m = mf.read_manifest(path, "mt", skip_invalid=skip_invalid)
        if not m.rows:
            raise ValueError(f"{path}: no usable rows")
        self.path, self.rows = path, m.rows
        self.char_dict, self.tgt_dict = char_dict, tgt_dict
        self.pre_tokenizer, self.bpe_tokenizer = pre_tokenizer, bpe_tokenizer
        self.prepend_tgt_lang_tag = prepend_tgt_lang_tag
        self.max_chars = max_chars
        encoded = [encode(char_dict, r["src_text"]) for r in self.rows]
        truncated = sum(1 for ids in encoded if len(ids) > max_chars)
        self.sources = [torch.tensor(ids[:max_chars], dtype=torch.long) for ids in encoded]
        self.src_lens = np.array([len(s) for s in self.sources], dtype=np.int64)
        self.targets = [self._target(r) for r in self.rows]  # tokenised once
        self.tgt_lens = np.array([len(t) for t in self.targets], dtype=np.int64)
        if truncated:
            logger.info("%s: %d source texts truncated to %d characters", path, truncated,
                        max_chars)
        unknown = sum(int((s == char_dict.unk()).sum()) for s in self.sources)
        if unknown:
            logger.warning("%s: %d source characters are outside the character vocabulary "
                           "(mapped to <unk>)", path, unknown)

    def _target(self, row) -> torch.Tensor:
        text = row["tgt_text"]
        for tok in (self.pre_tokenizer, self.bpe_tokenizer):
            if tok is not None:
                text = tok.encode(text)
        target = self.tgt_dict.encode_line(text, add_if_not_exist=False, append_eos=True).long()
        if self.prepend_tgt_lang_tag:
            tag = LANG_TAG_TEMPLATE.format(row["tgt_lang"])
            idx = self.tgt_dict.index(tag)
            if idx == self.tgt_dict.unk():
                raise ValueError(f"{self.path}: target dictionary lacks the language tag {tag}")
            target = torch.cat([torch.tensor([idx]), target])
        return target

    def __getitem__(self, index: int) -> dict:
        return {"id": index, "source": self.sources[index], "target": self.targets[index]}

    def __len__(self) -> int:
        return len(self.rows)

    def num_tokens(self, index: int) -> int:
        return int(self.src_lens[index])

    def size(self, index: int):
        return int(self.src_lens[index]), int(self.tgt_lens[index])

    @property
    def sizes(self):
        return self.src_lens

    def ordered_indices(self):
        return np.lexsort([np.arange(len(self)), -self.src_lens])

    def collater(self, samples: list[dict]) -> dict:
        if not samples:
            return {}
        src_lengths = torch.tensor([len(s["source"]) for s in samples])
        src_lengths, order = src_lengths.sort(descending=True)
        samples = [samples[i] for i in order.tolist()]
        pad, eos = self.tgt_dict.pad(), self.tgt_dict.eos()
        targets = [s["target"] for s in samples]
        return {
            "id": torch.tensor([s["id"] for s in samples]),
            "net_input": {
                "src_tokens": data_utils.collate_tokens([s["source"] for s in samples],
                                                        self.char_dict.pad()),
                "src_lengths": src_lengths,
                "prev_output_tokens": data_utils.collate_tokens(
                    targets, pad, eos, left_pad=False, move_eos_to_beginning=True),
            },
            "target": data_utils.collate_tokens(targets, pad, eos),
            "target_lengths": torch.tensor([len(t) for t in targets]),
            "ntokens": sum(len(t) for t in targets),
            "nsentences": len(samples),
        }


class JointSpeechTextDataset(FairseqDataset):
    """Speech-translation batches with as many MT examples riding along. Sizes, order and
    filtering are the speech dataset's; the MT partner of example ``i`` in an epoch is
    ``perm[i % len(mt)]`` with ``perm`` a permutation seeded by (seed, epoch)."""

    def __init__(self, st, mt: TextTranslationDataset, seed: int):
        self.st, self.mt, self.seed = st, mt, seed
        self.set_epoch(1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.mt_order = np.random.RandomState([self.seed, epoch]).permutation(len(self.mt))
        for ds in (self.st, self.mt):
            if hasattr(ds, "set_epoch"):
                ds.set_epoch(epoch)

    def mt_index(self, index: int) -> int:
        return int(self.mt_order[index % len(self.mt_order)])

    def __getitem__(self, index: int):
        return self.st[index], self.mt[self.mt_index(index)]

    def __len__(self) -> int:
        return len(self.st)

    def collater(self, samples) -> dict:
        st = self.st.collater([s for s, _ in samples]) if samples else {}
        if not st:  # no example, or every speech row skipped when read: no batch
            return {}
        return {"st": st, "mt": self.mt.collater([m for _, m in samples])}

    def num_tokens(self, index: int) -> int:
        return self.st.num_tokens(index)

    def size(self, index: int):
        return self.st.size(index)

    @property
    def sizes(self):
        return self.st.sizes

    def ordered_indices(self):
        return self.st.ordered_indices()

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        return False  # the MT partners change with the epoch
