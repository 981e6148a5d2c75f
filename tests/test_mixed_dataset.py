"""Mixed pre-training batches: every batch holds each kind, languages follow temperature
sampling, masks never touch padding, and the plan is deterministic given (seed, epoch)."""

from collections import Counter

import numpy as np
import pytest
import torch

from mslam_plugin.data.char_vocab import build_char_vocab, load_char_dictionary
from mslam_plugin.data.manifest import write_manifest
from mslam_plugin.data.mixed_dataset import MSLAMMixedDataset, fill_budget
from mslam_plugin.data.item_source import ItemSource
from mslam_plugin.modules.masking import BatchMasker

SIZES = {"aa": 900, "bb": 90, "cc": 10}


@pytest.fixture
def text_source(tmp_path):
    rows = [{"id": f"{lang}{i}", "text": f"{lang} text number {i} " * (1 + i % 3), "lang": lang,
             "source": "test"} for lang, n in SIZES.items() for i in range(n)]
    rows.append({"id": "long", "text": "x" * 700, "lang": "aa", "source": "test"})
    write_manifest(tmp_path / "text_train.tsv", "text", rows)
    build_char_vocab({"all": [r["text"] for r in rows]}).save(tmp_path / "dict.char.txt")
    d = load_char_dictionary(tmp_path / "dict.char.txt")
    return ItemSource(tmp_path / "text_train.tsv", "text", d, max_chars=512), d


def _dataset(source, d, temperature=3.0, seed=1, n=200, sequences=8):
    return MSLAMMixedDataset({"text": source}, {"text": sequences, "speech": 0, "paired": 0},
                             {"text": 10_000}, n, d, seed=seed, temperature=temperature)


def test_language_mix_follows_temperature(text_source):
    src, d = text_source
    for t in (1.0, 3.0):
        mix = _dataset(src, d, temperature=t).language_mix["text"]
        total = sum(mix.values())
        weights = {k: (n / 1001) ** (1 / t) for k, n in Counter(src.langs.tolist()).items()}
        norm = sum(weights.values())
        for lang in SIZES:
            assert abs(mix[lang] / total - weights[lang] / norm) < 0.03, (t, lang)
    assert src.truncated == 1 and src.sizes_of(np.arange(len(src))).max() == 512


def _masker(seed, d):
    return BatchMasker(seed, pad=d.pad(), mask_idx=d.index("<mask>"),
                       first_random=d.nspecial + 2, vocab_size=len(d))


def test_text_masks_are_deterministic_and_avoid_padding(text_source):
    src, d = text_source
    a, b = _dataset(src, d)[3], _dataset(src, d)[3]
    assert a["batch_seed"] == b["batch_seed"] and torch.equal(a["text"]["tokens"], b["text"]["tokens"])
    tokens = a["text"]["tokens"]
    x, y = _masker(a["batch_seed"], d).text(tokens, 0.15), _masker(b["batch_seed"], d).text(tokens, 0.15)
    assert torch.equal(x.tokens, y.tokens) and torch.equal(x.mask, y.mask)
    pad = tokens.eq(d.pad())
    assert not (x.mask & pad).any() and x.mask.any()
    assert (x.target[x.mask] == tokens[x.mask]).all()
    assert (x.target[~x.mask] == d.pad()).all()
    assert torch.equal(x.tokens[~x.mask], tokens[~x.mask])  # only masked characters change
    # <mask> / random / kept is decided per span: pool the share over many batches
    ds = _dataset(src, d)
    corrupted = []
    for i in range(20):
        batch = ds[i]
        out = _masker(batch["batch_seed"], d).text(batch["text"]["tokens"], 0.15)
        corrupted.append(out.tokens[out.mask])
    assert 0.6 < (torch.cat(corrupted) == d.index("<mask>")).float().mean() < 0.95
    other = _dataset(src, d, seed=2)[3]
    assert other["batch_seed"] != a["batch_seed"]
    assert not torch.equal(other["text"]["tokens"], tokens)


def test_budget_caps_a_batch_and_epochs_differ(text_source):
    src, d = text_source
    ds = MSLAMMixedDataset({"text": src}, {"text": 50, "speech": 0, "paired": 0}, {"text": 300},
                           10, d, seed=1)
    plans = lambda: [list(ds.plan_batch(i)["text"]) for i in range(10)]
    for rows in plans():
        assert src.sizes_of(np.array(rows)).sum() <= 300 or len(rows) == 1
    first = plans()
    ds.set_epoch(2)
    assert plans() != first
    ds.set_epoch(1)
    assert plans() == first


def test_vectorised_budget_fill_equals_the_greedy_loop():
    rng = np.random.default_rng(0)
    for _ in range(500):
        sizes = np.sort(rng.integers(1, rng.integers(2, 400), size=rng.integers(0, 60)))[::-1]
        budget = int(rng.integers(1, 3000))
        expected, used = np.zeros(len(sizes), dtype=bool), 0
        for j, size in enumerate(sizes):
            if expected.any() and used + size > budget:
                continue
            expected[j], used = True, used + size
        assert (fill_budget(sizes, budget) == expected).all(), (sizes, budget)


@pytest.mark.slow
def test_every_batch_mixes_all_three_kinds(tiny_corpus):
    d = load_char_dictionary(tiny_corpus / "dict.char.txt")
    sources = {k: ItemSource(tiny_corpus / f"{k}_train.tsv", k, d) for k in ("speech", "text", "paired")}
    ds = MSLAMMixedDataset(sources, {"speech": 2, "text": 4, "paired": 2},
                           {"speech": 10_000, "text": 10_000, "paired": 10_000}, 3, d)
    for i in range(3):
        batch = ds.collater([ds[i]])
        assert batch["speech"]["fbank"].shape[0] == 2 and batch["speech"]["fbank"].shape[2] == 80
        assert batch["text"]["tokens"].shape[0] == 4
        assert batch["paired"]["fbank"].shape[0] == 2 and batch["paired"]["tokens"].shape[0] == 2
        pad = batch["speech"]["fbank_padding_mask"]
        assert (batch["speech"]["fbank"][pad] == 0).all()


def test_skip_invalid_counts_bad_rows_and_too_long_speech(tmp_path, text_source):
    _, d = text_source
    import soundfile as sf

    sf.write(tmp_path / "a.flac", np.zeros(16000, dtype=np.float32), 16000)
    sf.write(tmp_path / "long.flac", np.zeros(32000, dtype=np.float32), 16000)
    rows = ["id\taudio\tn_frames\tspeaker\tlang", "a\ta.flac\t98\ts\tde", "b\tmissing.flac\t98\ts\tde",
            "c\ta.flac\t98\ts", "d\tlong.flac\t198\ts\tde"]
    (tmp_path / "speech_train.tsv").write_text("\n".join(rows) + "\n")
    # start-up checks the rows, not the audio (that is the validator's job, or read time)
    with pytest.raises(ValueError, match=r"speech_train.tsv:4: expected 5 columns, found 4"):
        ItemSource(tmp_path / "speech_train.tsv", "speech", d)
    src = ItemSource(tmp_path / "speech_train.tsv", "speech", d, skip_invalid=True, max_frames=150)
    assert len(src) == 3 and src.lang_counts.tolist() == [2]  # a, b usable; d too long
    assert dict(src.stats) == {"column_count": 1, "too_long": 1}
    drawn = set(src.draw(np.zeros(200, dtype=np.int64), np.random.default_rng(0)).tolist())
    assert drawn == {0, 1}  # the too-long row is never drawn
    assert src.load(1) is None and dict(src.skips.counts) == {"audio_missing": 1}
    assert src.load(0)["fbank"].shape == (98, 80)
