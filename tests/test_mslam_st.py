"""mslam_st and the mslam_speech_translation task: the mSLAM encoder + Transformer decoder,
incremental decoding, speech and character input, speech + text batches (with the source
CTC loss), and fairseq-train / fairseq-generate end to end (our corpus, and a directory
in fairseq's CoVoST 2 format)."""

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fairseq.data import Dictionary
from fairseq.data.encoders import build_bpe
from fairseq.models import ARCH_CONFIG_REGISTRY

from mslam_plugin.data import manifest as mf
from mslam_plugin.data.char_vocab import load_char_dictionary, to_symbols
from mslam_plugin.data.translation import JointSpeechTextDataset, TextTranslationDataset
from mslam_plugin.models.mslam_st import MSLAMSTConfig, MSLAMSTModel

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class _Task:
    def __init__(self):
        self.target_dictionary = Dictionary()
        for i in range(40):
            self.target_dictionary.add_symbol(f"w{i}")
        self.cfg = argparse.Namespace(max_target_positions=64)


def _model(**cfg):
    ns = argparse.Namespace(decoder_dropout=0.0, dropout=0.0, text_vocab_size=50, **cfg)
    ARCH_CONFIG_REGISTRY["mslam_st_tiny"](ns)
    torch.manual_seed(0)
    return MSLAMSTModel.build_model(MSLAMSTConfig(**vars(ns)), _Task()).eval()


def test_incremental_decoding_matches_full_decoding():
    model = _model()
    fbank, lengths = torch.randn(2, 90, 80), torch.tensor([90, 61])
    prev = torch.randint(4, 44, (2, 7))
    with torch.no_grad():
        enc = model.encoder(fbank, lengths)
        full, _ = model.decoder(prev, encoder_out=enc)
        state, steps = {}, []
        for t in range(prev.size(1)):
            out, _ = model.decoder(prev[:, : t + 1], encoder_out=enc, incremental_state=state)
            steps.append(out[:, -1])
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-4)


def test_encoder_takes_speech_or_characters():
    model = _model()
    with torch.no_grad():
        speech = model.encoder(torch.randn(2, 80, 80), torch.tensor([80, 40]))
        chars = torch.randint(6, 50, (2, 12))
        chars[1, 8:] = 1
        text = model.encoder(chars, torch.tensor([12, 8]))
        alone = model.encoder(chars[1:, :8], torch.tensor([8]))
    assert speech["encoder_out"][0].shape == (20, 2, 256)
    assert speech["encoder_padding_mask"][0][1].sum() == 10
    assert text["encoder_out"][0].shape == (12, 2, 256)
    assert text["encoder_padding_mask"][0][1].sum() == 4
    # padding never changes the valid positions
    torch.testing.assert_close(text["encoder_out"][0][:8, 1], alone["encoder_out"][0][:, 0],
                               atol=1e-5, rtol=1e-4)


def _calls(module: torch.nn.Module) -> list:
    """A list that grows by one entry each time ``module`` runs forward."""
    calls = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_blind_encoder_gives_zeros_of_the_real_shape_and_skips_the_encoder():
    real, blind = _model(), _model(blind_encoder=True)
    speech = _calls(blind.encoder.mslam.speech_encoder)
    shared = _calls(blind.encoder.mslam.multimodal_encoder)
    chars = torch.randint(6, 50, (2, 12))
    for src, lengths in ((torch.randn(2, 80, 80), torch.tensor([80, 40])),
                         (chars, torch.tensor([12, 12]))):
        want, got = real.encoder(src, lengths), blind.encoder(src, lengths)
        assert got["encoder_out"][0].shape == want["encoder_out"][0].shape
        assert torch.equal(got["encoder_padding_mask"][0], want["encoder_padding_mask"][0])
        assert not got["encoder_out"][0].any()
        blind(src, lengths, torch.randint(4, 44, (2, 5)))[0].sum().backward()
    assert not speech and not shared  # nothing reads the encoder: it never runs
    assert any(p.grad is not None for p in blind.decoder.parameters())


def test_blind_encoder_with_source_ctc_still_trains_the_encoder():
    blind = _model(blind_encoder=True, source_ctc=True)
    shared = _calls(blind.encoder.mslam.multimodal_encoder)
    out = blind.encoder(torch.randn(2, 80, 80), torch.tensor([80, 40]))
    assert shared and not out["encoder_out"][0].any()
    logits = out["ctc_logits"][0]
    assert logits.shape == (20, 2, 50) and logits.std(0).abs().sum() > 0  # varies over time


def _text_dataset(corpus: Path, split: str = "mt_test") -> TextTranslationDataset:
    bpe = build_bpe(argparse.Namespace(bpe="sentencepiece",
                                       sentencepiece_model=str(corpus / "spm_unigram_en.model")))
    return TextTranslationDataset(corpus / f"{split}.tsv",
                                  load_char_dictionary(corpus / "dict.char.txt"),
                                  Dictionary.load(str(corpus / "spm_unigram_en.txt")),
                                  bpe_tokenizer=bpe)


@pytest.mark.slow
def test_text_translation_batches(tiny_corpus):
    ds = _text_dataset(tiny_corpus, "test_st")  # an ST manifest with src_text reads too
    rows = [line.split("\t") for line in (tiny_corpus / "test_st.tsv").read_text().splitlines()[1:]]
    batch = ds.collater([ds[i] for i in range(len(ds))])
    src = batch["net_input"]["src_tokens"]
    assert src.dtype == torch.long and src.size(0) == len(rows)
    assert batch["net_input"]["src_lengths"].tolist() == sorted(
        (len(to_symbols(r[5])) for r in rows), reverse=True)  # Hangul: jamo
    eos = ds.tgt_dict.eos()
    for i, sid in enumerate(batch["id"].tolist()):
        tgt = batch["target"][i][: batch["target_lengths"][i]]
        assert tgt[-1] == eos and batch["net_input"]["prev_output_tokens"][i, 0] == eos
        # what fairseq's speech_to_text dataset makes of the same target text
        expected = ds.tgt_dict.encode_line(ds.bpe_tokenizer.encode(rows[sid][3]),
                                           add_if_not_exist=False, append_eos=True)
        assert tgt.tolist() == expected.tolist()


@pytest.mark.slow
def test_joint_batches_hold_equal_numbers_of_st_and_mt(tiny_corpus):
    mt = _text_dataset(tiny_corpus, "mt_train")

    class _Speech(list):
        def collater(self, items):
            return items

    joint = JointSpeechTextDataset(_Speech(range(2 * len(mt))), mt, seed=3)
    first = [joint.mt_index(i) for i in range(len(mt))]
    assert sorted(first) == list(range(len(mt)))  # every MT example once per len(mt) ST ones
    batch = joint.collater([joint[i] for i in range(5)])
    assert len(batch["st"]) == batch["mt"]["nsentences"] == 5
    joint.set_epoch(2)
    assert [joint.mt_index(i) for i in range(len(mt))] != first
    joint.set_epoch(1)
    assert [joint.mt_index(i) for i in range(len(mt))] == first


def _run(*args, cwd=None):
    proc = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True,
                          text=True, timeout=900, cwd=cwd)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


COMMON = ["--user-dir", REPO / "mslam_plugin", "--cpu", "--num-workers", "0", "--optimizer",
          "adam", "--lr", "1e-3", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "2",
          "--no-epoch-checkpoints", "--disable-validation", "--max-update", "2"]


def _generate(data, ckpt, *extra, cwd=None):
    return _run("fairseq-generate", data, "--user-dir", REPO / "mslam_plugin", "--task",
                "mslam_speech_translation", "--path", ckpt, "--beam", "2", "--max-len-b", "10",
                "--scoring", "sacrebleu", "--max-tokens", "20000", "--cpu", *extra, cwd=cwd)


@pytest.mark.slow
def test_fine_tune_from_pretraining_speech_and_text_then_decode_both_modalities(tiny_corpus, tmp_path):
    _run("fairseq-train", tiny_corpus, *COMMON, "--task", "mslam_pretraining", "--arch",
         "mslam_tiny", "--criterion", "mslam_pretraining", "--batch-size", "1",
         "--speech-sequences", "2", "--text-sequences", "2", "--paired-sequences", "2",
         "--batches-per-epoch", "2", "--save-dir", tmp_path / "pre")
    _run("python", "-m", "mslam_plugin.decode_ctc", "--data", tiny_corpus, "--split",
         "paired_test", "--checkpoint", tmp_path / "pre/checkpoint_last.pt", "--out",
         tmp_path / "pre_ctc", cwd=REPO)  # the pre-training's own CTC head
    n_paired = len((tiny_corpus / "paired_test.tsv").read_text().splitlines()) - 1
    pre_ctc = json.loads((tmp_path / "pre_ctc/scores-paired_test-ctc.json").read_text())
    assert pre_ctc["all"]["n"] == n_paired
    out = _run("fairseq-train", tiny_corpus, *COMMON, "--task", "mslam_speech_translation",
               "--config-yaml", "config_st.yaml", "--train-subset", "train_st", "--arch",
               "mslam_st_tiny", "--load-pretrained-mslam-from", tmp_path / "pre/checkpoint_last.pt",
               "--mt-subset", "mt_train", "--criterion", "label_smoothed_cross_entropy_with_ctc",
               "--ctc-weight", "0.3",
               "--max-tokens", "4000", "--log-interval", "1", "--log-format", "simple",
               "--save-dir", tmp_path / "st")
    assert "encoder initialised from" in out
    assert "decoder dropout 0.30 -> 0.10" in out
    assert re.search(r"mt_loss=[0-9.]+", out)  # the MT half of each batch was trained on
    assert re.search(r"ctc_loss=[0-9.]+", out)  # the source CTC, through the pre-trained head
    assert "source CTC: weight 0.30" in out and "CTC head starts fresh" not in out
    n_test = len((tiny_corpus / "test_st.tsv").read_text().splitlines()) - 1
    _run("python", "-m", "mslam_plugin.decode_ctc", "--data", tiny_corpus, "--checkpoint",
         tmp_path / "st/checkpoint_last.pt", "--out", tmp_path / "ctc", cwd=REPO)
    ctc = json.loads((tmp_path / "ctc/scores-test_st-ctc.json").read_text())
    assert ctc["all"]["n"] == n_test  # a source CTC transcript of every test utterance
    for modality in ("speech", "text"):  # text: zero-shot input path of the same model
        gen = _generate(tiny_corpus, tmp_path / "st/checkpoint_last.pt", "--config-yaml",
                        "config_st.yaml", "--gen-subset", "test_st", "--source-modality", modality)
        assert len(re.findall(r"^D-\d+\t", gen, flags=re.M)) == n_test
        assert re.search(r"BLEU = [0-9.]+", gen)


@pytest.mark.slow
def test_text_only_training_on_an_mt_split(tiny_corpus, tmp_path):
    """--source-modality text trains on an MT split (not named train*: fairseq's rule for
    speech splits) and validates on another; a speech split keeps fairseq's rule."""
    args = [tiny_corpus, *COMMON, "--task", "mslam_speech_translation", "--config-yaml",
            "config_st.yaml", "--arch", "mslam_st_tiny", "--criterion",
            "label_smoothed_cross_entropy", "--max-tokens", "4000", "--log-interval", "1",
            "--log-format", "simple", "--save-dir", tmp_path / "mt", "--train-subset", "mt_train"]
    out = _run("fairseq-train", *args, "--source-modality", "text")
    assert re.search(r"num_updates=2\b", out) and "done training" in out
    proc = subprocess.run([str(BIN / "fairseq-train"), *map(str, args)], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode != 0 and 'named like "train*"' in proc.stderr


def _fairseq_covost_dir(corpus: Path, root: Path) -> None:
    """A CoVoST 2 fr->en directory exactly as fairseq's examples/speech_to_text/
    prep_covost_data.py writes it: ``fr/`` with fbank80.zip, ``{split}_st_fr_en.tsv`` (id,
    audio, n_frames, tgt_text, speaker; audio relative to the data root), a SentencePiece
    model and ``config_st_fr_en.yaml``; commands run from the data root."""
    lang = root / "fr"
    lang.mkdir(parents=True)
    rows = [line.split("\t") for line in (corpus / "train_st.tsv").read_text().splitlines()[1:]]
    with zipfile.ZipFile(corpus / "fbank80.zip") as src, \
            zipfile.ZipFile(lang / "fbank80.zip", "w", zipfile.ZIP_STORED) as dst:
        for r in rows:
            dst.writestr(f"{r[0]}.npy", src.read(f"{r[0]}.npy"))
    refs = {}
    with zipfile.ZipFile(lang / "fbank80.zip") as z:
        for info in z.infolist():
            off = info.header_offset + 30 + len(info.filename.encode())
            refs[info.filename[:-4]] = f"fr/fbank80.zip:{off}:{info.file_size}"
    for split, part in (("train", rows), ("dev", rows[:2]), ("test", rows[2:4])):
        lines = ["id\taudio\tn_frames\ttgt_text\tspeaker"]
        lines += [f"{r[0]}\t{refs[r[0]]}\t{r[2]}\t{r[3]}\t{r[4]}" for r in part]
        (lang / f"{split}_st_fr_en.tsv").write_text("\n".join(lines) + "\n")
    for suffix in ("model", "txt"):
        shutil.copy(corpus / f"spm_unigram_en.{suffix}", lang / f"spm_char_st_fr_en.{suffix}")
    (lang / "config_st_fr_en.yaml").write_text(
        "bpe_tokenizer:\n  bpe: sentencepiece\n  sentencepiece_model: spm_char_st_fr_en.model\n"
        "input_channels: 1\ninput_feat_per_channel: 80\nspecaugment:\n  freq_mask_F: 27\n"
        "  freq_mask_N: 1\n  time_mask_N: 1\n  time_mask_T: 100\n  time_mask_p: 1.0\n"
        "  time_wrap_W: 0\ntransforms:\n  '*':\n  - utterance_cmvn\n  _train:\n"
        "  - utterance_cmvn\n  - specaugment\nvocab_filename: spm_char_st_fr_en.txt\n")


@pytest.mark.slow
def test_fairseq_prepared_covost2_directory_works_unchanged(tiny_corpus, tmp_path):
    root = tmp_path / "covost"
    _fairseq_covost_dir(tiny_corpus, root)
    # no character vocabulary in a fairseq CoVoST directory: speech input only, the
    # encoder's text embedding sized by --text-vocab-size (or a pre-training checkpoint)
    n_chars = len(load_char_dictionary(tiny_corpus / "dict.char.txt"))
    out = _run("fairseq-train", "fr", *COMMON, "--task", "mslam_speech_translation",
               "--config-yaml", "config_st_fr_en.yaml", "--train-subset", "train_st_fr_en",
               "--text-vocab-size", n_chars, "--arch", "mslam_st_tiny", "--criterion",
               "label_smoothed_cross_entropy", "--max-tokens", "4000",
               "--save-dir", tmp_path / "st", cwd=root)
    assert "speech input only" in out
    assert "sample rate above 16 kHz" not in out  # the features were extracted at 16 kHz
    gen = _generate("fr", tmp_path / "st/checkpoint_last.pt", "--config-yaml",
                    "config_st_fr_en.yaml", "--gen-subset", "test_st_fr_en", cwd=root)
    assert len(re.findall(r"^D-\d+\t", gen, flags=re.M)) == 2
    assert re.search(r"BLEU = [0-9.]+", gen)


@pytest.mark.slow
def test_manifests_of_audio_files_read_like_filterbank_zips(tiny_corpus, tmp_path):
    """Stock fairseq cannot read audio paths with torchaudio 2.9 (no sox_effects); the
    task reads them itself, giving the features the zip stores."""
    from fairseq import options, tasks

    zipped = [line.split("\t") for line in (tiny_corpus / "test_st.tsv").read_text().splitlines()]
    flac = {r["id"]: r["audio"] for r in mf.read_manifest(tiny_corpus / "paired_test.tsv", "paired").rows}
    lines = ["\t".join(zipped[0])]
    lines += ["\t".join([r[0], str(tiny_corpus / flac[r[0]]), *r[2:]]) for r in zipped[1:]]
    (tmp_path / "raw_st.tsv").write_text("\n".join(lines) + "\n")
    shutil.copy(tiny_corpus / "test_st.tsv", tmp_path / "zip_st.tsv")
    config = (tiny_corpus / "config_st.yaml").read_text()
    (tmp_path / "config_st.yaml").write_text(config)  # audio_root: the corpus (zip refs)
    for name in ("spm_unigram_en.txt", "dict.char.txt"):
        shutil.copy(tiny_corpus / name, tmp_path / name)
    args = options.parse_args_and_arch(options.get_training_parser(), [
        str(tmp_path), "--user-dir", str(REPO / "mslam_plugin"), "--task",
        "mslam_speech_translation", "--config-yaml", "config_st.yaml", "--arch", "mslam_st_tiny"])
    task = tasks.setup_task(args)
    for split in ("raw_st", "zip_st"):
        task.load_dataset(split)
    for i in range(len(zipped) - 1):
        a, b = task.dataset("raw_st")[i].source, task.dataset("zip_st")[i].source
        assert a.shape == b.shape and a.shape[1] == 80
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)
