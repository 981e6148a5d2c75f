"""Text normalisation, one function per purpose.

- :func:`normalize_for_vocabulary`: what the character and grapheme vocabularies see
  (NFC, Hangul split into jamo, control characters dropped, whitespace collapsed);
- :func:`normalize_for_scoring`: what hypotheses and references are compared as (NFC,
  whitespace collapsed; case and punctuation kept), the form
  :func:`mslam_plugin.data.graphemes.decode` gives back.
"""

from __future__ import annotations

import re
import unicodedata

HANGUL_SYLLABLES = re.compile("[\uac00-\ud7a3]+")


def normalize_for_vocabulary(text: str) -> str:
    """NFC, whitespace runs collapsed to one space, control characters dropped.

    Hangul syllables are decomposed into their conjoining jamo (NFD), as character-level
    Korean ASR usually does: 11,172 possible syllables would crowd a 4096-symbol
    vocabulary, 68 jamo do not. :func:`normalize_for_scoring` of the output recomposes
    them.
    """
    text = unicodedata.normalize("NFC", text)
    text = HANGUL_SYLLABLES.sub(lambda m: unicodedata.normalize("NFD", m.group()), text)
    # only control characters go: format characters (ZWJ, ZWNJ) carry meaning in
    # Persian and Indic scripts, private-use ones in some gflanguages samples
    text = "".join(c for c in text if unicodedata.category(c) != "Cc" or c in "\t\n ")
    return " ".join(text.split())


def normalize_for_scoring(text: str) -> str:
    """NFC and single spaces: what the grapheme vocabulary's decoding gives, so references
    and hypotheses compare character for character (case and punctuation are kept)."""
    return " ".join(unicodedata.normalize("NFC", text).split())
