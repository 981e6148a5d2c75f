"""Recognition scores against hand-computed WER / CER: corpus-level (errors over reference
length), per language, in percent, on normalised text; the same through the files that
decode_asr / decode_ctc write and through fairseq-generate's ``mslam_wer`` scorer."""

import json

import pytest

from mslam_plugin.scoring.metrics import recognition_scores, write_recognition
from mslam_plugin.scoring.mslam_wer import WerScorer, WerScorerConfig

# reference, hypothesis, language, and the edit counts worked out by hand
CASES = [
    # one substituted character of 4; the only word is wrong
    ("abcd", "abed", "de"),        # chars: 1 / 4,  words: 1 / 1
    # "cat" -> "bat" (1 sub), " down" inserted (5 chars; 1 word)
    ("the cat sat", "the bat sat down", "ko"),  # chars: 6 / 11, words: 2 / 3
]
EXPECTED = {
    "de": {"wer": 100.0, "cer": 25.0, "n": 1},
    "ko": {"wer": round(100 * 2 / 3, 2), "cer": round(100 * 6 / 11, 2), "n": 1},  # 66.67, 54.55
    # corpus level: all errors over all reference words / characters, not a mean of rates
    "all": {"wer": 75.0, "cer": round(100 * 7 / 15, 2), "n": 2},  # 3 / 4 words, 7 / 15 chars
}


def test_recognition_scores_match_hand_computed_wer_and_cer():
    refs, hyps, langs = zip(*CASES)
    scores = recognition_scores(list(hyps), list(refs), list(langs))
    assert scores == EXPECTED
    # the order of the arguments matters: hypothesis first (CER divides by the reference)
    assert recognition_scores(["abcd"], ["abcd"], ["x"])["all"]["cer"] == 0.0
    assert recognition_scores(["abcdef"], ["abcd"], ["x"])["all"]["cer"] == 50.0  # 2 ins / 4
    assert recognition_scores(["abcd"], ["abcdef"], ["x"])["all"]["cer"] == round(100 * 2 / 6, 2)


def test_written_recognition_scores_normalise_and_match_by_hand(tmp_path, capsys):
    rows = [{"id": f"u{i}", "lang": lang, "reference": ref, "hypothesis": hyp}
            for i, (ref, hyp, lang) in enumerate(CASES)]
    # NFC and single spaces before scoring: a decomposed é and doubled spaces are no error
    rows.append({"id": "u2", "lang": "de", "reference": "caf\u00e9  au lait",
                 "hypothesis": " cafe\u0301 au lait"})
    scores = write_recognition(rows, tmp_path, "test", "greedy", extra={"rtf": 0.5})
    # de now: 1 / 4 + 0 / 12 characters ("café au lait"), 1 / 1 + 0 / 3 words
    assert scores["de"] == {"wer": 25.0, "cer": round(100 / 16, 2), "n": 2}
    assert scores["ko"] == EXPECTED["ko"]
    assert scores["all"] == {"wer": round(100 * 3 / 7, 2), "cer": round(100 * 7 / 27, 2), "n": 3}
    written = json.loads((tmp_path / "scores-test-greedy.json").read_text())
    assert written == {**scores, "rtf": 0.5}
    hyps = (tmp_path / "hyps-test-greedy.tsv").read_text(encoding="utf-8").splitlines()
    assert hyps[0] == "id\tlang\treference\thypothesis" and hyps[1] == "u0\tde\tabcd\tabed"
    assert f"| all | 3 | {100 * 3 / 7:.2f} | {100 * 7 / 27:.2f} |" in capsys.readouterr().out


def test_fairseq_wer_scorer_reports_hand_computed_scores():
    scorer = WerScorer(WerScorerConfig())
    for ref, hyp, _ in CASES:
        scorer.add_string(ref, hyp)
    assert scorer.score() == pytest.approx(75.0)
    assert scorer.result_string() == f"WER: 75.00 CER: {100 * 7 / 15:.2f}"
