"""Speech translation reads its manifests through the package's validated reader: shifted
columns, a misspelled header, duplicate ids and empty targets are FILE:LINE errors (or
skipped and counted), and relative audio paths resolve against the manifest's directory,
whatever the working directory."""

import argparse
from pathlib import Path

import pytest

from mslam_plugin.data.manifest import COLUMNS, ManifestError
from mslam_plugin.data.s2t_manifest import validated_creator

HEADER = "\t".join(COLUMNS["st"])


def _corpus(root: Path, rows: list[str], header: str = HEADER) -> None:
    (root / "fbank80.zip").write_bytes(b"\0" * 4096)
    (root / "train_st.tsv").write_text(header + "\n" + "".join(r + "\n" for r in rows))


def _row(uid: str, tgt: str = "hello", audio: str = "fbank80.zip:0:100") -> str:
    return "\t".join([uid, audio, "48", tgt, "spk", "hallo", "de", "en"])


def _load(root: Path, skip: bool = False, audio_root: str = ""):
    return validated_creator(audio_root, skip)._load_samples_from_tsv(str(root), "train_st")


@pytest.mark.parametrize("bad,message", [
    (_row("b")[: _row("b").rindex("\t")], "expected 8 columns, found 7"),  # a missing column
    (_row("a"), "duplicate id 'a'"),
    (_row("b", tgt=" "), "empty tgt_text"),
    (_row("b", audio="missing.zip:0:100"), "audio file not found"),
])
def test_bad_rows_are_located(tmp_path, bad, message):
    _corpus(tmp_path, [_row("a"), bad, _row("c")])
    with pytest.raises(ManifestError, match=rf"train_st.tsv:3: .*{message}"):
        _load(tmp_path)
    rows = _load(tmp_path, skip=True)
    assert [r["id"] for r in rows] == ["a", "c"]


def test_misspelled_header_names_the_missing_column(tmp_path):
    _corpus(tmp_path, [_row("a")], header=HEADER.replace("tgt_text", "tgt_txt"))
    with pytest.raises(ManifestError, match=r"train_st.tsv:1: header lacks column\(s\) tgt_text"):
        _load(tmp_path)


def test_relative_audio_resolves_against_the_manifest_not_the_working_directory(
        tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    _corpus(data, [_row("a")])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "fbank80.zip").write_bytes(b"\0" * 4096)  # a decoy in the working directory
    monkeypatch.chdir(elsewhere)
    (row,) = _load(Path("../data"))
    assert Path(row["audio"].rsplit(":", 2)[0]).resolve() == (data / "fbank80.zip").resolve()


def test_the_task_accepts_skip_invalid():
    from mslam_plugin.tasks.mslam_speech_translation import MSLAMSpeechTranslationTask

    parser = argparse.ArgumentParser()
    MSLAMSpeechTranslationTask.add_args(parser)
    assert parser.parse_args(["d", "--skip-invalid"]).skip_invalid


def test_raw_audio_with_non_finite_samples_is_named(tmp_path):
    import numpy as np
    import soundfile as sf

    from mslam_plugin.data.audio import read_waveform

    x = np.zeros(16000, dtype=np.float32)
    x[5] = np.inf
    sf.write(tmp_path / "inf.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"inf.wav: 1 non-finite samples"):
        read_waveform(str(tmp_path / "inf.wav"))


def _st_dataset(root: Path, skip: bool):
    """fairseq's speech_to_text dataset of ``root/train_st.tsv`` as the task builds it."""
    from fairseq.data import Dictionary
    from fairseq.data.audio.data_cfg import S2TDataConfig

    from mslam_plugin.data.s2t_audio import reads_audio_files

    (root / "config.yaml").write_text("input_channels: 1\ninput_feat_per_channel: 80\n")
    tgt = Dictionary()
    for c in "hello":
        tgt.add_symbol(c)
    creator = validated_creator("", skip)
    dataset = creator._from_tsv(str(root), S2TDataConfig(root / "config.yaml"), "train_st",
                                tgt, True, None, None, 1, None)
    return reads_audio_files(dataset)


def test_audio_failing_when_read_is_located_or_skipped(tmp_path):
    import numpy as np
    import soundfile as sf

    t = np.arange(16000) / 16000
    sf.write(tmp_path / "good.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    sf.write(tmp_path / "full.flac", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    data = (tmp_path / "full.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 3])  # decoder loses sync
    sf.write(tmp_path / "short.wav", np.zeros(100, dtype=np.float32), 16000)
    stereo = np.stack([np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)] * 2, 1)
    sf.write(tmp_path / "stereo44.wav", (0.3 * stereo).astype(np.float32), 44100)
    rows = [_row("g", audio="good.wav"), _row("c", audio="cut.flac"), _row("s", audio="short.wav"),
            _row("x", audio="stereo44.wav")]
    _corpus(tmp_path, rows)
    manifest = tmp_path / "train_st.tsv"
    strict = _st_dataset(tmp_path, skip=False)
    assert strict[0] is not None and strict[0].source.shape[1] == 80
    with pytest.raises(ValueError, match=rf"^{manifest}:3: audio unreadable: .*cut.flac"):
        strict[1]
    with pytest.raises(ValueError, match=rf"^{manifest}:4: audio too short for one 25 ms"):
        strict[2]
    # the rule of every task: 16 kHz mono, not resampled or down-mixed when read
    with pytest.raises(ValueError, match=rf"^{manifest}:5: .*stereo44.wav must be 16 kHz mono"):
        strict[3]
    skipping = _st_dataset(tmp_path, skip=True)
    items = [skipping[i] for i in range(4)]
    assert items[0] is not None and items[1] is None and items[2] is None and items[3] is None
    assert dict(skipping.skips.counts) == {"audio_undecodable": 1, "audio_too_short": 1,
                                           "audio_format": 1}
    batch = skipping.collater(items)
    assert batch["nsentences"] == 1 and batch["id"].tolist() == [0]
    assert skipping[1] is None  # never read again


def test_source_transcripts_stay_aligned_when_rows_are_skipped(tmp_path):
    import numpy as np
    import soundfile as sf
    from fairseq.data import Dictionary

    from mslam_plugin.data.source_chars import with_source_chars

    t = np.arange(16000) / 16000
    sf.write(tmp_path / "good.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    (tmp_path / "bad.wav").write_bytes(b"RIFF not audio")
    rows = [_row("b", audio="bad.wav").replace("hallo", "ab"),
            _row("g", audio="good.wav").replace("hallo", "ba")]
    _corpus(tmp_path, rows)
    chars = Dictionary()
    for c in "ab":
        chars.add_symbol(c)
    dataset = with_source_chars(_st_dataset(tmp_path, skip=True), chars)
    items = [dataset[0], dataset[1]]
    assert items[0] is None and items[1] is not None
    batch = dataset.collater(items)
    assert batch["id"].tolist() == [1]
    assert batch["source_chars"].tolist() == [[chars.index("b"), chars.index("a")]]
