"""Learning smoke tests: the tiny presets overfit a handful of training utterances through
fairseq-train with the recipes' optimiser settings (speech translation, the transducer,
and the pre-training's CTC objective), and a model whose encoder output is zeroed
(``--blind-encoder``) cannot do the same. A model that ignores its input fails these
tests; so does an encoder that collapses toward one constant vector.

The corpus fixture has 6 training utterances: 3 English sentences, each spoken in German
and Korean."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# the recipes' fine-tuning optimiser: the encoder is frozen while the fresh decoder learns
# to read it, then warms up (docs/learning_curves.md)
FINETUNE = ["--user-dir", REPO / "mslam_plugin", "--cpu", "--num-workers", "0", "--seed", "1",
            "--optimizer", "mslam_adam", "--adam-betas", "(0.9, 0.98)",
            "--lr-scheduler", "mslam_group_inverse_sqrt", "--clip-norm", "10.0",
            "--dropout", "0", "--no-epoch-checkpoints", "--validate-interval", "1000",
            "--save-interval", "1000", "--log-format", "simple", "--log-interval", "20"]
SCHEDULE = ["--encoder-lr", "5e-4", "--encoder-freeze-updates", "80", "--encoder-warmup-updates",
            "40", "--decoder-lr", "2e-3", "--decoder-warmup-updates", "20"]


def _run(*args):
    proc = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


def _valid_figure(log: str, key: str) -> float:
    values = re.findall(rf"valid on .*?\| {key} ([0-9.]+)", log)
    assert values, f"no {key} in the validation log"
    return float(values[-1])


def _train_st(corpus: Path, save: Path, *extra) -> str:
    return _run("fairseq-train", corpus, *FINETUNE, "--task", "mslam_speech_translation",
                "--config-yaml", "config_st.yaml", "--train-subset", "train_st",
                "--valid-subset", "train_st", "--arch", "mslam_st_tiny",
                "--decoder-dropout", "0",
                "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
                "--max-tokens", "20000", *SCHEDULE, "--max-update", "250", "--save-dir", save,
                *extra)


def _translate(corpus: Path, ckpt: Path) -> tuple[list[str], list[str]]:
    out = _run("fairseq-generate", corpus, "--user-dir", REPO / "mslam_plugin", "--task",
               "mslam_speech_translation", "--config-yaml", "config_st.yaml", "--gen-subset",
               "train_st", "--path", ckpt, "--beam", "5", "--max-len-b", "200",
               "--max-tokens", "20000", "--cpu")
    hyps = dict(re.findall(r"^D-(\d+)\t\S+\t(.*)$", out, flags=re.M))
    refs = dict(re.findall(r"^T-(\d+)\t(.*)$", out, flags=re.M))
    assert hyps and hyps.keys() == refs.keys()
    return [hyps[k] for k in sorted(hyps)], [refs[k] for k in sorted(hyps)]


@pytest.mark.slow
def test_speech_translation_overfits_a_handful_of_utterances_and_blind_cannot(tiny_corpus, tmp_path):
    log = _train_st(tiny_corpus, tmp_path / "st")
    hyps, refs = _translate(tiny_corpus, tmp_path / "st/checkpoint_last.pt")
    bleu = sacrebleu.corpus_bleu(hyps, [refs]).score
    assert bleu > 80, list(zip(hyps, refs))
    assert len(set(hyps)) == len(set(refs)) == 3  # outputs differ between inputs
    # the encoder keeps a large input-dependent part (a collapsed one is at 0.01-0.02)
    assert _valid_figure(log, "enc_variation") > 0.2
    assert _valid_figure(log, "enc_pooled_cos") < 0.99

    _train_st(tiny_corpus, tmp_path / "blind", "--blind-encoder")
    blind, _ = _translate(tiny_corpus, tmp_path / "blind/checkpoint_last.pt")
    assert len(set(blind)) == 1  # the control cannot tell its inputs apart
    assert sacrebleu.corpus_bleu(blind, [refs]).score < 60


def _train_asr(corpus: Path, save: Path, *extra) -> str:
    vocab = len((corpus / "dict.char.txt").read_text(encoding="utf-8").splitlines()) + 4
    return _run("fairseq-train", corpus, *FINETUNE, "--task", "mslam_asr",
                "--train-subset", "paired_train", "--valid-subset", "paired_train",
                "--arch", "mslam_transducer_tiny", "--text-vocab-size", vocab,
                "--predictor-dropout", "0", "--criterion", "mslam_rnnt", "--max-tokens", "20000",
                *SCHEDULE, "--encoder-lr", "1e-3", "--max-update", "400", "--save-dir", save,
                *extra)


def _transcribe(corpus: Path, ckpt: Path, out: Path) -> dict:
    _run("python", "-m", "mslam_plugin.decode_asr", "--data", corpus, "--split", "paired_train",
         "--checkpoint", ckpt, "--out", out, "--beam", "1")
    return json.loads(next(out.glob("scores-paired_train-*.json")).read_text())


@pytest.mark.slow
def test_transducer_overfits_a_handful_of_utterances_and_blind_cannot(tiny_corpus, tmp_path):
    log = _train_asr(tiny_corpus, tmp_path / "asr")
    scores = _transcribe(tiny_corpus, tmp_path / "asr/checkpoint_last.pt", tmp_path / "dec")
    assert scores["all"]["cer"] < 10, scores
    assert _valid_figure(log, "enc_variation") > 0.2

    _train_asr(tiny_corpus, tmp_path / "blind", "--blind-encoder")
    blind = _transcribe(tiny_corpus, tmp_path / "blind/checkpoint_last.pt", tmp_path / "bdec")
    assert blind["all"]["cer"] > 50, blind


def _pretrain_ctc(corpus: Path, save: Path, *extra) -> str:
    """The pre-training task and criterion with only the CTC objective on: every batch
    draws 6 of the 6 paired training utterances (with replacement). At this rate the CTC
    loss sits near 3.8 for about 250 updates, then falls to 0.01 by update 450."""
    off = [a for k in ("w2v-contrastive", "w2v-mlm", "w2v-diversity", "text-mlm", "tlm-text",
                       "tlm-speech") for a in (f"--{k}-weight", "0")]
    return _run("fairseq-train", corpus, "--user-dir", REPO / "mslam_plugin", "--cpu",
                "--num-workers", "0", "--seed", "1", "--task", "mslam_pretraining",
                "--arch", "mslam_tiny", "--criterion", "mslam_pretraining", *off,
                "--batch-size", "1", "--speech-sequences", "0", "--text-sequences", "0",
                "--paired-sequences", "6", "--batches-per-epoch", "10", "--dropout", "0",
                "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--lr", "2e-3",
                "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "50", "--clip-norm", "10.0",
                "--max-update", "500", "--disable-validation", "--no-epoch-checkpoints",
                "--save-interval", "1000", "--log-format", "simple", "--log-interval", "20",
                "--save-dir", save, *extra)


def _ctc_transcribe(corpus: Path, ckpt: Path, out: Path) -> dict:
    _run("python", "-m", "mslam_plugin.decode_ctc", "--data", corpus, "--split", "paired_train",
         "--checkpoint", ckpt, "--out", out)
    return json.loads((out / "scores-paired_train-ctc.json").read_text())


@pytest.mark.slow
def test_pretraining_ctc_overfits_a_handful_of_utterances_and_blind_cannot(tiny_corpus, tmp_path):
    _pretrain_ctc(tiny_corpus, tmp_path / "ctc")
    scores = _ctc_transcribe(tiny_corpus, tmp_path / "ctc/checkpoint_last.pt", tmp_path / "dec")
    assert scores["all"]["cer"] < 20, scores

    log = _pretrain_ctc(tiny_corpus, tmp_path / "blind", "--blind-encoder")
    # the control trained all the same: every logged loss finite, through update 500
    losses = re.findall(r"loss_ctc=([^,\s]+).*num_updates=(\d+)", log)
    assert losses and losses[-1][1] == "500" and all(float(v) < 100 for v, _ in losses), log[-2000:]
    blind = _ctc_transcribe(tiny_corpus, tmp_path / "blind/checkpoint_last.pt", tmp_path / "bdec")
    assert blind["all"]["cer"] > 80, blind
