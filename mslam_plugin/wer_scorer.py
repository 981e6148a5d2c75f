"""The ``mslam_wer`` scorer of fairseq-generate: WER and CER (jiwer) of the detokenised
output (use ``--post-process sentencepiece`` with the grapheme vocabulary)."""

from dataclasses import dataclass

from fairseq.dataclass import FairseqDataclass
from fairseq.scoring import BaseScorer, register_scorer

# mslam_plugin.scoring is imported where used: `python -m mslam_plugin.scoring` must not
# find it already imported by the package's __init__.


@dataclass
class WerScorerConfig(FairseqDataclass):
    pass


@register_scorer("mslam_wer", dataclass=WerScorerConfig)
class WerScorer(BaseScorer):
    def add_string(self, ref, pred):
        from .scoring import text_normalize

        self.ref.append(text_normalize(ref))
        self.pred.append(text_normalize(pred))

    def _scores(self) -> dict:
        from .scoring import recognition_scores

        return recognition_scores(self.pred, self.ref, ["all"] * len(self.ref))["all"]

    def score(self) -> float:
        return self._scores()["wer"]

    def result_string(self) -> str:
        s = self._scores()
        return f"WER: {s['wer']:.2f} CER: {s['cer']:.2f}"
