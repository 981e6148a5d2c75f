"""Character vocabulary: special symbols, temperature-weighted ranking, coverage,
determinism."""

import pytest

from mslam_plugin.data.char_vocab import BLANK, MASK, SPACE, build_char_vocab, encode, load_char_dictionary
from mslam_plugin.data.temperature import language_weights

TEXTS = {
    "de": ["Alle Menschen sind frei und gleich an Würde und Rechten geboren."] * 50,
    "ru": ["Все люди рождаются свободными и равными в своем достоинстве и правах."] * 5,
    "ko": ["모든 인간은 태어날 때부터 자유로우며"],
}


def test_specials_come_first_and_load_as_fairseq_dictionary(tmp_path):
    vocab = build_char_vocab(TEXTS, size=4096)
    vocab.save(tmp_path / "dict.char.txt")
    d = load_char_dictionary(tmp_path / "dict.char.txt")
    assert (d.index(MASK), d.index(BLANK)) == (4, 5)  # after <s> <pad> </s> <unk>
    assert d.index(SPACE) != d.unk()
    ids = encode(d, "frei und  gleich")
    assert d.unk() not in ids and ids.count(d.index(SPACE)) == 2  # whitespace collapsed
    assert all(cov == 1.0 for cov in vocab.coverage.values())


def test_dictionary_without_specials_is_refused(tmp_path):
    (tmp_path / "dict.txt").write_text("a 3\nb 2\n")
    with pytest.raises(ValueError, match="dict.txt: character vocabulary lacks <mask>"):
        load_char_dictionary(tmp_path / "dict.txt")


def test_temperature_keeps_low_resource_alphabet():
    # 10 slots. "big" has 100x the text of "small": with T=1 its ten letters take every
    # slot; with T=10 the flattened language weights let the small alphabet in.
    texts = {"big": ["abcdefghij" * 99], "small": ["xxxxxyyyyy"]}
    flat = build_char_vocab(texts, size=10, temperature=1.0, core_min_count=0)
    hot = build_char_vocab(texts, size=10, temperature=10.0, core_min_count=0)
    assert sorted(flat.symbols) == list("abcdefghij")
    assert {"x", "y"} <= set(hot.symbols)
    assert flat.coverage == {"big": 1.0, "small": 0.0}
    assert hot.coverage["small"] == 1.0 and hot.coverage["big"] == pytest.approx(0.8)


def test_core_alphabet_reserves_a_big_languages_rare_letters():
    # "big": 'ß' is 10 in 10,000 characters; 40 small languages each bring 5 letters of
    # their own that outrank it by weighted frequency. Only the reservation keeps 'ß'.
    texts = {"big": ["abcde" * 199 + "abcß"] * 10}
    for i in range(40):
        texts[f"small{i}"] = ["".join(chr(0x4E00 + 5 * i + k) for k in range(5))]
    size = 6 + 40 * 2
    plain = build_char_vocab(texts, size=size, core_min_count=0)
    reserved = build_char_vocab(texts, size=size, core_min_count=10)
    assert "ß" not in plain.symbols and "ß" in reserved.symbols
    assert reserved.coverage["big"] == 1.0 and len(reserved.symbols) == size


def test_language_weights_follow_temperature_formula():
    w = language_weights({"a": 900, "b": 100}, temperature=3.0)
    ratio = (0.9 / 0.1) ** (1 / 3)
    assert w["a"] / w["b"] == pytest.approx(ratio)
    assert sum(w.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="`temperature` must be positive"):
        language_weights({"a": 1}, 0)


def test_build_is_deterministic_and_order_independent(tmp_path):
    a = build_char_vocab(TEXTS, size=30)
    b = build_char_vocab(dict(reversed(list(TEXTS.items()))), size=30)
    a.save(tmp_path / "a.txt")
    b.save(tmp_path / "b.txt")
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()
    a.save_coverage(tmp_path / "cov.tsv")
    lines = (tmp_path / "cov.tsv").read_text().splitlines()
    assert lines[0] == "lang\tweight\tcoverage" and len(lines) == 4


def test_hangul_is_decomposed_to_jamo_and_recomposes():
    import unicodedata

    from mslam_plugin.data.text import normalize_for_scoring, normalize_for_vocabulary

    text = "모든 인간은 자유로우며"
    symbols = normalize_for_vocabulary(text)
    assert not any("\uac00" <= c <= "\ud7a3" for c in symbols)
    assert unicodedata.normalize("NFC", symbols) == normalize_for_scoring(symbols) == text
    assert normalize_for_vocabulary("Grüße  aus\tKöln") == "Grüße aus Köln"  # Latin stays composed
