"""examples/covost2 preparation on a fixture in the released formats: Common Voice
(validated.tsv + 48 kHz MP3 clips) and CoVoST 2 (covost_v2.<lang>_en.tsv with a split
column), made from the tiny corpus."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from fairseq import options, tasks

from mslam_plugin.corpus.covost2 import prepare
from mslam_plugin.data import manifest as mf

REPO = Path(__file__).resolve().parents[1]
CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccent"


def _fixture(corpus: Path, root: Path) -> dict[str, int]:
    """Common Voice + CoVoST 2 copies of the tiny corpus; returns the expected counts."""
    cv, covost = root / "cv", root / "covost"
    covost.mkdir(parents=True)
    expected = {"train": 0, "dev": 0, "test": 0}
    for lang in ("de", "ko"):
        (cv / lang / "clips").mkdir(parents=True)
        validated, translations = [CV_HEADER], ["path\tsentence\ttranslation\tclient_id\tsplit"]
        for split in ("train", "dev", "test"):
            paired = mf.read_manifest(corpus / f"paired_{split}.tsv", "paired").rows
            mt = {r["id"]: r for r in mf.read_manifest(corpus / f"mt_{split}.tsv", "mt").rows}
            for k, row in enumerate(r for r in paired if r["src_lang"] == lang):
                name = f"common_voice_{lang}_{row['id'].split('_')[0]}.mp3"
                wav, rate = sf.read(str(corpus / row["audio"]), dtype="float32")
                wav48 = torchaudio.functional.resample(torch.from_numpy(wav), rate, 48000)
                sf.write(str(cv / lang / "clips" / name), wav48.numpy(), 48000, format="MP3")
                validated.append(f"spk{k}\t{name}\t{row['tgt_text']}\t2\t0\t\t\t")
                covost_split = "train_covost" if split == "train" and k == 0 else split
                translations.append(f"{name}\t{row['tgt_text']}\t{mt[row['id']]['tgt_text']}"
                                    f"\tspk{k}\t{covost_split}")
                expected[split] += 1
        translations.append("common_voice_missing.mp3\tx\ty\tspk9\ttrain")  # clip absent
        validated.append("spk9\tcommon_voice_missing.mp3\tx\t2\t0\t\t\t")
        (cv / lang / "validated.tsv").write_text("\n".join(validated) + "\n")
        (covost / f"covost_v2.{lang}_en.tsv").write_text("\n".join(translations) + "\n")
    return expected


@pytest.mark.slow
def test_prepare_covost2_from_release_formats(tiny_corpus, tmp_path):
    expected = _fixture(tiny_corpus, tmp_path)
    out = tmp_path / "prepared"
    counts = prepare(tmp_path / "cv", tmp_path / "covost", ["de", "ko"], out, spm_vocab_size=60)
    assert {k: counts[f"{k}_st"] for k in expected} == expected
    assert counts["skipped_missing_clip"] == 2
    original = {r["id"]: r for r in mf.read_manifest(tiny_corpus / "train_st.tsv", "st").rows}
    for split in expected:
        st = mf.read_manifest(out / f"{split}_st.tsv", "st").rows  # zip refs checked too
        mt = mf.read_manifest(out / f"mt_{split}.tsv", "mt").rows
        assert [r["tgt_text"] for r in st] == [r["tgt_text"] for r in mt]
        if split == "train":
            for r in st:
                _, _, lang, unit = r["id"].split("_")  # common_voice_<lang>_<unit>
                orig = original[f"{unit}_{lang}"]
                assert r["src_text"] and r["tgt_text"] == orig["tgt_text"]
                # 48 kHz MP3 back to 16 kHz: the same duration within the codec's padding
                assert abs(int(r["n_frames"]) - int(orig["n_frames"])) <= 8
    # fairseq's speech_to_text machinery (through our task) reads the result
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [
        str(out), "--user-dir", str(REPO / "mslam_plugin"), "--task",
        "mslam_speech_translation", "--config-yaml", "config_st.yaml", "--char-vocab",
        str(tiny_corpus / "dict.char.txt"), "--arch", "mslam_st_tiny"])
    task = tasks.setup_task(args)
    task.load_dataset("train_st")
    item = task.dataset("train_st")[0]
    assert item.source.shape[1] == 80 and item.target[-1] == task.target_dictionary.eos()


def test_prepare_cli_names_the_bad_file(tmp_path):
    (tmp_path / "cv/de").mkdir(parents=True)
    (tmp_path / "cv/de/validated.tsv").write_text("client_id\tpath\n")
    proc = subprocess.run([sys.executable, "-m", "mslam_plugin.corpus.covost2", "--cv-root",
                           str(tmp_path / "cv"), "--covost-dir", str(tmp_path), "--langs", "de",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "validated.tsv:1: header lacks column(s) sentence" in proc.stderr
