"""Speech-only pre-training shards from local Common Voice, MLS and VoxPopuli copies in
their distributed layouts, read by the pre-training sources as one sharded kind."""

import numpy as np
import pytest
import soundfile as sf
from fairseq.data import Dictionary

from mslam_plugin.cli.prepare import main_unlabeled_speech as main
from mslam_plugin.corpus.unlabeled_speech import prepare
from mslam_plugin.data.item_source import ItemSource
from mslam_plugin.data.manifest import read_manifest


def _tone(seconds: float, rate: int, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * (120 + 10 * seed) * t)).astype(np.float32)


def _common_voice(root, lang="de", n=4):
    (root / lang / "clips").mkdir(parents=True)
    lines = ["client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccent\tlocale\tsegment"]
    for i in range(n):
        name = f"common_voice_{lang}_{100 + i}.mp3"
        sf.write(root / lang / "clips" / name, _tone(1.0 + 0.2 * i, 48000, i), 48000, format="MP3")
        lines.append(f"spk{i % 2}\t{name}\tEin Satz {i}.\t2\t0\t\t\t\t{lang}\t")
    lines.append(f"spk9\tcommon_voice_{lang}_999.mp3\tfehlt\t2\t0\t\t\t\t{lang}\t")  # no clip
    (root / lang / "validated.tsv").write_text("\n".join(lines) + "\n")


def _mls(root, language="german"):
    for split, n in (("train", 3), ("dev", 1)):
        for i in range(n):
            d = root / f"mls_{language}" / split / "audio" / "1234" / "55"
            d.mkdir(parents=True, exist_ok=True)
            sf.write(d / f"1234_55_{split}{i:04d}.flac", _tone(1.5, 16000, i), 16000)


def _voxpopuli(root, lang="fr"):
    d = root / "unlabelled_data" / lang / "2019"
    d.mkdir(parents=True)
    for i in range(3):
        sf.write(d / f"20190115-0900-PLENARY-{i}_fr.ogg", _tone(2.0, 16000, i), 16000, format="OGG")
    (d / "truncated_fr.ogg").write_bytes(b"OggS" + b"\0" * 40)


def test_three_sources_become_shards_of_one_kind(tmp_path):
    cv, mls, vp, out = (tmp_path / x for x in ("cv", "mls", "vp", "out"))
    _common_voice(cv)
    _mls(mls)
    _voxpopuli(vp)
    skipped = prepare("commonvoice", cv, ["de"], out, dev_per_lang=1, workers=2)
    assert dict(skipped) == {"missing_audio": 1}
    assert main(["mls", "--root", str(mls), "--langs", "german", "--out", str(out),
                 "--dev-per-lang", "1"]) == 0
    assert dict(prepare("voxpopuli", vp, ["fr"], out, dev_per_lang=0)) == {"unreadable_audio": 1}
    train = (out / "speech_train.list").read_text().split()
    assert train == ["speech_train_commonvoice_de.tsv", "speech_train_mls_de.tsv",
                     "speech_train_voxpopuli_fr.tsv"]
    assert (out / "speech_dev.list").read_text().split() == [
        "speech_dev_commonvoice_de.tsv", "speech_dev_mls_de.tsv"]
    cv_rows = read_manifest(out / "speech_train_commonvoice_de.tsv", "speech").rows  # audio checked
    assert len(cv_rows) == 3 and all(r["lang"] == "de" for r in cv_rows)
    assert {r["speaker"] for r in cv_rows} == {"spk0", "spk1"}
    first = sf.info(cv_rows[0]["audio"])  # converted: 16 kHz mono FLAC, 1 s of 48 kHz MP3
    assert first.samplerate == 16000 and first.channels == 1 and first.format == "FLAC"
    mls_rows = read_manifest(out / "speech_train_mls_de.tsv", "speech").rows
    assert len(mls_rows) == 2 and all(r["audio"].endswith(".flac") and "mls_german" in r["audio"]
                                      and "/train/" in r["audio"] for r in mls_rows)  # in place
    assert {r["speaker"] for r in mls_rows} == {"1234"}
    source = ItemSource(out / "speech_train.list", "speech", Dictionary())
    assert len(source) == 8 and source.lang_names == ["de", "fr"]  # MLS: train split only
    assert source.lang_counts.tolist() == [5, 3]
    item = source.load(7)
    assert item["lang"] == "fr" and item["fbank"].shape == (198, 80)


def test_a_missing_corpus_is_one_clear_error(tmp_path, capsys):
    assert main(["voxpopuli", "--root", str(tmp_path), "--langs", "de", "--out",
                 str(tmp_path / "out")]) == 2
    assert "unlabelled_data/de: no <year>/*.ogg" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown MLS language 'klingon'"):
        prepare("mls", tmp_path, ["klingon"], tmp_path / "out")
