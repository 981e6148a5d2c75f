"""Task ``mslam_pretraining``: joint speech-text pre-training on speech-only, text-only
and paired manifests (mSLAM section 3.2), every batch mixing the three kinds.

    fairseq-train DATA --user-dir mslam_plugin --task mslam_pretraining \
        --arch mslam_tiny --criterion mslam_pretraining ...

DATA holds ``speech_<split>.tsv``, ``text_<split>.tsv``, ``paired_<split>.tsv`` and the
character vocabulary ``dict.char.txt`` (formats: manifests/README.md).
"""

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from fairseq.data import iterators
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II

from ..data.char_vocab import load_char_dictionary
from ..data.mixed_dataset import KINDS, MSLAMMixedDataset
from ..data.item_source import ItemSource
from ..data.sources import SPEECH_FEATURES
from .common import (FBANK_ON_DEVICE_HELP, MIN_VARIATION, DeviceFeaturesMixin,
                     EncoderSensitivityMixin, loader_features)

logger = logging.getLogger(__name__)


@dataclass
class MSLAMPretrainingConfig(FairseqDataclass):
    data: str = field(default="???", metadata={"help": "directory with the manifests and dict.char.txt"})
    char_dict: str = field(default="dict.char.txt", metadata={"help": "character vocabulary, relative to data"})
    speech_sequences: int = field(default=8, metadata={"help": "speech-only sequences per batch (paper 2048 : 8192 : 256)"})
    text_sequences: int = field(default=32, metadata={"help": "text-only sequences per batch"})
    paired_sequences: int = field(default=1, metadata={"help": "paired sequences per batch"})
    max_speech_frames_per_batch: int = field(default=24000, metadata={"help": "speech-only budget in 10 ms frames"})
    max_text_chars_per_batch: int = field(default=16384, metadata={"help": "text-only budget in characters"})
    max_paired_frames_per_batch: int = field(default=6000, metadata={"help": "paired budget in 10 ms frames"})
    max_speech_frames: int = field(default=3000, metadata={"help": "longer utterances are filtered (counted in the log)"})
    max_text_chars: int = field(default=512, metadata={"help": "texts are capped at this many characters"})
    language_temperature: float = field(default=3.0, metadata={"help": "T of p_l ~ (n_l/N)^(1/T) within each kind"})
    batches_per_epoch: int = field(default=0, metadata={"help": "mixed batches per epoch (0: one pass over the speech-only data)"})
    speech_mask_prob: float = field(default=0.065, metadata={"help": "w2v-BERT mask start probability per frame"})
    speech_mask_span: int = field(default=10, metadata={"help": "w2v-BERT mask span in subsampled frames"})
    text_mask_rate: float = field(default=0.15, metadata={"help": "share of characters masked (SpanBERT)"})
    text_mean_span_length: float = field(default=20.0, metadata={"help": "mean masked span length in characters"})
    tlm_text_mask_rate: float = field(default=0.5, metadata={"help": "TLM: share of the text half masked"})
    tlm_speech_mask_rate: float = field(default=0.75, metadata={"help": "TLM: share of the speech half masked"})
    skip_invalid: bool = field(default=False, metadata={"help": "skip and count bad manifest rows instead of stopping"})
    min_encoder_variation: float = field(default=MIN_VARIATION, metadata={"help": "warn when the multimodal encoder output's variation over time on the validation speech (enc_variation) falls below this"})
    speech_features: ChoiceEnum(SPEECH_FEATURES) = field(default="fbank", metadata={"help": "fbank: utterance-normalised Kaldi filterbanks; w2vbert2: the features of the public w2v-BERT 2.0 encoder (for models converted from it)"})
    fbank_on_device: bool = field(default=False, metadata={"help": FBANK_ON_DEVICE_HELP})
    seed: int = II("common.seed")


@register_task("mslam_pretraining", dataclass=MSLAMPretrainingConfig)
class MSLAMPretrainingTask(DeviceFeaturesMixin, EncoderSensitivityMixin, FairseqTask):
    cfg: MSLAMPretrainingConfig

    def __init__(self, cfg: MSLAMPretrainingConfig, dictionary):
        super().__init__(cfg)
        self.dictionary = dictionary

    @classmethod
    def setup_task(cls, cfg: MSLAMPretrainingConfig, **kwargs):
        path = Path(cfg.data) / cfg.char_dict
        if not path.is_file():
            raise FileNotFoundError(f"{path}: character vocabulary not found "
                                    "(build it with manifests/build_char_vocab.py)")
        dictionary = load_char_dictionary(path)
        logger.info("character vocabulary: %d symbols from %s", len(dictionary), path)
        return cls(cfg, dictionary)

    @property
    def source_dictionary(self):
        return self.dictionary

    @property
    def target_dictionary(self):
        return self.dictionary

    def _source(self, kind: str, split: str):
        path = Path(self.cfg.data) / f"{kind}_{split}.tsv"
        if getattr(self.cfg, f"{kind}_sequences") <= 0:
            return None
        if not path.is_file() and path.with_suffix(".list").is_file():
            path = path.with_suffix(".list")  # shards, one manifest per line
        if not path.is_file():
            logger.warning("%s not found: batches of split %s hold no %s data", path, split, kind)
            return None
        return ItemSource(path, kind, self.dictionary, skip_invalid=self.cfg.skip_invalid,
                          max_frames=self.cfg.max_speech_frames, max_chars=self.cfg.max_text_chars,
                          features=loader_features(self.cfg))

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs):
        cfg = self.cfg
        sources = {kind: self._source(kind, split) for kind in KINDS}
        if all(s is None for s in sources.values()):
            raise FileNotFoundError(f"{cfg.data}: no speech_{split}.tsv, text_{split}.tsv or "
                                    f"paired_{split}.tsv")
        sequences = {k: getattr(cfg, f"{k}_sequences") for k in KINDS}
        budgets = {"speech": cfg.max_speech_frames_per_batch,
                   "text": cfg.max_text_chars_per_batch,
                   "paired": cfg.max_paired_frames_per_batch}
        # fairseq loads the training split with combine=True, validation splits without:
        # validation always takes one pass over its data
        num_batches = cfg.batches_per_epoch if combine else 0
        if num_batches <= 0:
            lead = next(k for k in KINDS if sources[k] is not None)
            num_batches = math.ceil(len(sources[lead]) / sequences[lead])
        self.datasets[split] = MSLAMMixedDataset(
            sources, sequences, budgets, num_batches, self.dictionary, seed=cfg.seed,
            temperature=cfg.language_temperature, name=split)
        logger.info("%s: %d mixed batches of %s sequences (speech : text : paired)", split,
                    num_batches, " : ".join(str(sequences[k]) for k in KINDS))

    def get_batch_iterator(self, dataset, max_tokens=None, max_sentences=None,
                           max_positions=None, ignore_invalid_inputs=False,
                           required_batch_size_multiple=1, seed=1, num_shards=1, shard_id=0,
                           num_workers=0, epoch=1, data_buffer_size=0,
                           disable_iterator_cache=False, skip_remainder_batch=False,
                           grouped_shuffling=False, update_epoch_batch_itr=False, **kwargs):
        """One dataset index is one mixed batch: fairseq's size-based batching is bypassed,
        its sharding over ranks, workers, shuffling and resumable state are kept."""
        if not isinstance(dataset, MSLAMMixedDataset):
            return super().get_batch_iterator(
                dataset, max_tokens, max_sentences, max_positions, ignore_invalid_inputs,
                required_batch_size_multiple, seed, num_shards, shard_id, num_workers, epoch,
                data_buffer_size, disable_iterator_cache, skip_remainder_batch,
                grouped_shuffling, update_epoch_batch_itr)
        dataset.set_epoch(epoch)
        batches = [[i] for i in range(len(dataset))]
        if skip_remainder_batch and num_shards > 1:
            batches = batches[: len(batches) // num_shards * num_shards]
        return iterators.EpochBatchIterator(
            dataset=dataset, collate_fn=dataset.collater, batch_sampler=batches, seed=seed,
            num_shards=num_shards, shard_id=shard_id, num_workers=num_workers, epoch=epoch,
            buffer_size=data_buffer_size, skip_remainder_batch=skip_remainder_batch)

    def encoder_output(self, model, sample):
        """The multimodal encoder's output on the batch's unmasked speech-only part."""
        if "speech" not in sample:
            return None
        speech = sample["speech"]
        out = model.forward_speech(speech["fbank"], speech["fbank_padding_mask"], quantize=False)
        return out.context, out.padding_mask

    def max_positions(self):
        return None
