"""The offline corpus builder on a tiny subset: 2 languages x 5 multi-way sentences."""

import json
import shutil
import subprocess
import sys

import pytest
import soundfile as sf

from conftest import REPO, TINY_ARGS, run_prepare
from mslam_plugin.corpus.tiny import text_corpus
from mslam_plugin.data.char_vocab import BLANK, MASK, load_char_dictionary
from mslam_plugin.data.manifest import COLUMNS, kind_of, num_fbank_frames, read_manifest


def _rows(corpus, name):
    return read_manifest(corpus / f"{name}.tsv", kind_of(name)).rows


def test_every_manifest_is_written_and_valid(tiny_corpus):
    for kind, splits in {"speech": ("train", "dev"), "text": ("train", "dev"),
                         "paired": ("train", "dev", "test"), "st": ("train", "dev", "test"),
                         "mt": ("train", "dev", "test")}.items():
        for split in splits:
            name = f"{split}_st" if kind == "st" else f"{kind}_{split}"
            header = (tiny_corpus / f"{name}.tsv").open().readline().rstrip("\n")
            assert tuple(header.split("\t")) == COLUMNS[kind]
            assert _rows(tiny_corpus, name)
    assert len(_rows(tiny_corpus, "train_st")) == 2 * 3
    assert {r["src_lang"] for r in _rows(tiny_corpus, "test_st")} == {"de", "ko"}
    assert not (tiny_corpus / "speech_test.tsv").exists()  # no evaluation audio unlabeled


def test_no_english_sentence_shared_across_splits(tiny_corpus):
    english = {s: {r["tgt_text"] for r in _rows(tiny_corpus, f"{s}_st")}
               for s in ("train", "dev", "test")}
    assert not english["train"] & english["dev"]
    assert not english["train"] & english["test"]
    assert not english["dev"] & english["test"]
    held_out = {r["tgt_text"] for s in ("dev", "test") for r in _rows(tiny_corpus, f"paired_{s}")}
    text_train = {r["text"] for r in _rows(tiny_corpus, "text_train")}
    assert not held_out & text_train  # evaluation transcripts never reach pre-training


def test_audio_is_16k_mono_flac_and_n_frames_match(tiny_corpus):
    for row in _rows(tiny_corpus, "paired_train"):
        info = sf.info(str(tiny_corpus / row["audio"]))
        assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
        assert int(row["n_frames"]) == num_fbank_frames(info.frames) > 50
        assert row["speaker"].split("+")[0] == {"de": "de", "ko": "ko"}[row["src_lang"]]


def test_text_side_covers_100_languages_and_vocab_is_usable(tiny_corpus):
    langs = {r["lang"] for r in _rows(tiny_corpus, "text_train")}
    assert len(langs) >= 100 and {"de", "ko", "en"} <= langs
    d = load_char_dictionary(tiny_corpus / "dict.char.txt")
    assert len(d) == 4 + 2 + 4096 and d.index(MASK) == 4 and d.index(BLANK) == 5
    coverage = dict(line.split("\t")[::2] for line in
                    (tiny_corpus / "vocab_coverage.tsv").read_text().splitlines()[1:])
    assert float(coverage["de"]) > 0.999 and float(coverage["ko"]) > 0.99
    stats = json.loads((tiny_corpus / "corpus_stats.json").read_text())
    assert stats["manifests"]["paired_train.tsv"]["rows"] == 6


def test_st_config_points_at_a_working_sentencepiece_model(tiny_corpus):
    import sentencepiece as spm
    import yaml

    cfg = yaml.safe_load((tiny_corpus / "config_st.yaml").read_text())
    sp = spm.SentencePieceProcessor(model_file=cfg["bpe_tokenizer"]["sentencepiece_model"])
    target = _rows(tiny_corpus, "train_st")[0]["tgt_text"]
    assert sp.decode(sp.encode(target)) == target
    assert (tiny_corpus / cfg["vocab_filename"]).is_file()
    assert cfg["input_feat_per_channel"] == 80


def test_rerun_resumes_and_resynthesises_only_what_is_missing(tiny_corpus, tmp_path):
    corpus = tmp_path / "copy"
    shutil.copytree(tiny_corpus, corpus)
    victim = corpus / _rows(tiny_corpus, "paired_dev")[0]["audio"]
    victim.unlink()
    (corpus / ".done.synth").unlink()
    log = run_prepare(corpus)
    assert "(1 newly synthesised)" in log
    assert "stage 1 (units): done already" in log and "stage 3 (text): done already" in log
    assert sf.info(str(victim)).frames > 0


def test_rerun_with_other_options_is_refused(tiny_corpus, tmp_path):
    corpus = tmp_path / "copy"
    shutil.copytree(tiny_corpus, corpus)
    proc = subprocess.run(["bash", str(REPO / "examples/tiny/prepare.sh"), "--data", str(corpus),
                           *TINY_ARGS, "--train-units", "4"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"{corpus} was built with other options" in proc.stderr
    assert (corpus / "units.tsv").read_bytes() == (tiny_corpus / "units.tsv").read_bytes()


def test_build_is_deterministic_given_the_seed(tiny_corpus, tmp_path):
    again = tmp_path / "again"
    run_prepare(again)
    for name in ("units.tsv", "paired_train.tsv", "test_st.tsv", "text_train.tsv",
                 "dict.char.txt", "spm_unigram_en.txt"):
        assert (again / name).read_bytes() == (tiny_corpus / name).read_bytes(), name
    row = _rows(tiny_corpus, "paired_train")[0]
    a, _ = sf.read(str(tiny_corpus / row["audio"]))
    b, _ = sf.read(str(again / row["audio"]))
    assert (a == b).all()


def test_st_data_trains_with_fairseqs_own_speech_to_text_task(tiny_corpus, tmp_path):
    # fbank80.zip + train_st.tsv + config_st.yaml, as fairseq's CoVoST 2 preparation
    # writes them; the checkpoint must load under torch's weights_only default.
    import subprocess
    import sys
    from pathlib import Path

    import mslam_plugin  # noqa: F401  (registers argparse.Namespace as safe to load)
    from fairseq import checkpoint_utils

    bindir = Path(sys.executable).parent
    run = subprocess.run(
        [str(bindir / "fairseq-train"), str(tiny_corpus), "--task", "speech_to_text",
         "--config-yaml", "config_st.yaml", "--train-subset", "train_st", "--arch",
         "s2t_transformer_s", "--encoder-layers", "1", "--decoder-layers", "1",
         "--criterion", "label_smoothed_cross_entropy", "--max-tokens", "4000",
         "--optimizer", "adam", "--lr", "1e-3", "--max-update", "2", "--cpu",
         "--disable-validation", "--no-epoch-checkpoints", "--save-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    state = checkpoint_utils.load_checkpoint_to_cpu(str(tmp_path / "checkpoint_last.pt"))
    assert state["optimizer_history"][-1]["num_updates"] == 2


def test_text_stage_without_gflanguages_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gflanguages", None)  # as if not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install -e '\.\[corpus\]'"):
        text_corpus.gflanguages_text()
