"""Speech-only pre-training data from a user's local copies of Common Voice, Multilingual
LibriSpeech or VoxPopuli's unlabelled segments, written as one speech manifest per source
and language (``id, audio, n_frames, speaker, lang``) and listed in ``speech_train.list``
/ ``speech_dev.list``, which the ``mslam_pretraining`` task reads as shards of one kind.
Nothing is downloaded; transcripts are not used.

- Common Voice (any release): ``<root>/<lang>/validated.tsv`` (``client_id``, ``path``,
  ...) and ``<root>/<lang>/clips/<path>`` (MP3, 48 or 32 kHz): clips are decoded,
  down-mixed, resampled and written as 16 kHz FLAC under ``OUT/audio/commonvoice/<lang>/``.
- MLS (FLAC release): every ``<root>/mls_<language>/train/audio/<speaker>/<book>/*.flac``
  (16 kHz; dev and test are left for ASR evaluation), referenced where it lies.
- VoxPopuli unlabelled data (as its ``get_unlabelled_data.py`` leaves it):
  ``<root>/unlabelled_data/<lang>/<year>/*.ogg`` (16 kHz), referenced where it lies.

Audio that is not 16 kHz mono (other than Common Voice's, which is converted) is
converted the same way; unreadable or missing files are skipped and counted. The last
``--dev-per-lang`` utterances of each language (by id) go to the dev shard. Rerunning adds
or replaces one source's shards and rewrites the list files over every shard in OUT.

    mslam-prepare-unlabeled-speech commonvoice --root CV --langs de,fr --out data/pre
    mslam-prepare-unlabeled-speech mls --root MLS --langs german,french --out data/pre
    mslam-prepare-unlabeled-speech voxpopuli --root VP --langs de,fr --out data/pre

(or ``python -m mslam_plugin.corpus.unlabeled_speech``).
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from multiprocessing import get_context
from pathlib import Path

import soundfile as sf

from ..data import manifest as mf
from ..data.audio import SAMPLE_RATE, read_waveform
from .mls_voxpopuli import MLS_LANGS

logger = logging.getLogger(__name__)
SOURCES = ("commonvoice", "mls", "voxpopuli")


def _items(source: str, root: Path, lang: str) -> tuple[str, list[tuple[str, Path, str]]]:
    """(language code, [(utterance id, audio file, speaker)]) of one language."""
    if source == "commonvoice":
        rows = mf.read_tsv(root / lang / "validated.tsv", ("client_id", "path"))
        return lang, [(Path(r["path"]).stem, root / lang / "clips" / r["path"], r["client_id"])
                      for r in rows]
    if source == "mls":
        if lang not in MLS_LANGS:
            raise ValueError(f"unknown MLS language {lang!r} (one of {', '.join(MLS_LANGS)})")
        # the training split only: MLS dev / test evaluate ASR and must stay unseen
        files = sorted((root / f"mls_{lang}" / "train").glob("audio/*/*/*.flac"))
        if not files:
            raise FileNotFoundError(f"{root / f'mls_{lang}' / 'train'}: no audio/<speaker>/<book>/*.flac")
        return MLS_LANGS[lang], [(f.stem, f, f.parent.parent.name) for f in files]
    files = sorted((root / "unlabelled_data" / lang).glob("*/*.ogg"))
    if not files:
        raise FileNotFoundError(f"{root / 'unlabelled_data' / lang}: no <year>/*.ogg")
    return lang, [(f.stem, f, "unknown") for f in files]


def _row(job: tuple) -> tuple[dict | None, str]:
    """(manifest row, "") or (None, skip reason) for one utterance; converts audio that is
    not 16 kHz mono (always for Common Voice) into ``converted``."""
    uid, audio, speaker, lang, converted, convert = job
    if not audio.is_file():
        return None, "missing_audio"
    try:
        info = sf.info(str(audio))
        if convert or info.samplerate != SAMPLE_RATE or info.channels != 1:
            wav = read_waveform(str(audio)).numpy()
            converted.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(converted), wav, SAMPLE_RATE)
            audio, frames = converted, len(wav)
        else:
            frames = info.frames
    except (ValueError, RuntimeError, sf.LibsndfileError):
        return None, "unreadable_audio"
    n_frames = mf.num_fbank_frames(frames)
    if n_frames < 1:
        return None, "too_short"
    return {"id": uid, "audio": str(audio.resolve()), "n_frames": str(n_frames),
            "speaker": speaker or "unknown", "lang": lang}, ""


def prepare(source: str, root: Path, langs: list[str], out: Path, dev_per_lang: int = 20,
            workers: int = 1) -> Counter:
    """Write ``OUT/speech_{train,dev}_<source>_<lang>.tsv`` and the list files; returns
    the skip counts."""
    if source not in SOURCES:
        raise ValueError(f"`source` must be one of {SOURCES}, but is {source!r} instead.")
    out.mkdir(parents=True, exist_ok=True)
    skipped: Counter = Counter()
    for name in langs:
        lang, items = _items(source, root, name)
        jobs = [(f"{source}_{lang}_{uid}", audio, speaker, lang,
                 out / "audio" / source / lang / f"{uid}.flac", source == "commonvoice")
                for uid, audio, speaker in items]
        # spawned workers: a fork of a process whose torch threads have run can deadlock
        with get_context("spawn").Pool(workers) if workers > 1 else _Serial() as pool:
            results = list(pool.imap(_row, jobs, chunksize=16))
        rows = sorted((r for r, _ in results if r is not None), key=lambda r: r["id"])
        skipped.update(reason for r, reason in results if r is None)
        dev = rows[-dev_per_lang:] if dev_per_lang and len(rows) > dev_per_lang else []
        for split, part in (("train", rows[: len(rows) - len(dev)]), ("dev", dev)):
            shard = out / f"speech_{split}_{source}_{lang}.tsv"
            if part:
                mf.write_manifest(shard, "speech", part)
            else:
                shard.unlink(missing_ok=True)  # an earlier run's shard would stay listed
        logger.info("%s %s: %d train, %d dev utterances", source, lang, len(rows) - len(dev), len(dev))
    mf.write_shard_lists(out, "speech")
    if skipped:
        logger.warning("%s: skipped %s", source, dict(skipped))
    return skipped


class _Serial:
    """Pool's interface, in this process."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def imap(fn, jobs, chunksize=1):
        return map(fn, jobs)


if __name__ == "__main__":  # python -m mslam_plugin.corpus.unlabeled_speech
    from ..cli.prepare import main_unlabeled_speech

    sys.exit(main_unlabeled_speech())
