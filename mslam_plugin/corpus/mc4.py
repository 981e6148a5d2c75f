"""Text-only pre-training data from a local copy of mC4, as the paper uses it: documents
cut into pieces of at most 512 characters on sentence boundaries (whitespace, then
anywhere, for longer sentences), one text manifest per language (``id, text, lang,
source``) listed in ``text_train.list`` / ``text_dev.list``, which the
``mslam_pretraining`` task reads as shards of one kind through their memory-mapped
indexes. Nothing is downloaded.

Layout (allenai/c4's ``multilingual`` folder): ``c4-<lang>.tfrecord-XXXXX-of-YYYYY.json.gz``
(and ``c4-<lang>-validation.tfrecord-...`` for validation), one JSON object per line with
a ``text`` field. Per-language piece counts, which temperature sampling reads from the
manifests, are also written to ``mc4_counts.json``.

    mslam-prepare-mc4 --root MC4/multilingual --langs de,fr,sw \\
        --out data/pre [--max-pieces-per-lang N] [--workers N]

(or ``python -m mslam_plugin.corpus.mc4``).
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import sys
from collections import Counter
from multiprocessing import get_context
from pathlib import Path

from ..data import manifest as mf

logger = logging.getLogger(__name__)
MAX_CHARS = 512
_SENTENCE_END = re.compile(r"(?<=[.!?。！？؟।])\s+")
_SHARD = re.compile(r"^c4-(?P<lang>[A-Za-z-]+?)(?P<valid>-validation)?\.tfrecord-\d+-of-\d+\.json\.gz$")


def pieces(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """A document as pieces of at most ``max_chars`` characters: whole sentences packed
    greedily, a longer sentence cut at whitespace, a longer word cut anywhere. Whitespace
    runs (newlines and tabs included) become one space."""
    out, current = [], ""
    for sentence in _SENTENCE_END.split(" ".join(text.split())):
        parts = [sentence]
        if len(sentence) > max_chars:
            parts, part = [], ""
            for word in sentence.split(" "):
                while len(word) > max_chars:
                    parts += [part] if part else []
                    parts.append(word[:max_chars])
                    part, word = "", word[max_chars:]
                if part and len(part) + 1 + len(word) > max_chars:
                    parts.append(part)
                    part = ""
                part = f"{part} {word}" if part else word
            parts += [part] if part else []
        for part in parts:
            if current and len(current) + 1 + len(part) > max_chars:
                out.append(current)
                current = ""
            current = f"{current} {part}" if current else part
    if current:
        out.append(current)
    return out


def shards_by_language(root: Path) -> dict[tuple[str, str], list[Path]]:
    """(language, "train" or "dev") -> its shard files, sorted."""
    found: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(root.glob("c4-*.json.gz")):
        m = _SHARD.match(path.name)
        if m:
            found.setdefault((m["lang"], "dev" if m["valid"] else "train"), []).append(path)
    return found


def _write_language(job: tuple) -> tuple[str, str, int, Counter]:
    """Write one language's split; returns (lang, split, pieces, skip counts)."""
    lang, split, files, out, cap = job
    skipped, n = Counter(), 0
    path = out / f"text_{split}_mc4_{lang}.tsv"
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write("id\ttext\tlang\tsource\n")
        for shard in files:
            with gzip.open(shard, "rt", encoding="utf-8") as g:
                for line_no, line in enumerate(g, start=1):
                    try:
                        text = json.loads(line)["text"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        skipped["bad_json_line"] += 1
                        if skipped["bad_json_line"] == 1:
                            logger.warning("%s:%d: not a JSON object with a text field "
                                           "(skipped; counted)", shard, line_no)
                        continue
                    for piece in pieces(text):
                        f.write(f"mc4_{lang}_{n}\t{piece}\t{lang}\tmc4\n")
                        n += 1
                        if cap and n >= cap:
                            break
                    if cap and n >= cap:
                        break
            if cap and n >= cap:
                break
    tmp.replace(path)
    return lang, split, n, skipped


def prepare(root: Path, out: Path, langs: list[str] | None = None, max_pieces: int = 0,
            workers: int = 1) -> dict[str, dict[str, int]]:
    """Write the manifests and list files; returns {split: {lang: pieces}}."""
    found = shards_by_language(root)
    if not found:
        raise FileNotFoundError(f"{root}: no c4-<lang>.tfrecord-XXXXX-of-YYYYY.json.gz shards")
    available = sorted({lang for lang, _ in found})
    missing = [lang for lang in langs or [] if lang not in available]
    if missing:
        raise ValueError(f"{root}: no mC4 shards for {', '.join(missing)} "
                         f"(found {', '.join(available)})")
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(lang, split, files, out, max_pieces) for (lang, split), files in sorted(found.items())
            if not langs or lang in langs]
    with get_context("spawn").Pool(workers) as pool:  # a fork of a torch process can hang
        results = pool.map(_write_language, jobs, chunksize=1)
    counts: dict[str, dict[str, int]] = {}
    skipped: Counter = Counter()
    for lang, split, n, skips in results:
        counts.setdefault(split, {})[lang] = n
        skipped.update(skips)
    mf.write_shard_lists(out, "text")
    (out / "mc4_counts.json").write_text(json.dumps(counts, indent=1, sort_keys=True) + "\n")
    logger.info("mC4: %d training pieces in %d languages", sum(counts.get("train", {}).values()),
                len(counts.get("train", {})))
    if skipped:
        logger.warning("mC4: skipped %s", dict(skipped))
    return counts


if __name__ == "__main__":  # python -m mslam_plugin.corpus.mc4: mslam-prepare-mc4
    from ..cli.prepare import main_mc4

    sys.exit(main_mc4())
