"""Pre-training sources at scale: the memory-mapped manifest index (built once, reused,
rebuilt when the manifest changes, invalid rows located), O(1) sampling within a
language, and a kind sharded over several manifests by a list file."""

from collections import Counter

import numpy as np
import pytest

from mslam_plugin.data.char_vocab import build_char_vocab, load_char_dictionary
from mslam_plugin.data.item_source import ItemSource
from mslam_plugin.data.manifest import write_manifest
from mslam_plugin.data.manifest_index import ManifestIndex
from mslam_plugin.data.mixed_dataset import MSLAMMixedDataset

SIZES = {"aa": 300, "bb": 60, "cc": 12}


def _rows(prefix=""):
    return [{"id": f"{prefix}{lang}{i}", "text": f"{lang} text {i} " * (1 + i % 3), "lang": lang,
             "source": "test"} for lang, n in SIZES.items() for i in range(n)]


@pytest.fixture
def chars(tmp_path):
    build_char_vocab({"all": [r["text"] for r in _rows()]}).save(tmp_path / "dict.char.txt")
    return load_char_dictionary(tmp_path / "dict.char.txt")


def test_index_is_built_once_reused_and_rebuilt_when_the_manifest_changes(tmp_path):
    path = tmp_path / "text_train.tsv"
    rows = _rows()
    rng = np.random.default_rng(0)
    rows = [rows[i] for i in rng.permutation(len(rows))]  # languages interleaved
    write_manifest(path, "text", rows)
    index = ManifestIndex.open(path, "text")
    assert (tmp_path / "text_train.tsv.index/offsets.npy").is_file()
    assert index.langs == ["aa", "bb", "cc"] and index.starts.tolist() == [0, 300, 360, 372]
    for i in (0, 299, 300, 371):  # grouped by language, each row parsed from its offset
        row = index.row(i)
        assert row["lang"] == index.langs[np.searchsorted(index.starts, i, side="right") - 1]
        assert index.sizes[i] == len(row["text"]) and rows[index.lines[i] - 2] == row
    stamp = (tmp_path / "text_train.tsv.index/meta.json").stat().st_mtime_ns
    ManifestIndex.open(path, "text")
    assert (tmp_path / "text_train.tsv.index/meta.json").stat().st_mtime_ns == stamp  # reused
    write_manifest(path, "text", rows[:10])
    assert len(ManifestIndex.open(path, "text")) == 10  # rebuilt


def test_invalid_rows_are_located_or_skipped(tmp_path):
    path = tmp_path / "text_train.tsv"
    path.write_text("id\ttext\tlang\tsource\na\tx y\tde\ts\nb\t\tde\ts\na\tz\tde\ts\nc\tw\tde\n")
    with pytest.raises(ValueError, match=r"text_train.tsv:3: empty text"):
        ManifestIndex.open(path, "text")
    with pytest.raises(ValueError, match=r"text_train.tsv:3: empty text"):  # from the saved index
        ManifestIndex.open(path, "text")
    index = ManifestIndex.open(path, "text", skip_invalid=True)
    assert len(index) == 1 and index.row(0)["id"] == "a"
    assert dict(index.skipped) == {"empty_text": 1, "duplicate_id": 1, "column_count": 1}


def test_read_only_directory_indexes_in_memory(tmp_path, monkeypatch):
    path = tmp_path / "text_train.tsv"
    write_manifest(path, "text", _rows())
    monkeypatch.setattr("numpy.save", lambda *a, **k: (_ for _ in ()).throw(PermissionError("ro")))
    index = ManifestIndex.open(path, "text")
    assert len(index) == 372 and not (tmp_path / "text_train.tsv.index").exists()


def _shards(tmp_path):
    rows = _rows()
    parts = [rows[0::3], rows[1::3], rows[2::3]]  # every language in every shard
    (tmp_path / "shards").mkdir()
    for k, part in enumerate(parts):
        write_manifest(tmp_path / "shards" / f"text_{k}.tsv", "text", part)
    (tmp_path / "text_train.list").write_text(
        "# one manifest per line\nshards/text_0.tsv\n\nshards/text_1.tsv\nshards/text_2.tsv\n")
    write_manifest(tmp_path / "text_whole.tsv", "text", rows)
    return tmp_path / "text_train.list"


def test_shards_behave_as_one_manifest(tmp_path, chars):
    sharded = ItemSource(_shards(tmp_path), "text", chars)
    whole = ItemSource(tmp_path / "text_whole.tsv", "text", chars)
    assert len(sharded.shards) == 3 and len(sharded) == len(whole) == 372
    assert sharded.lang_names == whole.lang_names == ["aa", "bb", "cc"]
    assert sharded.lang_counts.tolist() == whole.lang_counts.tolist() == [300, 60, 12]
    ids = {sharded.load(i)["id"] for i in range(len(sharded))}
    assert ids == {r["id"] for r in _rows()}  # every row reachable once
    for i in range(len(sharded)):
        assert sharded.load(i)["lang"] == sharded.lang_names[sharded.lang_of(i)]
    rng = np.random.default_rng(0)
    langs = rng.integers(0, 3, size=3000)
    drawn = sharded.draw(langs, rng)
    assert (sharded.lang_of(drawn) == langs).all()
    per_lang = Counter(sharded.load(int(i))["id"] for i in drawn[langs == 2])
    assert len(per_lang) == 12  # uniform within the language, across the shards


def test_sharded_language_mix_follows_temperature(tmp_path, chars):
    src = ItemSource(_shards(tmp_path), "text", chars)
    ds = MSLAMMixedDataset({"text": src}, {"text": 20, "speech": 0, "paired": 0},
                           {"text": 10**6}, 200, chars, temperature=3.0)
    mix = ds.language_mix["text"]
    weights = {k: (n / 372) ** (1 / 3) for k, n in SIZES.items()}
    norm, total = sum(weights.values()), sum(mix.values())
    for lang in SIZES:
        assert abs(mix[lang] / total - weights[lang] / norm) < 0.03, lang


def test_a_list_naming_a_missing_manifest_is_located(tmp_path, chars):
    (tmp_path / "text_train.list").write_text("a.tsv\nmissing.tsv\n")
    write_manifest(tmp_path / "a.tsv", "text", _rows())
    with pytest.raises(FileNotFoundError, match=r"text_train.list:2: manifest not found"):
        ItemSource(tmp_path / "text_train.list", "text", chars)


def test_a_language_left_without_rows_and_a_copy_keeping_size_and_mtime(tmp_path, chars):
    import os
    import pickle

    path = tmp_path / "text_train.tsv"
    path.write_text("id\ttext\tlang\tsource\nu1\taa text\taa\ts\nu1\tzz text\tzz\ts\n")
    src = ItemSource(path, "text", chars, skip_invalid=True)  # zz lost its only row
    assert src.lang_counts.tolist() == [1, 0] and len(src) == 1  # zz: never drawn (p_l 0)
    pickle.loads(pickle.dumps(src)).load(0)  # spawned loader workers get a copy
    st = path.stat()
    path.write_text("id\ttext\tlang\tsource\nu1\tbb text\tbb\ts\nu2\tyy text\tyy\ts\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime (cp -p)
    assert ManifestIndex.open(path, "text").langs == ["bb", "yy"]
