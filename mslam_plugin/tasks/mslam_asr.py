"""Transducer ASR fine-tuning from mSLAM (section 4.3): paired manifests (id, audio,
n_frames, tgt_text, speaker, src_lang) under the data directory, graphemes from
``--grapheme-vocab`` (manifests/build_grapheme_vocab.py), decoding by greedy or beam
search (``--rnnt-beam``, 4 by default; 1 is greedy) through fairseq-generate:

    fairseq-generate DATA --user-dir mslam_plugin --task mslam_asr --gen-subset paired_test \
        --path CKPT --post-process sentencepiece --scoring mslam_wer
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.tasks import FairseqTask, register_task
from omegaconf import MISSING

from ..data.asr_dataset import ASRDataset
from ..data.graphemes import load_grapheme_dictionary
from ..data.sources import SPEECH_FEATURES
from ..rnnt_decoding import RNNTGenerator
from .common import (FBANK_ON_DEVICE_HELP, MIN_VARIATION, DeviceFeaturesMixin,
                     EncoderSensitivityMixin, keep_every_example, loader_features,
                     restoring_without_pretraining_file, vocabulary_path)

logger = logging.getLogger(__name__)


@dataclass
class MSLAMASRConfig(FairseqDataclass):
    data: str = field(default=MISSING, metadata={"help": "directory of the paired manifests"})
    grapheme_vocab: str = field(default="dict.grapheme.txt", metadata={"help": "grapheme vocabulary: a bare file name is read from the data directory, never the working directory; a path with a directory part is used as given"})
    max_frames: int = field(default=3000, metadata={"help": "utterances with more filterbank frames are left out of training (counted)"})
    skip_invalid: bool = field(default=False, metadata={"help": "skip and count bad manifest rows instead of stopping"})
    rnnt_beam: int = field(default=4, metadata={"help": "beam width of fairseq-generate (1: greedy search)"})
    speech_features: ChoiceEnum(SPEECH_FEATURES) = field(default="fbank", metadata={"help": "fbank: utterance-normalised Kaldi filterbanks; w2vbert2: the features of the public w2v-BERT 2.0 encoder (for models converted from it)"})
    fbank_on_device: bool = field(default=False, metadata={"help": FBANK_ON_DEVICE_HELP})
    seed: int = field(default=1, metadata={"help": "shuffling seed"})
    min_encoder_variation: float = field(default=MIN_VARIATION, metadata={"help": "warn when the encoder output's variation over time on the validation set (enc_variation) falls below this"})


@register_task("mslam_asr", dataclass=MSLAMASRConfig)
class MSLAMASRTask(DeviceFeaturesMixin, EncoderSensitivityMixin, FairseqTask):
    def __init__(self, cfg: MSLAMASRConfig, graphemes):
        super().__init__(cfg)
        self.graphemes = graphemes

    @classmethod
    def setup_task(cls, cfg: MSLAMASRConfig, **kwargs):
        path = vocabulary_path(cfg.grapheme_vocab, cfg.data)
        graphemes = load_grapheme_dictionary(path)
        logger.info("grapheme vocabulary (%s): %d symbols", path, len(graphemes))
        return cls(cfg, graphemes)

    def build_model(self, cfg, from_checkpoint=False):
        restoring_without_pretraining_file(cfg, from_checkpoint)
        return super().build_model(cfg, from_checkpoint)

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        train = "train" in split
        self.datasets[split] = ASRDataset(
            Path(self.cfg.data) / f"{split}.tsv", self.graphemes,
            max_frames=self.cfg.max_frames if train else None,
            skip_invalid=self.cfg.skip_invalid, shuffle=train, seed=self.cfg.seed,
            features=loader_features(self.cfg), placeholder=train)

    def get_batch_iterator(self, dataset, *args, **kwargs):
        return super().get_batch_iterator(dataset, *args, **keep_every_example(self, dataset, kwargs))

    def encoder_output(self, model, sample):
        net_input = sample["net_input"]
        enc, lengths = model.rnnt.transcribe(net_input["src_tokens"], net_input["src_lengths"])
        return enc, torch.arange(enc.size(1), device=enc.device)[None, :] >= lengths[:, None]

    def build_generator(self, models, args, **kwargs):
        return RNNTGenerator(models, self.graphemes, beam=self.cfg.rnnt_beam)

    @property
    def target_dictionary(self):
        return self.graphemes

    @property
    def source_dictionary(self):
        return None

    def max_positions(self):
        return None
