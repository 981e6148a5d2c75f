"""Grapheme vocabulary for transducer ASR (mSLAM section 4.3): every symbol of the
fine-tuning training transcripts, merged over languages, as a fairseq Dictionary whose
last symbol is the RNN-T ``<blank>`` (torchaudio's RNNTBeamSearch takes the last output
of the joint network as blank, whatever index it is told).

Text is encoded as the character vocabulary encodes it
(:func:`mslam_plugin.data.char_vocab.encode`: NFC, whitespace collapsed, Hangul split
into jamo, ``▁`` for a space); :func:`decode` reverses it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .char_vocab import BLANK, SPACE, to_symbols
from .text import normalize_for_scoring


def build_grapheme_dictionary(texts, out: Path | None = None):
    """Dictionary of every symbol in ``texts`` (most frequent first), then ``<blank>``."""
    from fairseq.data import Dictionary

    counts = Counter(s for text in texts for s in to_symbols(text))
    if not counts:
        raise ValueError("no transcripts to build a grapheme vocabulary from")
    d = Dictionary()
    for sym, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        d.add_symbol(sym, n=n)
    d.add_symbol(BLANK, n=0)
    if out is not None:
        d.save(str(out))
    return d


def load_grapheme_dictionary(path: str | Path):
    from fairseq.data import Dictionary

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: grapheme vocabulary not found (build it with "
                                "manifests/build_grapheme_vocab.py)")
    d = Dictionary.load(str(path))
    if d.index(BLANK) != len(d) - 1:
        raise ValueError(f"{path}: not a grapheme vocabulary ({BLANK} must be its last "
                         "symbol); rebuild it with manifests/build_grapheme_vocab.py")
    return d


def decode(dictionary, ids) -> str:
    """The text of symbol ids, in the form scoring compares (NFC, single spaces)."""
    return normalize_for_scoring("".join(dictionary[int(i)] for i in ids).replace(SPACE, " "))
