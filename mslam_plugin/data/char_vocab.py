"""Character vocabulary shared by every language (mSLAM section 3.1: 4096 characters).

Characters are ranked by a temperature-weighted frequency over languages, so a language
with little text still gets its alphabet in: each language's character distribution is
weighted by p_l proportional to (n_l / N)^(1/T), the same temperature sampling the
pre-training uses (:mod:`mslam_plugin.data.temperature`). The vocabulary is written as a fairseq ``Dictionary`` file; the
symbols the objectives need (``<mask>`` for span masking, ``<blank>`` for CTC) are
written first so their indices do not depend on the data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import manifest as mf
from .temperature import language_weights
from .text import normalize_for_vocabulary

SPACE = "\u2581"  # a fairseq dictionary line cannot hold a literal space
MASK = "<mask>"
BLANK = "<blank>"
EXTRA_SPECIALS = (MASK, BLANK)
# manifest kind -> (text column, language column) of the source-language text it holds
TEXT_COLUMNS = {"text": ("text", "lang"), "paired": ("tgt_text", "src_lang"),
                "mt": ("src_text", "src_lang")}


def to_symbols(text: str) -> list[str]:
    return [SPACE if c == " " else c for c in normalize_for_vocabulary(text)]


@dataclass
class CharVocab:
    symbols: list[str]
    coverage: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """fairseq Dictionary format: 'symbol count' per line (count = rank score)."""
        lines = [f"{s} 0" for s in EXTRA_SPECIALS]
        n = len(self.symbols)
        lines += [f"{s} {n - i}" for i, s in enumerate(self.symbols)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def save_coverage(self, path: Path) -> None:
        rows = ["lang\tweight\tcoverage"]
        rows += [f"{lang}\t{self.weights.get(lang, 0.0):.6f}\t{cov:.6f}"
                 for lang, cov in sorted(self.coverage.items())]
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def build_char_vocab(texts_by_lang: dict[str, list[str]], size: int = 4096,
                     temperature: float = 3.0, core_min_count: int = 10) -> CharVocab:
    """Top-``size`` characters by temperature-weighted frequency; ties by code point.

    A character seen at least ``core_min_count`` times in one language's text is
    reserved a slot first (0 turns this off): without it, hundreds of small languages
    and thousands of CJK characters outrank a big language's rarer letters (German
    'ß'). Reserved characters are also taken by score, so ``size`` is never exceeded.
    """
    if size < 1:
        raise ValueError(f"`size` must be at least 1, but is {size} instead.")
    counts = {lang: Counter(c for t in texts for c in to_symbols(t))
              for lang, texts in texts_by_lang.items()}
    sizes = {lang: sum(c.values()) for lang, c in counts.items()}
    weights = language_weights(sizes, temperature)
    score: Counter = Counter()
    for lang, weight in weights.items():
        for char, n in counts[lang].items():
            score[char] += weight * n / sizes[lang]
    by_score = sorted(score, key=lambda c: (-score[c], ord(c)))
    core = {c for lang in weights for c, n in counts[lang].items()
            if core_min_count and n >= core_min_count}
    ranked = [c for c in by_score if c in core][:size]
    kept = set(ranked)
    ranked += [c for c in by_score if c not in kept][:size - len(ranked)]
    ranked.sort(key=lambda c: (-score[c], ord(c)))
    kept = set(ranked)
    coverage = {lang: (sum(n for c, n in counts[lang].items() if c in kept) / sizes[lang])
                for lang in weights}
    return CharVocab(ranked, coverage, weights)


def load_char_dictionary(path: Path):
    """The fairseq Dictionary, checked to hold the symbols the objectives need."""
    from fairseq.data import Dictionary

    d = Dictionary.load(str(path))
    missing = [s for s in EXTRA_SPECIALS if d.index(s) == d.unk()]
    if missing:
        raise ValueError(f"{path}: character vocabulary lacks {', '.join(missing)}; "
                         "rebuild it with manifests/build_char_vocab.py")
    return d


def encode(dictionary, text: str) -> list[int]:
    return [dictionary.index(s) for s in to_symbols(text)]


def texts_from_manifests(paths: list[Path]) -> dict[str, list[str]]:
    """Language -> texts, from text, paired and mt manifests (audio is not checked)."""
    texts: dict[str, list[str]] = {}
    for path in paths:
        kind = mf.kind_of(path)
        if kind is None:
            raise ValueError(f"{path}: cannot tell the manifest kind from the file name; "
                             f"expected <kind>_<split>.tsv with kind in {sorted(mf.COLUMNS)}, "
                             "or <split>_st.tsv")
        if kind not in TEXT_COLUMNS:
            raise ValueError(f"{path}: a {kind} manifest holds no source-language text")
        text_col, lang_col = TEXT_COLUMNS[kind]
        for row in mf.read_manifest(path, kind, check_audio_files=False).rows:
            texts.setdefault(row[lang_col], []).append(row[text_col])
    return texts


def write_char_vocab(paths: list[Path], out: Path, size: int = 4096,
                     temperature: float = 3.0) -> CharVocab:
    """Build the vocabulary from the texts of ``paths`` (manifests), save it to ``out``
    and its per-language coverage beside it (``vocab_coverage.tsv``)."""
    vocab = build_char_vocab(texts_from_manifests(paths), size, temperature)
    vocab.save(out)
    vocab.save_coverage(out.with_name("vocab_coverage.tsv"))
    return vocab
