"""examples/asr preparation on fixtures in the released layouts of Multilingual
LibriSpeech (FLAC, transcripts.txt, limited-supervision handles) and VoxPopuli (asr_*.tsv
+ OGG), made from the tiny corpus."""

import shutil

import pytest
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from mslam_plugin.cli.prepare import main_mls_voxpopuli as main
from mslam_plugin.data import manifest as mf
from mslam_plugin.data.asr_dataset import ASRDataset
from mslam_plugin.data.graphemes import load_grapheme_dictionary

VP_HEADER = "id\traw_text\tnormalized_text\tspeaker_id\tsplit\tgender\tis_gold_transcript\taccent"


def _rows(corpus, split, lang):
    return [r for r in mf.read_manifest(corpus / f"paired_{split}.tsv", "paired").rows
            if r["src_lang"] == lang]


def _mls(corpus: Path, root: Path) -> dict[str, int]:
    counts = {}
    for split in ("train", "dev", "test"):
        lines = []
        for k, r in enumerate(_rows(corpus, split, "de")):
            uid = f"{100 + k}_7_{k:06d}"
            d = root / "mls_german" / split / "audio" / str(100 + k) / "7"
            d.mkdir(parents=True, exist_ok=True)
            shutil.copy(corpus / r["audio"], d / f"{uid}.flac")
            lines.append(f"{uid}\t{r['tgt_text']}")
        if split == "test":
            lines.append("999_7_000001\tkein Audio")  # audio missing: skipped, counted
        (root / "mls_german" / split / "transcripts.txt").write_text("\n".join(lines) + "\n")
        counts[split] = len(lines) - (split == "test")
    limited = root / "mls_german/train/limited_supervision"
    (limited / "9hr").mkdir(parents=True)
    (limited / "1hr/0").mkdir(parents=True)
    (limited / "9hr/handles.txt").write_text("100_7_000000\n")
    (limited / "1hr/0/handles.txt").write_text("101_7_000001\n")
    return counts


def _voxpopuli(corpus: Path, root: Path) -> dict[str, int]:
    counts = {}
    for split in ("train", "dev", "test"):
        lines = [VP_HEADER]
        for k, r in enumerate(_rows(corpus, split, "ko")):
            uid = f"2019{split}{k:04d}_ko"
            (root / "ko" / "2019").mkdir(parents=True, exist_ok=True)
            wav, rate = sf.read(str(corpus / r["audio"]))
            sf.write(str(root / "ko" / "2019" / f"{uid}.ogg"), wav, rate, format="OGG",
                     subtype="VORBIS")
            lines.append(f"{uid}\t{r['tgt_text']}\t{r['tgt_text']}\tspk{k}\t{split}\tfemale\tTrue\tNone")
        (root / "ko" / f"asr_{split}.tsv").write_text("\n".join(lines) + "\n")
        counts[split] = len(lines) - 1
    return counts


@pytest.mark.slow
def test_prepare_mls_and_voxpopuli(tiny_corpus, tmp_path, capsys):
    expected = _mls(tiny_corpus, tmp_path / "mls")
    assert main(["mls", "--root", str(tmp_path / "mls"), "--langs", "german",
                 "--out", str(tmp_path / "out_mls")]) == 0
    printed = capsys.readouterr().out
    assert "skipped_missing_audio\t1" in printed
    for split, n in expected.items():
        rows = mf.read_manifest(tmp_path / f"out_mls/paired_{split}.tsv", "paired").rows
        assert len(rows) == n and {r["src_lang"] for r in rows} == {"de"}
        assert (tmp_path / f"out_mls/paired_{split}_de.tsv").is_file()
    graphemes = load_grapheme_dictionary(tmp_path / "out_mls/dict.grapheme.txt")
    ds = ASRDataset(tmp_path / "out_mls/paired_train.tsv", graphemes)
    item = ds[0]
    assert item["fbank"].shape[1] == 80 and graphemes.unk() not in item["target"].tolist()

    assert main(["mls", "--root", str(tmp_path / "mls"), "--langs", "german", "--limited", "10h",
                 "--out", str(tmp_path / "out_10h")]) == 0
    rows = mf.read_manifest(tmp_path / "out_10h/paired_train.tsv", "paired").rows
    assert [r["id"] for r in rows] == ["100_7_000000_de", "101_7_000001_de"]

    expected = _voxpopuli(tiny_corpus, tmp_path / "vp")
    assert main(["voxpopuli", "--root", str(tmp_path / "vp"), "--langs", "ko",
                 "--out", str(tmp_path / "out_vp")]) == 0
    for split, n in expected.items():
        rows = mf.read_manifest(tmp_path / f"out_vp/paired_{split}.tsv", "paired").rows
        assert len(rows) == n and rows[0]["speaker"] == "spk0"
    assert (tmp_path / "out_vp/dict.grapheme.ko.txt").is_file()


def test_bad_transcript_line_is_named(tmp_path):
    (tmp_path / "mls_german/train").mkdir(parents=True)
    (tmp_path / "mls_german/train/transcripts.txt").write_text("a_b_c\tgut\nkaputt\n")
    proc = subprocess.run([sys.executable, "-m", "mslam_plugin.corpus.mls_voxpopuli", "mls",
                           "--root", str(tmp_path), "--langs", "german", "--out",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "mls_german/train/transcripts.txt:2: expected <speaker>_<book>_<utt>" in proc.stderr
