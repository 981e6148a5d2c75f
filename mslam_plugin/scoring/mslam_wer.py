"""The ``mslam_wer`` scorer of fairseq-generate: WER and CER (jiwer) of the detokenised
output (use ``--post-process sentencepiece`` with the grapheme vocabulary)."""

from dataclasses import dataclass

from fairseq.dataclass import FairseqDataclass
from fairseq.scoring import BaseScorer, register_scorer

from ..data.text import normalize_for_scoring
from .metrics import recognition_scores


@dataclass
class WerScorerConfig(FairseqDataclass):
    pass


@register_scorer("mslam_wer", dataclass=WerScorerConfig)
class WerScorer(BaseScorer):
    def add_string(self, ref, pred):
        self.ref.append(normalize_for_scoring(ref))
        self.pred.append(normalize_for_scoring(pred))

    def _scores(self) -> dict:
        return recognition_scores(self.pred, self.ref, ["all"] * len(self.ref))["all"]

    def score(self) -> float:
        return self._scores()["wer"]

    def result_string(self) -> str:
        s = self._scores()
        return f"WER: {s['wer']:.2f} CER: {s['cer']:.2f}"
