"""mC4 preparation: documents cut into pieces of at most 512 characters on sentence
boundaries, per-language shards from the distributed layout, read as one text kind."""

import gzip
import json

import numpy as np
import pytest

from mslam_plugin.cli.prepare import main_mc4 as main
from mslam_plugin.corpus.mc4 import pieces, prepare, shards_by_language
from mslam_plugin.data.char_vocab import build_char_vocab, load_char_dictionary
from mslam_plugin.data.item_source import ItemSource
from mslam_plugin.data.manifest import read_manifest
from mslam_plugin.data.mixed_dataset import MSLAMMixedDataset


def test_pieces_keep_sentences_whole_and_every_word():
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcdefgh"), size=rng.integers(1, 12))) for _ in range(3000)]
    sentences = [" ".join(words[i : i + 13]) + "." for i in range(0, 3000, 13)]
    doc = "\n".join(sentences) + " " + "x" * 1300 + "\t" + " ".join(["long"] * 200)
    out = pieces(doc)
    assert all(0 < len(p) <= 512 for p in out)
    assert "".join(out).replace(" ", "") == "".join(doc.split())  # nothing lost or reordered
    cut = [i for i, p in enumerate(out) if p.startswith("x")]  # a 1,300-char word, cut anywhere
    assert [out[i] for i in cut[:2]] == ["x" * 512] * 2 and out[cut[2]].startswith("x" * 276 + " long")
    assert not any("\t" in p or "\n" in p for p in out)
    assert all(p.endswith(".") for p in out[:10])  # cut at sentence ends while sentences fit
    assert pieces("Ein Satz. Noch einer!") == ["Ein Satz. Noch einer!"]
    assert pieces("   ") == []


def _shard(path, docs):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps({"text": doc, "timestamp": "2020", "url": "http://x"}) + "\n")


def _layout(root):
    root.mkdir()
    sentence = "Dies ist ein Satz über nichts Bestimmtes. "
    _shard(root / "c4-de.tfrecord-00000-of-00002.json.gz", [sentence * 30, sentence])
    _shard(root / "c4-de.tfrecord-00001-of-00002.json.gz", [sentence * 3])
    _shard(root / "c4-de-validation.tfrecord-00000-of-00001.json.gz", [sentence * 2])
    _shard(root / "c4-zh-Latn.tfrecord-00000-of-00001.json.gz", ["Ni hao. " * 100])
    with gzip.open(root / "c4-sw.tfrecord-00000-of-00001.json.gz", "wt") as f:
        f.write('{"text": "Habari ya asubuhi."}\nnot json\n{"url": "no text"}\n')


def test_prepare_writes_language_shards_and_list_files(tmp_path):
    root, out = tmp_path / "multilingual", tmp_path / "out"
    _layout(root)
    assert sorted(shards_by_language(root)) == [("de", "dev"), ("de", "train"), ("sw", "train"),
                                                ("zh-Latn", "train")]
    counts = prepare(root, out, workers=2)
    assert counts["dev"] == {"de": 1}
    assert counts["train"]["sw"] == 1 and counts["train"]["de"] == 5  # 3 + 1 + 1 pieces
    assert json.loads((out / "mc4_counts.json").read_text()) == counts
    assert (out / "text_train.list").read_text().split() == [
        "text_train_mc4_de.tsv", "text_train_mc4_sw.tsv", "text_train_mc4_zh-Latn.tsv"]
    rows = read_manifest(out / "text_train_mc4_de.tsv", "text").rows
    assert all(len(r["text"]) <= 512 and r["source"] == "mc4" for r in rows)
    vocab = build_char_vocab({"all": [r["text"] for r in rows]})
    vocab.save(out / "dict.char.txt")
    chars = load_char_dictionary(out / "dict.char.txt")
    src = ItemSource(out / "text_train.list", "text", chars)
    assert src.lang_names == ["de", "sw", "zh-Latn"] and src.lang_counts.tolist() == [5, 1, counts["train"]["zh-Latn"]]
    ds = MSLAMMixedDataset({"text": src}, {"text": 4, "speech": 0, "paired": 0}, {"text": 10**6},
                           50, chars)
    assert set(ds.language_mix["text"]) == {"de", "sw", "zh-Latn"}


def test_cap_and_errors(tmp_path, capsys):
    root = tmp_path / "multilingual"
    _layout(root)
    counts = prepare(root, tmp_path / "out", ["de"], max_pieces=2)
    assert counts == {"train": {"de": 2}, "dev": {"de": 1}}
    with pytest.raises(ValueError, match="no mC4 shards for xx"):
        prepare(root, tmp_path / "out", ["xx"])
    assert main(["--root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no c4-<lang>" in capsys.readouterr().err
