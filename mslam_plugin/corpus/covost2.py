"""CoVoST 2 X->En from a user's local copy, for mslam_speech_translation fine-tuning.

Inputs (nothing is downloaded):

- Common Voice (version 4, as CoVoST 2 uses): ``CV_ROOT/<lang>/validated.tsv`` (columns
  ``client_id, path, sentence, ...``) and ``CV_ROOT/<lang>/clips/<path>`` (MP3);
- CoVoST 2 translations: ``COVOST_DIR/covost_v2.<lang>_en.tsv`` (columns ``path,
  sentence, translation, client_id, split``, split one of train / train_covost / dev /
  test; the released files, as fairseq's prep_covost_data.py reads them).

Output (one multilingual directory): ``fbank80.zip`` (80-dim Kaldi filterbanks of the
clips resampled to 16 kHz), ``{train,dev,test}_st.tsv`` (id, audio, n_frames, tgt_text,
speaker, src_text, src_lang, tgt_lang), ``mt_{train,dev,test}.tsv`` (the same pairs as
text: speech + text fine-tuning and zero-shot text translation), a SentencePiece model of
the English targets and ``config_st.yaml``.

    mslam-prepare-covost2 --cv-root CV --covost-dir COVOST \
        --langs fr,de,es --out data/covost2 [--spm-vocab-size 8000]

(or ``python -m mslam_plugin.corpus.covost2``; ``examples/covost2/prepare.sh`` runs it).

Rows whose clip is missing or unreadable, or whose sentence or translation is empty, are
skipped and counted by reason; training rows longer than 30 s (3000 frames) are dropped,
as fairseq's preparation does.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from pathlib import Path

import torch

from ..data import manifest as mf
from ..data.audio import read_waveform
from ..data.fbank import fbank_features
from .speech_to_text import write_fbank_zip, write_st_config

logger = logging.getLogger(__name__)
SPLITS = {"train": "train", "train_covost": "train", "dev": "dev", "test": "test"}
MAX_TRAIN_FRAMES = 3000


def load_clip_fbank(path: Path) -> torch.Tensor:
    """(T, 80) filterbanks of any audio file soundfile reads (Common Voice: 48 kHz MP3),
    down-mixed to mono and resampled to 16 kHz."""
    return fbank_features(read_waveform(path))


def collect(cv_root: Path, covost_dir: Path, langs: list[str]
            ) -> tuple[dict[str, list[dict]], Counter]:
    """split -> rows (id, clip path, src_text, tgt_text, speaker, lang), skip counts."""
    rows: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    skipped: Counter = Counter()
    for lang in langs:
        cv = {r["path"]: r for r in mf.read_tsv(cv_root / lang / "validated.tsv",
                                                 ("client_id", "path", "sentence"))}
        covost_tsv = covost_dir / f"covost_v2.{lang}_en.tsv"
        for r in mf.read_tsv(covost_tsv, ("path", "translation", "split")):
            split = SPLITS.get(r["split"])
            if split is None:
                skipped["unknown_split"] += 1
                continue
            src = cv.get(r["path"])
            if src is None:
                skipped["not_in_validated_tsv"] += 1
                continue
            clip = cv_root / lang / "clips" / r["path"]
            if not clip.is_file():
                skipped["missing_clip"] += 1
                continue
            if not src["sentence"].strip() or not r["translation"].strip():
                skipped["empty_text"] += 1
                continue
            uid = Path(r["path"]).stem  # Common Voice clip names are unique across languages
            rows[split].append({"id": uid, "clip": clip, "src_text": src["sentence"].strip(),
                                "tgt_text": r["translation"].strip(),
                                "speaker": src["client_id"] or lang, "lang": lang})
    return rows, skipped


def prepare(cv_root: Path, covost_dir: Path, langs: list[str], out: Path,
            spm_vocab_size: int = 8000) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    rows, skipped = collect(cv_root, covost_dir, langs)
    clips = {r["id"]: r["clip"] for split in rows.values() for r in split}
    if not rows["train"]:
        raise ValueError(f"no usable training rows for {','.join(langs)} "
                         f"(skipped: {dict(skipped)})")

    frames: dict[str, int] = {}  # unreadable audio: a ValueError naming the clip
    refs = write_fbank_zip(out, clips, load_clip_fbank, frames)
    counts = {}
    for split, split_rows in rows.items():
        st, mt = [], []
        for r in split_rows:
            audio, n_frames = refs[r["id"]], frames[r["id"]]
            if split == "train" and n_frames > MAX_TRAIN_FRAMES:
                skipped["train_longer_than_30s"] += 1
                continue
            st.append({"id": r["id"], "audio": audio, "n_frames": str(n_frames),
                       "tgt_text": r["tgt_text"], "speaker": r["speaker"],
                       "src_text": r["src_text"], "src_lang": r["lang"], "tgt_lang": "en"})
            mt.append({"id": r["id"], "src_text": r["src_text"], "tgt_text": r["tgt_text"],
                       "src_lang": r["lang"], "tgt_lang": "en"})
        if st:
            mf.write_manifest(out / f"{split}_st.tsv", "st", st)
            mf.write_manifest(out / f"mt_{split}.tsv", "mt", mt)
        counts[f"{split}_st"] = len(st)
    write_st_config(out, spm_vocab_size)
    if skipped:
        logger.warning("skipped rows: %s", dict(skipped))
    counts.update({f"skipped_{k}": v for k, v in skipped.items()})
    return counts


if __name__ == "__main__":  # python -m mslam_plugin.corpus.covost2: mslam-prepare-covost2
    from ..cli.prepare import main_covost2

    sys.exit(main_covost2())
