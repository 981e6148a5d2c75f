"""Task manifests of the tiny corpus, in fairseq speech_to_text conventions.

One multi-way unit gives a row in each of: speech-only (masked speech modelling),
paired speech + transcript (TLM, CTC, ASR), X->En speech translation and X->En text
translation. The ST rows point at a filterbank zip; the ST directory also gets a
SentencePiece model of the English targets and the ``config_st.yaml`` that fairseq's
speech_to_text task reads (:mod:`mslam_plugin.corpus.speech_to_text`).
"""

from __future__ import annotations

from pathlib import Path

from ...data import manifest as mf
from ..speech_to_text import write_fbank_zip


def task_rows(unit: dict[str, str], audio: dict[str, str], fbank_ref: str
              ) -> dict[str, dict[str, str]]:
    """The row of each manifest kind that one (unit, language) gives; ST rows point at
    the filterbank zip, the others at the FLAC file."""
    n_frames = str(mf.num_fbank_frames(int(audio["n_samples"])))
    common = {"id": audio["id"], "audio": audio["audio"], "n_frames": n_frames,
              "speaker": audio["speaker"]}
    lang, text, en = unit["lang"], unit["text"], unit["en"]
    return {
        "speech": {**common, "lang": lang},
        "paired": {**common, "tgt_text": text, "src_lang": lang},
        "st": {**common, "audio": fbank_ref, "tgt_text": en, "src_text": text,
               "src_lang": lang, "tgt_lang": "en"},
        "mt": {"id": audio["id"], "src_text": text, "tgt_text": en, "src_lang": lang,
               "tgt_lang": "en"},
    }


def write_task_manifests(out: Path, units: list[dict[str, str]],
                         audio: dict[str, dict[str, str]]) -> dict[str, int]:
    """Write {speech,paired,mt}_{split}.tsv and {split}_st.tsv; returns rows per file."""
    by_file: dict[str, list[dict[str, str]]] = {}
    refs = write_fbank_zip(out, {uid: out / row["audio"] for uid, row in audio.items()})
    for unit in units:
        uid = f"{unit['uid']}_{unit['lang']}"
        rows = task_rows(unit, audio[uid], refs[uid])
        for kind, row in rows.items():
            if kind == "speech" and unit["split"] == "test":
                continue  # unlabeled speech never includes evaluation audio
            name = f"{unit['split']}_st" if kind == "st" else f"{kind}_{unit['split']}"
            by_file.setdefault(name, []).append(row)
    for name, rows in by_file.items():
        mf.write_manifest(out / f"{name}.tsv", mf.kind_of(name), rows)
    return {name: len(rows) for name, rows in sorted(by_file.items())}
