"""Manifest validation: every bad-input case names the file and line, or is skipped and
counted when the reader is asked to skip."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mslam_plugin.data.manifest import (COLUMNS, ManifestError, num_fbank_frames,
                                        read_manifest, write_manifest)

HEADER = "\t".join(COLUMNS["paired"])


def _wav(path: Path, seconds=0.5, rate=16000, channels=1, fmt="FLAC"):
    data = np.zeros((int(seconds * rate), channels), dtype=np.float32) + 0.01
    sf.write(path, data if channels > 1 else data[:, 0], rate, format=fmt)
    return path.name


@pytest.fixture
def corpus(tmp_path):
    good = _wav(tmp_path / "good.flac")
    return tmp_path, good


def _manifest(tmp_path, rows, header=HEADER):
    path = tmp_path / "paired_train.tsv"
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8",
                    errors="surrogateescape")  # "\udce9" is written as the byte 0xe9
    return path


def _row(uid, audio, text="hallo welt", n_frames="48"):
    return "\t".join([uid, audio, n_frames, text, "de+f2", "de"])


def test_valid_manifest_reads_all_rows(corpus):
    root, good = corpus
    path = _manifest(root, [_row("a", good), _row("b", good)])
    m = read_manifest(path, "paired")
    assert [r["id"] for r in m.rows] == ["a", "b"] and not m.skipped


BAD_CASES = {
    "audio_missing": lambda root: _row("x", "nope.flac"),
    "audio_unreadable": lambda root: (root.joinpath("bad.flac").write_bytes(b"not audio"),
                                      _row("x", "bad.flac"))[1],
    "audio_empty": lambda root: _row("x", _wav(root / "empty.wav", seconds=0, fmt="WAV")),
    "audio_not_mono": lambda root: _row("x", _wav(root / "st.flac", channels=2)),
    "audio_sample_rate": lambda root: _row("x", _wav(root / "r8k.flac", rate=8000)),
    "column_count": lambda root: "x\tgood.flac\t48\thallo",
    "duplicate_id": lambda root: _row("a", "good.flac"),
    "empty_tgt_text": lambda root: _row("x", "good.flac", text="  "),
    "bad_n_frames": lambda root: _row("x", "good.flac", n_frames="-3"),
    "n_frames_mismatch": lambda root: _row("x", "good.flac", n_frames="10"),
    "audio_too_short": lambda root: _row("x", _wav(root / "short.flac", seconds=100 / 16000),
                                         n_frames="1"),
    "not_utf8": lambda root: _row("x", "good.flac", text="caf\udce9 latin-1"),
}
MESSAGES = {"audio_missing": "not found", "audio_unreadable": "unreadable",
            "audio_empty": "empty", "audio_not_mono": "mono", "audio_sample_rate": "16000 Hz",
            "column_count": "expected 6 columns, found 4", "duplicate_id": "duplicate id",
            "empty_tgt_text": "empty tgt_text", "bad_n_frames": "positive integer",
            "n_frames_mismatch": "n_frames is 10, but", "audio_too_short": "100 samples",
            "not_utf8": "not UTF-8: byte 0xe9 at column 19"}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_row_error_names_file_and_line(corpus, case):
    root, good = corpus
    path = _manifest(root, [_row("a", good), BAD_CASES[case](root), _row("c", good)])
    with pytest.raises(ManifestError) as err:
        read_manifest(path, "paired")
    assert str(err.value).startswith(f"{path}:3: ")
    assert MESSAGES[case] in str(err.value)
    assert err.value.reason == case


def test_skip_invalid_skips_and_counts_every_case(corpus):
    root, good = corpus
    bad = [BAD_CASES[c](root) for c in sorted(BAD_CASES)]
    path = _manifest(root, [_row("a", good)] + bad + [_row("z", good)])
    m = read_manifest(path, "paired", skip_invalid=True)
    assert [r["id"] for r in m.rows] == ["a", "z"]
    assert dict(m.skipped) == {c: 1 for c in BAD_CASES}


def test_header_missing_column_is_fatal_even_when_skipping(corpus):
    root, good = corpus
    path = _manifest(root, ["a\tgood.flac\t48"], header="id\taudio\tn_frames")
    with pytest.raises(ManifestError, match=r":1: header lacks column\(s\) tgt_text"):
        read_manifest(path, "paired", skip_invalid=True)


def test_fairseq_fbank_zip_reference_is_accepted(tmp_path):
    (tmp_path / "fbank80.zip").write_bytes(b"\0" * 100)
    rows = ["a\tfbank80.zip:10:50\t12\thello\tspk\tfr", "b\tfbank80.zip:90:50\t12\thi\tspk\tfr"]
    path = _manifest(tmp_path, rows)
    with pytest.raises(ManifestError, match=r":3: zip slice out of range"):
        read_manifest(path, "paired")


def test_write_then_read_round_trip_and_refuses_tabs(corpus):
    root, good = corpus
    row = {"id": "u1", "src_text": "Hallo Welt", "tgt_text": "Hello world",
           "src_lang": "de", "tgt_lang": "en"}
    write_manifest(root / "mt_train.tsv", "mt", [row])
    assert read_manifest(root / "mt_train.tsv", "mt").rows == [row]
    with pytest.raises(ValueError, match="tab or newline"):
        write_manifest(root / "mt_dev.tsv", "mt", [{**row, "src_text": "a\tb"}])


def test_fbank_frame_count_matches_kaldi_fbank():
    import torch
    import torchaudio

    for n in (400, 401, 559, 560, 16000, 23457):
        feats = torchaudio.compliance.kaldi.fbank(torch.zeros(1, n) + 0.1, num_mel_bins=80)
        assert feats.shape[0] == num_fbank_frames(n)
    assert num_fbank_frames(399) == 0
