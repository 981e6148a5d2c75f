"""Vocabularies are found where the data says: a bare file name in the data directory,
never a stray file of that name in the working directory."""

from pathlib import Path

from mslam_plugin.data.graphemes import build_grapheme_dictionary
from mslam_plugin.tasks.common import vocabulary_path
from mslam_plugin.tasks.mslam_asr import MSLAMASRConfig, MSLAMASRTask


def test_bare_names_resolve_in_the_data_directory_paths_as_given(tmp_path):
    assert vocabulary_path("dict.char.txt", "data/x") == Path("data/x/dict.char.txt")
    assert vocabulary_path("other/dict.char.txt", "data/x") == Path("other/dict.char.txt")
    assert vocabulary_path(str(tmp_path / "d.txt"), "data/x") == tmp_path / "d.txt"


def test_a_stray_vocabulary_in_the_working_directory_is_ignored(tmp_path, monkeypatch):
    data, cwd = tmp_path / "data", tmp_path / "cwd"
    data.mkdir()
    cwd.mkdir()
    build_grapheme_dictionary(["abc"], data / "dict.grapheme.txt")
    build_grapheme_dictionary(["ᆶᆱᆰ"], cwd / "dict.grapheme.txt")
    monkeypatch.chdir(cwd)
    task = MSLAMASRTask.setup_task(MSLAMASRConfig(data=str(data)))
    symbols = set(task.graphemes.symbols)
    assert {"a", "b", "c"} <= symbols and "ᆶ" not in symbols


def test_characters_outside_the_vocabulary_are_reported_per_language(tmp_path, caplog):
    from fairseq.data import Dictionary

    from mslam_plugin.data.item_source import ItemSource

    d = Dictionary()
    for c in "abc▁":
        d.add_symbol(c)
    (tmp_path / "text_train.tsv").write_text(
        "id\ttext\tlang\tsource\n1\tabc abc\tx\ts\n2\tабв abc\ty\ts\n")
    src = ItemSource(tmp_path / "text_train.tsv", "text", d)
    assert src.unknown_share == {"x": 0.0, "y": 3 / 7}
    assert "in 1 language(s) more than 1% of the characters are not in the vocabulary" in caplog.text
    assert "y 42.9%" in caplog.text and "x 0.0%" not in caplog.text
