"""fairseq speech_to_text manifests read through this package's validated reader.

fairseq reads ``{split}.tsv`` with ``csv.DictReader`` and no checks: a row with a missing
column trains on shifted fields, duplicate ids and empty targets pass, a misspelled header
fails later with ``KeyError``, and relative audio paths resolve against the working
directory when the config sets no ``audio_root``. :func:`validated_creator` gives
fairseq's dataset creator the rows of :func:`mslam_plugin.data.manifest.read_manifest`
instead: every problem is ``FILE:LINE: message`` at start-up (or, with ``--skip-invalid``,
a skipped and counted row), and audio paths are resolved against the config's
``audio_root`` or, without one, the manifest's directory. fairseq's own CoVoST 2
preparation writes paths relative to the directory it is run from (``fr/fbank80.zip``
in ``fr/train_st_fr_en.tsv``): when a manifest's first audio file is not found beside
the manifest but is from the working directory, that manifest is read that way, and the
log says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fairseq.data.audio.speech_to_text_dataset import SpeechToTextDatasetCreator

from . import manifest as mf
from .sources import ReadSkips

logger = logging.getLogger(__name__)


def absolute_audio(audio: str, root: Path) -> str:
    """``audio`` (a file, or fairseq's ``file.zip:offset:length``) with its file made
    absolute against ``root``."""
    if mf._is_zip_ref(audio):
        path, offset, length = audio.rsplit(":", 2)
        return f"{mf.resolve_audio(path, root).absolute()}:{offset}:{length}"
    return str(mf.resolve_audio(audio, root).absolute())


def _relative_base(path: Path) -> Path:
    """The manifest's directory, or the working directory for a manifest whose first
    audio path exists only from there (fairseq's CoVoST 2 layout)."""
    with path.open("rb") as f:
        header = f.readline().decode("utf-8", "replace").rstrip("\r\n").split("\t")
        first = f.readline().decode("utf-8", "replace").rstrip("\r\n").split("\t")
    if "audio" not in header or len(first) != len(header):
        return path.parent  # the reader reports the problem with its line
    audio = first[header.index("audio")]
    if mf.resolve_audio(audio, path.parent).exists() or not mf.resolve_audio(audio, Path.cwd()).exists():
        return path.parent
    logger.info("%s: audio paths are relative to the working directory (%s), as fairseq's "
                "CoVoST 2 preparation writes them; set audio_root in the data config to say "
                "so explicitly", path, Path.cwd())
    return Path.cwd()


def validated_creator(audio_root: str, skip_invalid: bool) -> type[SpeechToTextDatasetCreator]:
    """fairseq's SpeechToTextDatasetCreator reading manifests through ``read_manifest``
    (kind ``st``); ``audio_root`` is the data config's (empty: each manifest's directory)."""

    locations: dict[str, dict[str, str]] = {}  # split -> id -> "manifest:line"

    class ValidatedCreator(SpeechToTextDatasetCreator):
        @classmethod
        def _from_tsv(cls, root, cfg, split, *args, **kwargs):
            """fairseq's dataset, knowing each row's manifest line and whether to skip
            audio that fails when read (:mod:`mslam_plugin.data.s2t_audio`)."""
            dataset = super()._from_tsv(root, cfg, split, *args, **kwargs)
            dataset.locations = locations.get(split, {})
            dataset.skips = ReadSkips(skip_invalid)
            return dataset

        @classmethod
        def _load_samples_from_tsv(cls, root: str, split: str):
            path = Path(root) / f"{split}.tsv"
            base = Path(audio_root) if audio_root else _relative_base(path)
            # audio is only looked for: fairseq's stored features (.npy, zip slices) and
            # raw audio, checked when read (mslam_plugin.data.s2t_audio), with n_frames in
            # samples when the config sets use_audio_input
            m = mf.read_manifest(path, "st", skip_invalid=skip_invalid, audio_root=base,
                                 check_audio_files="exists")
            if not m.rows:
                raise ValueError(f"{path}: no usable rows ({dict(m.skipped)})")
            locations[split] = {r["id"]: f"{path}:{line}" for r, line in zip(m.rows, m.lines)}
            return [dict(r, audio=absolute_audio(r["audio"], base)) for r in m.rows]

    return ValidatedCreator
