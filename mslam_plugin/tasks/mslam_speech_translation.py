"""Speech-translation fine-tuning from mSLAM (section 4.1): fairseq's speech_to_text task
(CoVoST 2 data prepared by fairseq's examples/speech_to_text reads unchanged; manifests
of audio files too, which stock fairseq cannot read with torchaudio 2.9) plus

- speech + text fine-tuning: ``--mt-subset mt_train`` adds an MT TSV; every training batch
  pairs its ST examples with as many MT examples, the MT loss is weighted ``--mt-weight``
  (5.0) and the decoder dropout becomes ``--joint-dropout`` (0.1);
- source CTC: ``--criterion label_smoothed_cross_entropy_with_ctc --ctc-weight W`` (W > 0)
  adds fairseq's CTC loss on the source transcript (the manifest's ``src_text``, as
  characters of the pre-training vocabulary) over the multimodal encoder output, through
  the pre-training's CTC head: ESPnet ST's auxiliary CTC. W = 0 is the paper's recipe;
  in speech + text fine-tuning the MT half of each batch has no CTC term;
- text input: ``--source-modality text`` reads a split's ``src_text`` column as the
  source (characters of the pre-training vocabulary through the character embedding and
  the multimodal encoder), for zero-shot text translation by a model fine-tuned on speech
  only, or to score MT.
"""

import contextlib
import logging
import math
from pathlib import Path

from fairseq import metrics
from fairseq.tasks import register_task
from fairseq.tasks.speech_to_text import SpeechToTextTask

from ..data.char_vocab import load_char_dictionary
from ..data.s2t_audio import reads_audio_files
from ..data.s2t_manifest import validated_creator
from ..data.sample_rate_check import check_stored_features
from ..data.source_chars import with_source_chars
from ..data.translation import JointSpeechTextDataset, TextTranslationDataset
from .common import (MIN_VARIATION, EncoderSensitivityMixin, keep_every_example,
                     restoring_without_pretraining_file, vocabulary_path)

logger = logging.getLogger(__name__)
CTC_CRITERION = "label_smoothed_cross_entropy_with_ctc"


@register_task("mslam_speech_translation")
class MSLAMSpeechTranslationTask(EncoderSensitivityMixin, SpeechToTextTask):
    @classmethod
    def add_args(cls, parser):
        super().add_args(parser)
        parser.add_argument("--skip-invalid", action="store_true",
                            help="skip and count bad manifest rows instead of stopping")
        parser.add_argument("--char-vocab", default="dict.char.txt",
                            help="character vocabulary of the pre-trained encoder: a bare "
                                 "file name is read from the data directory, never the "
                                 "working directory; a path with a directory part as given")
        parser.add_argument("--mt-subset", default="",
                            help="MT TSV (id, src_text, tgt_text, src_lang, tgt_lang) under "
                                 "the data directory, e.g. mt_train: speech + text fine-tuning")
        parser.add_argument("--mt-weight", type=float, default=5.0,
                            help="weight of the MT loss in speech + text fine-tuning")
        parser.add_argument("--joint-dropout", type=float, default=0.1,
                            help="decoder dropout in speech + text fine-tuning")
        parser.add_argument("--source-modality", choices=("speech", "text"), default="speech",
                            help="source of the loaded splits: speech (filterbanks or audio) "
                                 "or text (the TSV's src_text column)")
        parser.add_argument("--max-source-chars", type=int, default=512,
                            help="text sources are truncated to this many characters")
        parser.add_argument("--min-encoder-variation", type=float, default=MIN_VARIATION,
                            help="warn when the encoder output's variation over time on the "
                                 "validation set (enc_variation) falls below this")

    @classmethod
    def setup_task(cls, args, **kwargs):
        """fairseq requires training splits named ``train*`` (the name decides speech
        augmentation). Text sources have no audio to augment, so with
        ``--source-modality text`` any split trains, e.g. ``--train-subset mt_train``."""
        if getattr(args, "source_modality", "speech") != "text":
            return super().setup_task(args, **kwargs)
        subsets, args.train_subset = getattr(args, "train_subset", None), None
        try:
            return super().setup_task(args, **kwargs)
        finally:
            args.train_subset = subsets

    def __init__(self, args, tgt_dict):
        super().__init__(args, tgt_dict)
        path = vocabulary_path(args.char_vocab, args.data)
        self.char_dictionary, self.char_vocab_path = None, path
        if path.is_file():
            self.char_dictionary = load_char_dictionary(path)
            logger.info("character vocabulary (%s): %d", path, len(self.char_dictionary))
        elif args.mt_subset or args.source_modality == "text":
            raise FileNotFoundError(f"{path}: character vocabulary not found; text input "
                                    "needs the pre-training's dict.char.txt (--char-vocab)")
        else:
            logger.info("no character vocabulary (%s): speech input only; the encoder's "
                        "text embedding takes its size from the checkpoint", args.char_vocab)

    @property
    def source_ctc(self) -> bool:
        """True when the criterion trains a CTC loss on the source transcripts."""
        return (getattr(self.args, "criterion", "") == CTC_CRITERION
                and getattr(self.args, "ctc_weight", 0.0) > 0)

    def _check_char_vocab_for_ctc(self) -> None:
        if self.char_dictionary is None:
            raise FileNotFoundError(f"{self.args.char_vocab}: character vocabulary not found "
                                    "(nor under the data directory); the source CTC loss "
                                    "spells the transcripts with it")

    def build_model(self, args, from_checkpoint=False):
        restoring_without_pretraining_file(args, from_checkpoint)
        if not from_checkpoint:  # the criterion decides; a checkpoint keeps its own head
            args.source_ctc = self.source_ctc
            if self.source_ctc:
                self._check_char_vocab_for_ctc()
                logger.info("source CTC: weight %.2f on the source transcripts (characters)",
                            self.args.ctc_weight)
        if self.args.mt_subset and not from_checkpoint:
            logger.info("speech + text fine-tuning: decoder dropout %.2f -> %.2f (--joint-dropout)",
                        args.decoder_dropout, self.args.joint_dropout)
            args.decoder_dropout = self.args.joint_dropout
        return super().build_model(args, from_checkpoint)

    def _text_dataset(self, split: str) -> TextTranslationDataset:
        return TextTranslationDataset(
            Path(self.args.data) / f"{split}.tsv", self.char_dictionary, self.tgt_dict,
            pre_tokenizer=self.build_tokenizer(self.args), bpe_tokenizer=self.build_bpe(self.args),
            prepend_tgt_lang_tag=self.data_cfg.prepend_tgt_lang_tag,
            max_chars=self.args.max_source_chars)

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        if self.args.source_modality == "text":
            self.datasets[split] = self._text_dataset(split)
            return
        creator = validated_creator(self.data_cfg.audio_root,
                                    getattr(self.args, "skip_invalid", False))  # older checkpoints lack it
        self.datasets[split] = creator.from_tsv(
            root=self.args.data, cfg=self.data_cfg, splits=split, tgt_dict=self.tgt_dict,
            pre_tokenizer=self.build_tokenizer(self.args), bpe_tokenizer=self.build_bpe(self.args),
            is_train_split=split.startswith("train"), epoch=epoch, seed=self.args.seed,
            speaker_to_id=self.speaker_to_id, multitask=self.multitask_tasks)
        self.datasets[split] = reads_audio_files(self.datasets[split])
        if split.startswith("train"):
            for part in getattr(self.datasets[split], "datasets", [self.datasets[split]]):
                check_stored_features(part, split)
        if self.source_ctc:
            self._check_char_vocab_for_ctc()
            self.datasets[split] = with_source_chars(self.datasets[split], self.char_dictionary,
                                                     self.args.max_source_chars)
        if self.args.mt_subset and split.startswith("train"):
            mt = self._text_dataset(self.args.mt_subset)
            logger.info("speech + text fine-tuning: %d ST examples, each batch with as many "
                        "of %d MT examples (%s), MT loss weight %.1f", len(self.datasets[split]),
                        len(mt), self.args.mt_subset, self.args.mt_weight)
            self.datasets[split] = JointSpeechTextDataset(self.datasets[split], mt, self.args.seed)

    def get_batch_iterator(self, dataset, *args, **kwargs):
        return super().get_batch_iterator(dataset, *args, **keep_every_example(self, dataset, kwargs))

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        if "mt" not in sample:
            return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)
        model.train()
        model.set_num_updates(update_num)
        scale = 0.0 if ignore_grad else 1.0
        # Two forward passes, one backward each: the ST pass's gradients accumulate
        # locally (no_sync of DistributedDataParallel) and are reduced with the MT pass's,
        # as DDP needs one backward per forward.
        with getattr(model, "no_sync", contextlib.nullcontext)():
            loss, sample_size, log = criterion(model, sample["st"])
            optimizer.backward(loss * scale)
        ctc_weight = getattr(criterion, "ctc_weight", None)
        if ctc_weight is not None:
            criterion.ctc_weight = 0.0  # no transcript CTC on text input
        try:
            mt_loss, mt_size, mt_log = criterion(model, sample["mt"])
        finally:
            if ctc_weight is not None:
                criterion.ctc_weight = ctc_weight
        # Per-token (or per-sentence) means: ST + weight * MT, over the ST sample size.
        mt_loss = self.args.mt_weight * mt_loss * (sample_size / max(mt_size, 1))
        optimizer.backward(mt_loss * scale)
        loss = (loss + mt_loss).detach() * scale
        log = dict(log)
        for key in ("loss", "nll_loss", "ntokens", "sample_size"):
            if key in mt_log:
                log[f"mt_{key}"] = mt_log[key]
        return loss, sample_size, log

    def encoder_output(self, model, sample):
        net_input = sample["net_input"]
        enc = model.encoder(net_input["src_tokens"], net_input["src_lengths"])
        return enc["encoder_out"][0].transpose(0, 1), enc["encoder_padding_mask"][0]

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        if not any("mt_loss" in log for log in logging_outputs):
            return
        total = lambda k: sum(float(log.get(k, 0)) for log in logging_outputs)
        size = max(total("mt_sample_size"), 1.0)
        metrics.log_scalar("mt_loss", total("mt_loss") / size / math.log(2), size, round=3)
        if any("mt_nll_loss" in log for log in logging_outputs):
            ntok = max(total("mt_ntokens"), 1.0)
            metrics.log_scalar("mt_nll_loss", total("mt_nll_loss") / ntok / math.log(2), ntok,
                               round=3)
