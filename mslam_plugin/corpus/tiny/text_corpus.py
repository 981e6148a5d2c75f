"""Unlabeled text for the text-only stream: GNOME help in every language it is translated
into, plus gflanguages' sample texts (mostly the UDHR) for 100+ more languages.

Text whose English source is a dev or test unit is left out, so no evaluation
transcript reaches pre-training.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from pathlib import Path

from . import gnome_help

logger = logging.getLogger(__name__)

GFL_SOURCE = "gflanguages (Apache-2.0, Google Fonts; mostly UDHR sample text)"
SAMPLE_FIELDS = ("tester", "poster_md", "specimen_36", "specimen_32", "specimen_21",
                 "specimen_16", "styles", "specimen_48")


def help_languages(help_root: Path) -> dict[str, str]:
    """Project language code -> help directory name, for every translated help."""
    out = {}
    for d in sorted(help_root.iterdir()):
        if d.name != "C" and (d / "gnome-help").is_dir():
            code = {"sr@latin": "sr-Latn"}.get(d.name, d.name.replace("_", "-"))
            out[code] = d.name
    return out


def gnome_text(help_root: Path, held_out_english: set[str]) -> list[tuple[str, str]]:
    """(lang, text) of every aligned help unit whose English is not held out."""
    rows: list[tuple[str, str]] = []
    langs = help_languages(help_root)
    english: set[str] = set()
    for code in langs:
        units, _ = gnome_help.extract_language(help_root, code)
        for unit in units:
            if unit.en not in held_out_english:
                rows.append((code, unit.text))
                english.add(unit.en)
    rows.extend(("en", en) for en in sorted(english))
    return rows


def gflanguages_text() -> list[tuple[str, str]]:
    """(lang, line) of every distinct sample-text line in gflanguages (the ``corpus``
    extra of the package: ``pip install 'mslam-plugin[corpus]'``, which ``make install``
    installs)."""
    try:
        import gflanguages
    except ModuleNotFoundError as err:
        if err.name != "gflanguages":
            raise
        raise ModuleNotFoundError(
            "the tiny corpus's text stage needs gflanguages, an extra of this package: "
            "pip install -e '.[corpus]' (or run `make install`)", name="gflanguages") from err

    by_lang: dict[str, list[str]] = {}
    scripts = Counter()
    langs = [p for p in gflanguages.LoadLanguages().values() if p.HasField("sample_text")]
    for proto in langs:
        scripts[proto.language] += 1
    for proto in sorted(langs, key=lambda p: p.id):
        code = proto.language if scripts[proto.language] == 1 else f"{proto.language}-{proto.script}"
        lines = by_lang.setdefault(code, [])
        for name in SAMPLE_FIELDS:
            for line in getattr(proto.sample_text, name).split("\n"):
                line = " ".join(line.split())
                if line and not any(line in kept for kept in lines):
                    lines[:] = [kept for kept in lines if kept not in line] + [line]
    return [(lang, line) for lang, lines in sorted(by_lang.items()) for line in lines]


def split_text(rows: list[tuple[str, str]], seed: int, dev_fraction: float = 0.02
               ) -> dict[str, list[tuple[str, str]]]:
    """Deterministic train/dev split of (lang, text) rows by a seeded hash of the text."""
    out: dict[str, list[tuple[str, str]]] = {"train": [], "dev": []}
    seen: set[tuple[str, str]] = set()
    for lang, text in rows:
        if (lang, text) in seen:
            continue
        seen.add((lang, text))
        h = int(hashlib.sha1(f"{seed}\t{lang}\t{text}".encode()).hexdigest()[:8], 16)
        out["dev" if h / 0xFFFFFFFF < dev_fraction else "train"].append((lang, text))
    return out
