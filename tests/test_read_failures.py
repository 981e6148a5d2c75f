"""Audio that passes the start-up checks but fails when read (truncated or header-only
FLAC, NaN samples, a length that disagrees with n_frames): located as manifest:line at the
first read, or skipped and counted with skip_invalid."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fairseq.data import Dictionary

from mslam_plugin.data.asr_dataset import ASRDataset
from mslam_plugin.data.manifest import read_manifest
from mslam_plugin.data.item_source import ItemSource
from mslam_plugin.data.sources import AudioReadError


def _flac(path: Path, seconds=1.0) -> np.ndarray:
    x = (np.random.default_rng(0).normal(size=int(16000 * seconds)) * 0.1).astype(np.float32)
    sf.write(path, x, 16000)
    return x


def _corpus(root: Path) -> Path:
    _flac(root / "good.flac")
    data = (root / "good.flac").read_bytes()
    (root / "truncated.flac").write_bytes(data[: len(data) // 2])
    (root / "header_only.flac").write_bytes(data[:200])
    nan = _flac(root / "tmp.flac")
    nan[100] = np.nan
    sf.write(root / "nan.wav", nan, 16000, subtype="FLOAT")
    rows = ["id\taudio\tn_frames\ttgt_text\tspeaker\tsrc_lang"]
    for uid in ("good", "truncated", "header_only", "nan"):
        ext = "wav" if uid == "nan" else "flac"
        rows.append(f"{uid}\t{uid}.{ext}\t98\tab\ts\tde")
    path = root / "paired_train.tsv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def chars():
    d = Dictionary()
    for c in "ab":
        d.add_symbol(c)
    return d


def test_broken_audio_passes_validation_but_is_located_when_read(tmp_path, chars):
    path = _corpus(tmp_path)
    assert len(read_manifest(path, "paired").rows) == 4  # headers look fine
    src = ItemSource(path, "paired", chars)
    assert src.load(0)["fbank"].shape == (98, 80)
    expected = {1: ("paired_train.tsv:3: audio unreadable", "lost sync"),
                2: ("paired_train.tsv:4: audio unreadable", "header_only.flac"),
                3: ("paired_train.tsv:5: ", "1 non-finite samples")}
    for i, (where, what) in expected.items():
        with pytest.raises(AudioReadError) as err:
            src.load(i)
        assert where in str(err.value) and what in str(err.value)


def test_skip_invalid_skips_counts_and_never_rereads(tmp_path, chars, caplog):
    path = _corpus(tmp_path)
    src = ItemSource(path, "paired", chars, skip_invalid=True)
    assert [src.load(i) is None for i in range(4)] == [False, True, True, True]
    assert dict(src.skips.counts) == {"audio_undecodable": 2, "audio_nonfinite": 1}
    (tmp_path / "nan.wav").unlink()  # a skipped row is not read again
    assert src.load(3) is None and sum(src.skips.counts.values()) == 3
    assert "skipped (--skip-invalid; 3 rows skipped" in caplog.text


def test_length_disagreeing_with_n_frames_is_located(tmp_path, chars):
    _flac(tmp_path / "a.flac", seconds=1.0)
    path = tmp_path / "paired_train.tsv"
    path.write_text("id\taudio\tn_frames\ttgt_text\tspeaker\tsrc_lang\na\ta.flac\t98\tab\ts\tde\n")
    src = ItemSource(path, "paired", chars, max_frames=10 ** 6)
    _flac(tmp_path / "a.flac", seconds=60.0)  # replaced after start-up
    with pytest.raises(AudioReadError, match=r"paired_train.tsv:2: n_frames is 98, but .* 5998 frames"):
        src.load(0)


def test_asr_batches_drop_rows_skipped_when_read(tmp_path, chars):
    path = _corpus(tmp_path)
    ds = ASRDataset(path, chars, skip_invalid=True, placeholder=True)  # a training split
    batch = ds.collater([ds[i] for i in range(4)])
    assert batch["nsentences"] == 1 and batch["net_input"]["src_tokens"].shape[1] == 98
    # every row skipped: the first readable row, marked so the criterion weighs it 0 (an
    # empty batch would become fairseq's "dummy" batch were it the epoch's first)
    placeholder = ds.collater([ds[1], ds[2]])
    assert placeholder["placeholder"] and placeholder["nsentences"] == 0
    assert placeholder["id"].tolist() == [0] and placeholder["ntokens"] == 0
    # validation and decoding: fairseq's empty batch, which both skip (never scored)
    held_out = ASRDataset(path, chars, skip_invalid=True)
    assert held_out.collater([held_out[1], held_out[2]]) == {}


def test_validator_decode_mode_reports_every_failure_and_resumes(tmp_path, capsys):
    from mslam_plugin.cli.manifests import main_validate

    path = _corpus(tmp_path)
    state = tmp_path / "decoded.jsonl"
    assert main_validate(["paired", str(path), "--decode", "--workers", "2", "--state",
                          str(state)]) == 1
    out = capsys.readouterr().out
    assert "paired_train.tsv:3: audio unreadable" in out and "paired_train.tsv:5: " in out
    assert "decoded 4 audio files (4 now); 3 failed" in out
    assert main_validate(["paired", str(path), "--decode", "--state", str(state)]) == 1
    assert "decoded 4 audio files (0 now); 3 failed" in capsys.readouterr().out
