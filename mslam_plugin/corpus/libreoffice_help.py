"""External X->English parallel text from LibreOffice's help (Debian ``libreoffice-help-*``).

Speech + text fine-tuning adds MT examples to every batch; the corpus's own MT rows are
only its voiced sentences. This module adds translated help paragraphs. Each Debian
package ``libreoffice-help-<lang>`` (``libreoffice-help-en-us`` for the English) holds
``usr/share/libreoffice/help/<lang>/text/**.html``; the *help root* is the folder that
holds the ``<lang>`` and ``en-US`` directories. A paragraph of a translated page is
aligned with the English paragraph of the page at the same relative path that carries
the same ``id="par_id..."`` attribute, so an alignment is never guessed. A paragraph's
text is its full text content (links, spans, bold...), except the variants an inline
switch hides (a macOS key name next to the default one: the default is kept), with its
whitespace collapsed.

Pairs are dropped, and counted by reason (:func:`reason`), when the translation lacks
the paragraph (``missing``), when either side has no text (``empty``: an icon), when it
is untranslated (the same text), when either side is shorter than :data:`MIN_CHARS` or
longer than :data:`MAX_CHARS`, when one side is over :data:`MAX_LENGTH_RATIO` times as
long as the other (a stale translation of an English text since rewritten), when it
looks like a formula or code (:func:`is_code_like`), when either side is one of the
``exclude`` sentences (``excluded``: the dev and test sentences of the speech translation
corpus, compared case-folded with whitespace collapsed: no leakage into evaluation), and
when the same (source, English) pair came earlier (``duplicate``: pages embed each
other's paragraphs). Rows are MT manifest rows with ids ``lo_<hash>_<lang>`` (the hash
of the pair's text), in page and document order.

Source and licence: LibreOffice help, The Document Foundation, MPL-2.0.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from ..data import manifest as mf
from ..data.text import normalize_for_scoring

logger = logging.getLogger(__name__)

ENGLISH = "en-US"
PACKAGE = "libreoffice-help-{}"  # Debian package of a help language, lower-cased
# why a paragraph pair is dropped, in the order they are tested (:func:`reason`)
REASONS = ("missing", "empty", "untranslated", "too_short", "too_long", "length_ratio",
           "code_like", "excluded", "duplicate")
MIN_CHARS = 20  # either side shorter: a label, a table cell ("Text"), a lone menu name
MAX_CHARS = 200  # either side longer: several sentences (the corpus's rows are one each)
MAX_LENGTH_RATIO = 2.0  # one side over twice as long: a stale or partial translation
# Characters of code, paths and markup: a unit with MAX_CODE_CHARS or more of them, or
# MAX_PARENS or more opening parentheses, is code-like (prose has a slash or a pair of
# parentheses, rarely more).
CODE_CHARS = frozenset("{}[]<>;$_|\\/")
MAX_CODE_CHARS = 3
MAX_PARENS = 3
CODE_PATTERNS = re.compile(
    r"=|\b[A-Z]{1,3}[0-9]+:[A-Z]{1,3}[0-9]+\b"  # a formula, a cell range (A1:B20)
    r"|\b[A-Z][A-Z0-9._]*\(|\w\([^)]*;"  # a function call: SUM(, KÜRZEN(0,664;2)
    r"|\w\.\w+\(|\w\(\)|\w_\w|<\?>"  # a method call, an identifier, a Math placeholder
    r"|\b(?:Dim|ReDim|Const)\s+\w+|\bEnd\s+(?:Sub|Function|If|Select|With|Type)\b"
    r"|\b(?:Sub|Function)\s+\w+\s*\(|\bAs\s+(?:Integer|Long|String|Double|Single|"
    r"Boolean|Variant|Object|Date|Currency|New)\b|\bMsgBox\b|\bThen\s*$"  # Basic
    r"|https?://|\w\.(?:xcu|xml|ini|py|js|bas|oxt)\b")  # a URL, a file name


def package_name(lang: str) -> str:
    """The Debian package holding a help language (pt-BR -> libreoffice-help-pt-br)."""
    return PACKAGE.format(lang.lower())


def exclude_key(text: str) -> str:
    """What a sentence is compared with the exclude set as: normalised, case-folded."""
    return normalize_for_scoring(text).casefold()


def is_code_like(text: str) -> bool:
    """Formulas, Basic code, function signatures, paths and URLs: not sentences."""
    return (sum(c in CODE_CHARS for c in text) >= MAX_CODE_CHARS
            or text.count("(") >= MAX_PARENS or CODE_PATTERNS.search(text) is not None)


class _Paragraphs(HTMLParser):
    """``par_id`` -> text of each element with such an id; an id a page repeats (pages
    embed each other's sections, and their sources reuse ids) is keyed ``par_id#<n>``
    for its n-th occurrence (n = 2, 3, ...), which the translated page has in the same
    place."""

    VOID = {"br", "img", "input", "meta", "link", "hr", "wbr", "col", "area", "source"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs: dict[str, str] = {}
        self._seen: Counter = Counter()
        self._id: str | None = None
        self._stack: list[tuple[str, bool]] = []  # open elements: (tag, hides its text)
        self._parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self._id is None:
            if (attrs.get("id") or "").startswith("par_id") and tag not in self.VOID:
                self._id, self._stack, self._parts = attrs["id"], [(tag, False)], []
            return
        if tag == "br":
            self._parts.append(" ")
        elif tag not in self.VOID:  # a switch's variants are hidden; the default shows
            hidden = "hidden" in attrs and not (attrs.get("id") or "").startswith("default")
            self._stack.append((tag, hidden))

    def handle_endtag(self, tag):
        if self._id is None or all(t != tag for t, _ in self._stack):
            return  # an end tag that closes nothing open is ignored
        while self._stack.pop()[0] != tag:
            pass
        if not self._stack:
            self._seen[self._id] += 1
            n = self._seen[self._id]
            self.paragraphs[self._id if n == 1 else f"{self._id}#{n}"] = normalize_for_scoring(
                "".join(self._parts))
            self._id = None

    def handle_data(self, data):
        if self._id is not None and not any(h for _, h in self._stack):
            self._parts.append(data)


def read_paragraphs(path: Path) -> dict[str, str]:
    """``par_id`` -> whitespace-normalised text of one help page, in document order."""
    parser = _Paragraphs()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser.paragraphs


def language_dir(root: Path, lang: str) -> Path:
    """``root/<lang>/text`` (the language's letter case as given, or as on disk)."""
    if (root / lang / "text").is_dir():
        return root / lang / "text"
    for candidate in sorted(root.glob("*/text")) if root.is_dir() else []:
        if candidate.parent.name.lower() == lang.lower():
            return candidate
    pkg = package_name(lang)
    raise FileNotFoundError(
        f"{root / lang / 'text'}: no LibreOffice help for language '{lang}' (download and "
        f"extract the Debian package {pkg}: `apt-get download {pkg} && dpkg -x {pkg}_*.deb "
        "DIR`, then pass DIR/usr/share/libreoffice/help as the help root)")


def read_language(root: Path, lang: str) -> dict[str, dict[str, str]]:
    """Relative page path -> its paragraphs, for every page of a help language."""
    text_dir = language_dir(root, lang)
    return {p.relative_to(text_dir).as_posix(): read_paragraphs(p)
            for p in sorted(text_dir.rglob("*.html"))}


@dataclass(frozen=True)
class Pair:
    """One aligned paragraph: its page, its ``par_id``, the English and the translation."""

    lang: str
    page: str
    par_id: str
    en: str
    text: str

    @property
    def id(self) -> str:
        digest = hashlib.sha1(f"{self.text}\t{self.en}".encode()).hexdigest()[:12]
        return f"lo_{digest}_{self.lang}"

    def row(self) -> dict[str, str]:
        return {"id": self.id, "src_text": self.text, "tgt_text": self.en,
                "src_lang": self.lang, "tgt_lang": "en"}


def reason(en: str, text: str, exclude: set[str], min_chars: int = MIN_CHARS,
           max_chars: int = MAX_CHARS, max_ratio: float = MAX_LENGTH_RATIO) -> str | None:
    """Why a pair of normalised paragraphs is dropped (None: it is kept), duplicates aside."""
    if not en or not text:
        return "empty"
    if text == en:
        return "untranslated"
    if min(len(en), len(text)) < min_chars:
        return "too_short"
    if max(len(en), len(text)) > max_chars:
        return "too_long"
    if max(len(en), len(text)) > max_ratio * min(len(en), len(text)):
        return "length_ratio"
    if is_code_like(en) or is_code_like(text):
        return "code_like"
    if exclude_key(en) in exclude or exclude_key(text) in exclude:
        return "excluded"
    return None


def extract_language(root: Path, lang: str, exclude: set[str] = frozenset(), *,
                     english: dict[str, dict[str, str]] | None = None,
                     min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS
                     ) -> tuple[list[Pair], Counter]:
    """The kept pairs of one language in page and document order, and the counts of
    every drop reason (``exclude``: :func:`exclude_key` forms; ``english``: the English
    pages when read already)."""
    x_dir = language_dir(root, lang)
    lang = x_dir.parent.name
    english = read_language(root, ENGLISH) if english is None else english
    stats = Counter(dict.fromkeys(("pages", "page_missing", *REASONS), 0))  # zeros shown
    pairs: list[Pair] = []
    seen: set[tuple[str, str]] = set()
    for page, en_pars in english.items():
        x_page = x_dir / page
        if not x_page.is_file():
            stats["page_missing"] += 1
            stats["missing"] += len(en_pars)
            continue
        stats["pages"] += 1
        x_pars = read_paragraphs(x_page)
        for par_id, en in en_pars.items():
            text = x_pars.get(par_id)
            why = "missing" if text is None else reason(en, text, exclude, min_chars,
                                                        max_chars)
            if why is None and (text, en) in seen:
                why = "duplicate"
            if why is not None:
                stats[why] += 1
                continue
            seen.add((text, en))
            pairs.append(Pair(lang, page, par_id, en, text))
    stats["kept"] = len(pairs)
    return pairs, stats


def load_exclude(paths) -> set[str]:
    """:func:`exclude_key` of every ``tgt_text`` and ``src_text`` of these TSVs."""
    keys: set[str] = set()
    for path in paths:
        rows = mf.read_tsv(path)
        columns = [c for c in ("tgt_text", "src_text") if rows and c in rows[0]]
        if rows and not columns:
            raise ValueError(f"{path}: an exclude TSV needs a tgt_text or src_text column")
        keys.update(exclude_key(r[c]) for r in rows for c in columns if r[c].strip())
    return keys


def sample(pairs: list[Pair], n: int) -> list[Pair]:
    """``n`` pairs picked by their id's hash (a fixed pseudo-random sample), kept in page
    order; all of them when ``n`` is 0."""
    if not n or len(pairs) <= n:
        return pairs
    chosen = set(sorted(range(len(pairs)), key=lambda i: pairs[i].id)[:n])
    return [p for i, p in enumerate(pairs) if i in chosen]


def prepare(root: Path, langs: list[str], out: Path, exclude_paths=(),
            append: Path | None = None, max_per_lang: int = 0) -> dict[str, int]:
    """Write ``out``: the rows of the MT TSV ``append`` (when given), then the kept pairs
    of each language. Returns the counts: rows written, and per language what was kept
    and every drop reason (``<lang>_<reason>``)."""
    root, out = Path(root), Path(out)
    if max_per_lang < 0:
        raise ValueError(f"max_per_lang must be 0 (all) or more, but is {max_per_lang}")
    for lang in [ENGLISH, *langs]:  # every language missing is an error before any work
        language_dir(root, lang)
    exclude = load_exclude(exclude_paths)
    rows = mf.read_manifest(append, "mt", check_audio_files=False).rows if append else []
    counts = {"appended": len(rows), "exclude_sentences": len(exclude)}
    english = read_language(root, ENGLISH)
    for lang in langs:
        pairs, stats = extract_language(root, lang, exclude, english=english)
        pairs = sample(pairs, max_per_lang)
        stats["written"] = len(pairs)
        logger.info("%s: %d pairs written; %s", lang, len(pairs), dict(stats))
        counts.update({f"{lang}_{k}": n for k, n in stats.items()})
        rows.extend(p.row() for p in pairs)
    ids = Counter(r["id"] for r in rows)
    clashes = [i for i, n in ids.items() if n > 1]
    if clashes:
        raise ValueError(f"{out}: duplicate ids {clashes[:5]} (is {append} already merged?)")
    out.parent.mkdir(parents=True, exist_ok=True)
    mf.write_manifest(out, "mt", rows)
    counts["rows"] = len(rows)
    logger.info("%s: %d rows (%d appended from %s)", out, len(rows), counts["appended"],
                append)
    return counts


if __name__ == "__main__":  # python -m mslam_plugin.corpus.libreoffice_help
    from ..cli.prepare import main_mt_text

    sys.exit(main_mt_text())
