"""Parallel (English, X) sentence units from GNOME's user help (Debian ``gnome-user-docs``).

The English Mallard pages live in ``<root>/C/gnome-help/*.page`` and each translation in
``<root>/<lang>/gnome-help/*.page``. A translated page is aligned with its English page by
the document order of its text elements (``desc``, ``title``, ``p``); pages whose element
sequence differs are skipped whole, so an alignment is never guessed. Units that would
synthesise badly (key names, commands, file names) are dropped, as are untranslated and
very short units. Source and licence: GNOME documentation project, CC-BY-SA-3.0.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MALLARD_NS = "{http://projectmallard.org/1.0/}"
TEXT_TAGS = ("desc", "title", "p")
# Inline elements that carry keys, commands or paths: units holding them are dropped
# because espeak reads "Super+Tab" or "/etc/fstab" as noise.
UNSPEAKABLE_TAGS = {"key", "keyseq", "cmd", "code", "file", "input", "output", "sys",
                    "var", "screen", "media", "math"}
UNSPEAKABLE_CHARS = re.compile(r"[+/\\<>@#{}\[\]=_|~^*`$%&]")
DEFAULT_ROOT = Path("/usr/share/help")
SOURCE = "gnome-user-docs (CC-BY-SA-3.0, GNOME Documentation Project)"

# Language codes whose help directory is not the code with '-' -> '_' (pt-BR -> pt_BR).
HELP_DIRS = {"sr-Latn": "sr@latin"}


@dataclass(frozen=True)
class Unit:
    """One text element of an English page with its translation."""

    page: str
    index: int
    en: str
    text: str


def help_dir(lang: str) -> str:
    return HELP_DIRS.get(lang, lang.replace("-", "_"))


def _clean(text: str) -> str:
    return " ".join(text.split())


def _page_units(path: Path) -> list[tuple[str, str, bool]] | None:
    """(tag, text, speakable) for each text element of a page, in document order."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        logger.warning("%s: unparsable page skipped (%s)", path, err)
        return None
    units = []
    for elem in root.iter():
        tag = elem.tag.replace(MALLARD_NS, "")
        if tag not in TEXT_TAGS:
            continue
        speakable = not any(
            child.tag.replace(MALLARD_NS, "") in UNSPEAKABLE_TAGS for child in elem.iter()
        )
        units.append((tag, _clean("".join(elem.itertext())), speakable))
    return units


def extract_language(root: Path, lang: str, min_chars: int = 20,
                     max_chars: int = 160) -> tuple[list[Unit], Counter]:
    """Aligned units of one language; also returns counts of what was skipped and why."""
    stats: Counter = Counter()
    en_dir = root / "C" / "gnome-help"
    x_dir = root / help_dir(lang) / "gnome-help"
    if not x_dir.is_dir():
        raise FileNotFoundError(f"{x_dir}: no GNOME help for language '{lang}' "
                                "(is gnome-user-docs installed?)")
    units: list[Unit] = []
    for en_page in sorted(en_dir.glob("*.page")):
        x_page = x_dir / en_page.name
        if not x_page.exists():
            stats["page_missing"] += 1
            continue
        en_units, x_units = _page_units(en_page), _page_units(x_page)
        if en_units is None or x_units is None or (
                [t for t, _, _ in en_units] != [t for t, _, _ in x_units]):
            stats["page_misaligned"] += 1
            continue
        stats["page_aligned"] += 1
        for i, ((_, en, ok), (_, x, _)) in enumerate(zip(en_units, x_units)):
            if not ok or UNSPEAKABLE_CHARS.search(en) or UNSPEAKABLE_CHARS.search(x):
                stats["unit_unspeakable"] += 1
            elif x == en:
                stats["unit_untranslated"] += 1
            elif not (min_chars <= len(en) <= max_chars and len(x) >= min_chars // 2):
                stats["unit_length"] += 1
            else:
                units.append(Unit(en_page.stem, i, en, x))
    stats["unit_kept"] = len(units)
    return units, stats


def translations_by_english(units: list[Unit]) -> dict[str, str]:
    """English text -> its first translation (the same English unit recurs across pages)."""
    table: dict[str, str] = {}
    for unit in units:
        table.setdefault(unit.en, unit.text)
    return table
