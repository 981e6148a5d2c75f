"""Offline multilingual corpus builder (the tiny corpus), one function per stage of
``examples/tiny/prepare.sh`` (the command: ``mslam-prepare-tiny STAGE --out DIR``, or
``python -m mslam_plugin.corpus.tiny.prepare``):

  units      multi-way (X, English) units from GNOME help, split train/dev/test
  synth      espeak-ng speech for every unit, 16 kHz mono FLAC
  text       unlabeled text in 100+ languages (GNOME help + gflanguages)
  manifests  speech-only, paired, ST, MT manifests + SentencePiece + config_st.yaml
  vocab      the character vocabulary (fairseq Dictionary) with per-language coverage,
             and the grapheme vocabulary of transducer ASR (paired_train transcripts)
  report     validate every manifest and write corpus_stats.json

Every stage is deterministic given ``--seed`` and reads only what earlier stages wrote.
A stage takes the command's options (:func:`mslam_plugin.cli.prepare.main_tiny`) as
attributes of one object: ``out``, ``help_root``, ``langs``, ``seed`` and the stage's own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from multiprocessing import Pool

import soundfile as sf

from ...data import manifest as mf
from ...data.audio import SAMPLE_RATE
from ...data.char_vocab import write_char_vocab
from ...data.graphemes import build_grapheme_dictionary
from ..speech_to_text import write_st_config
from . import synthesis, text_corpus, units
from .gnome_help import SOURCE as GNOME_SOURCE
from .manifests import write_task_manifests

logger = logging.getLogger("mslam_plugin.corpus")


def stage_units(args) -> None:
    sizes = {"train": args.train_units, "dev": args.dev_units, "test": args.test_units}
    rows, _ = units.extract_units(args.help_root, args.langs, sizes, args.seed,
                                  bilingual=args.bilingual)
    mf.write_tsv(args.out / "units.tsv", units.UNIT_COLUMNS, rows)
    n = len({r["uid"] for r in rows if r["split"] != "train" or not args.bilingual})
    logger.info("units: %d rows (%d units x %d languages%s) -> %s", len(rows), n,
                len(args.langs), " + bilingual training units" if args.bilingual else "",
                args.out / "units.tsv")


def _speaker(seed: int, uid: str, lang: str, variants: list[str]) -> str:
    h = int(hashlib.sha1(f"{seed}\t{uid}\t{lang}".encode()).hexdigest()[:8], 16)
    return synthesis.espeak_voice(lang, variants[h % len(variants)])


def stage_synth(args) -> None:
    rows = mf.read_tsv(args.out / "units.tsv")
    jobs, done = [], []
    for r in rows:
        rel = f"audio/{r['lang']}/{r['uid']}.flac"
        voice = _speaker(args.seed, r["uid"], r["lang"], args.variants)
        done.append({"id": f"{r['uid']}_{r['lang']}", "audio": rel, "speaker": voice})
        if not (args.out / rel).exists():  # resumable: finished files are kept
            jobs.append((r["text"], voice, str(args.out / rel), args.speed))
    synthesis.require_espeak()
    start, every = time.time(), max(1, len(jobs) // 10)
    with Pool(args.workers) as pool:
        for i, _ in enumerate(pool.imap_unordered(synthesis.synthesize_job, jobs, 8), 1):
            if i % every == 0 or i == len(jobs):
                logger.info("synth: %d/%d utterances (%.0f s)", i, len(jobs),
                            time.time() - start)
    for row in done:
        row["n_samples"] = sf.info(str(args.out / row["audio"])).frames
    mf.write_tsv(args.out / "audio.tsv", ("id", "audio", "n_samples", "speaker"), done)
    hours = sum(r["n_samples"] for r in done) / SAMPLE_RATE / 3600
    logger.info("synth: %d utterances, %.2f h of audio (%d newly synthesised)",
                len(done), hours, len(jobs))


def stage_text(args) -> None:
    held_out = {r["en"] for r in mf.read_tsv(args.out / "units.tsv") if r["split"] != "train"}
    rows = [(lang, text, GNOME_SOURCE)
            for lang, text in text_corpus.gnome_text(args.help_root, held_out)]
    rows += [(lang, text, text_corpus.GFL_SOURCE) for lang, text in
             text_corpus.gflanguages_text()]
    source = {(lang, text): src for lang, text, src in rows}
    splits = text_corpus.split_text([(lang, text) for lang, text, _ in rows], args.seed)
    for split, items in splits.items():
        out = [{"id": f"text{i:07d}", "text": t, "lang": lang, "source": source[(lang, t)]}
               for i, (lang, t) in enumerate(items)]
        mf.write_manifest(args.out / f"text_{split}.tsv", "text", out)
    logger.info("text: %d lines in %d languages (train %d, dev %d)",
                sum(len(v) for v in splits.values()),
                len({lang for lang, _ in splits["train"]}), len(splits["train"]),
                len(splits["dev"]))


def stage_manifests(args) -> None:
    audio = {r["id"]: r for r in mf.read_tsv(args.out / "audio.tsv")}
    written = write_task_manifests(args.out, mf.read_tsv(args.out / "units.tsv"), audio)
    write_st_config(args.out)
    logger.info("manifests: %s", ", ".join(f"{k} {v}" for k, v in written.items()))


def stage_vocab(args) -> None:
    vocab = write_char_vocab([args.out / "text_train.tsv", args.out / "paired_train.tsv"],
                             args.out / "dict.char.txt", args.vocab_size, args.vocab_temperature)
    low = sorted(vocab.coverage.items(), key=lambda kv: kv[1])[:3]
    logger.info("vocab: %d characters over %d languages; lowest coverage %s -> %s",
                len(vocab.symbols), len(vocab.coverage),
                ", ".join(f"{lang} {c:.3f}" for lang, c in low), args.out / "dict.char.txt")
    paired = sorted({r["lang"] for r in mf.read_tsv(args.out / "units.tsv")})
    logger.info("vocab coverage of the speech languages: %s",
                ", ".join(f"{lang} {vocab.coverage[lang]:.4f}" for lang in paired))
    rows = mf.read_manifest(args.out / "paired_train.tsv", "paired", check_audio_files=False).rows
    graphemes = build_grapheme_dictionary((r["tgt_text"] for r in rows),
                                          args.out / "dict.grapheme.txt")
    logger.info("grapheme vocabulary: %d symbols -> %s", len(graphemes) - graphemes.nspecial - 1,
                args.out / "dict.grapheme.txt")


def stage_report(args) -> None:
    stats: dict = {"manifests": {}}
    for path in sorted(args.out.glob("*_*.tsv")):
        kind = mf.kind_of(path)
        if kind is None:
            continue
        m = mf.read_manifest(path, kind)
        entry = {"rows": len(m.rows)}
        lang_col = "lang" if kind in ("speech", "text") else "src_lang"
        entry["languages"] = len({r[lang_col] for r in m.rows})
        if "n_frames" in mf.COLUMNS[kind]:
            entry["hours"] = round(sum(int(r["n_frames"]) for r in m.rows) / 360000, 3)
        stats["manifests"][path.name] = entry
    m = stats["manifests"]
    speech = [m[f"paired_{s}.tsv"] for s in units.SPLITS if f"paired_{s}.tsv" in m]
    stats["total"] = {"utterances": sum(e["rows"] for e in speech),
                      "hours": round(sum(e["hours"] for e in speech), 2),
                      "speech_languages": max((e["languages"] for e in speech), default=0),
                      "text_lines": m.get("text_train.tsv", {}).get("rows", 0),
                      "text_languages": m.get("text_train.tsv", {}).get("languages", 0)}
    (args.out / "corpus_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    for name, entry in m.items():
        logger.info("report: %-22s %s", name, entry)
    t = stats["total"]
    logger.info("corpus: %d utterances, %.2f h of speech in %d languages; %d text lines in "
                "%d languages -> %s", t["utterances"], t["hours"], t["speech_languages"],
                t["text_lines"], t["text_languages"], args.out)


STAGES = {"units": stage_units, "synth": stage_synth, "text": stage_text,
          "manifests": stage_manifests, "vocab": stage_vocab, "report": stage_report}


if __name__ == "__main__":  # python -m mslam_plugin.corpus.tiny.prepare: mslam-prepare-tiny
    from ...cli.prepare import main_tiny

    sys.exit(main_tiny())
