"""mslam_plugin.corpus.libreoffice_help and mslam-prepare-mt-text: (English, X) help
paragraphs aligned by page and par_id, the drop reasons, the leakage guard, and an MT TSV
that TextTranslationDataset reads. The fixture copies the layout of the Debian packages'
usr/share/libreoffice/help (<lang>/text/<module>/.../<page>.html)."""

from pathlib import Path

import pytest
from fairseq.data import Dictionary

from mslam_plugin.cli.prepare import main_mt_text
from mslam_plugin.corpus import libreoffice_help as lo
from mslam_plugin.data import manifest as mf
from mslam_plugin.data.char_vocab import build_char_vocab, load_char_dictionary
from mslam_plugin.data.translation import TextTranslationDataset

LONG_EN = ("This paragraph explains every option of the dialog at once, and it goes on "
           "and on about margins, borders, columns, footnotes, headers, footers, page "
           "numbers and styles until it is far longer than any utterance would be.")
LONG_DE = ("Dieser Absatz erklärt alle Optionen des Dialogs auf einmal und spricht lange "
           "über Ränder, Umrandungen, Spalten, Fußnoten, Kopfzeilen, Fußzeilen, "
           "Seitenzahlen und Vorlagen, bis er viel länger als jede Äußerung ist.")
SWITCH = ('<span id="swlnsys1" class="switchinline"><span hidden="true" id="MACtext1" '
          'class="MAC">{mac}</span> <span hidden="true" id="defaulttext1">{default}'
          '</span></span>')
# page -> par_id (a second word: the same id again) -> (English, German); None: the
# paragraph is not in that language
PAGES = {
    "shared/guide/autocorr_url.html": {
        "par_id3166410": (  # inline link and emphasis
            'When you enter text, <a target="_top" href="en-US/text/shared/00/00000002.html'
            '#url">LibreOffice</a> recognizes a <span class="emph">URL</span> &amp; '
            'replaces it.',
            'Wenn Sie Text eingeben, erkennt <a target="_top" href="de/text/shared/00/'
            '00000002.html#url">LibreOffice</a> eine <span class="emph">URL</span> &amp; '
            'ersetzt sie.'),
        "par_id3149233": (  # an inline switch: the default variant is the text
            "Press " + SWITCH.format(mac="Command", default="Ctrl") + "+Z to undo the "
            "automatic formatting.",
            "Drücken Sie " + SWITCH.format(mac="Befehl", default="Strg") + "+Z, um die "
            "automatische Formatierung rückgängig zu machen."),
        "par_id151606170788960": ("Text", "Text"),  # a table head cell: untranslated
        "par_id231605797171055": ("Web addresses", "Webadressen"),  # too short
        "par_id781605797492605": (  # a table cell
            "Web addresses\n  become hyperlinks while you type.",
            "Webadressen werden beim\u00a0Tippen zu Hyperlinks."),
        "par_id3153561": ("The following example uses the ScriptForge library.",
                          "The following example uses the ScriptForge library."),
        "par_id3150868": ("Choose which web browser you would like to open links with.",
                          "Wählen Sie, mit welchem Webbrowser Verweise geöffnet werden."),
        "par_id3145345": ("Select the paragraph styles that you want to change now.",
                          "Wählen Sie die Absatzvorlagen aus, die Sie ändern möchten."),
        "par_id921606170999002": ("This paragraph is new and not yet translated at all.",
                                  None),
        "par_id3154306": (LONG_EN, LONG_DE),
        "par_id561606171010001": ('<img src="media/helpimg/url.png" alt="URL icon">',
                                  '<img src="media/helpimg/url.png" alt="URL-Symbol">'),
        "par_id341606171010002": (
            "Toggles the selection.",
            "Wechselt zwischen Auswahl der aktuellen Zeile und Aufheben dieser Auswahl."),
    },
    "scalc/01/func_sum.html": {
        "par_id3163596": ("=SUM(A1:A3) returns the sum of the three cells.",
                          "=SUMME(A1:A3) gibt die Summe der drei Zellen zurück."),
        "par_id3152421": ("Adds all the numbers in a range of cells.",
                          "Addiert alle Zahlen eines Zellbereichs."),
        "par_id3152421 again": ("Returns the sum of all the numbers in the list.",  # id reused
                                "Gibt die Summe aller Zahlen der Liste zurück."),
        "par_id3166410": (  # the same paragraph embedded in a second page
            'When you enter text, <a href="x.html">LibreOffice</a> recognizes a URL '
            '&amp; replaces it.',
            'Wenn Sie Text eingeben, erkennt <a href="x.html">LibreOffice</a> eine URL '
            '&amp; ersetzt sie.'),
    },
    "swriter/guide/only_english.html": {  # a page the translation lacks
        "par_id3150099": ("This page has not been translated into German yet.", None),
    },
}
EXCLUDE_ST = ("id\taudio\tn_frames\ttgt_text\tspeaker\tsrc_text\tsrc_lang\ttgt_lang\n"
              "u1_de\tfbank80.zip:0:10\t5\tchoose which web browser  you would like to "
              "open links with.\tde+m3\tIrgendetwas anderes hier.\tde\ten\n")
EXCLUDE_MT = ("id\tsrc_text\ttgt_text\tsrc_lang\ttgt_lang\n"
              "u2_de\tWählen Sie die Absatzvorlagen aus, die Sie ändern möchten.\t"
              "Something else entirely.\tde\ten\n")
KEPT = [  # (page, par_id, English, German), in page and document order
    ("scalc/01/func_sum.html", "par_id3152421", "Adds all the numbers in a range of cells.",
     "Addiert alle Zahlen eines Zellbereichs."),
    ("scalc/01/func_sum.html", "par_id3152421#2",
     "Returns the sum of all the numbers in the list.",
     "Gibt die Summe aller Zahlen der Liste zurück."),
    ("scalc/01/func_sum.html", "par_id3166410",  # kept here, a duplicate on the next page
     "When you enter text, LibreOffice recognizes a URL & replaces it.",
     "Wenn Sie Text eingeben, erkennt LibreOffice eine URL & ersetzt sie."),
    ("shared/guide/autocorr_url.html", "par_id3149233",
     "Press Ctrl+Z to undo the automatic formatting.",
     "Drücken Sie Strg+Z, um die automatische Formatierung rückgängig zu machen."),
    ("shared/guide/autocorr_url.html", "par_id781605797492605",
     "Web addresses become hyperlinks while you type.",
     "Webadressen werden beim Tippen zu Hyperlinks."),
]
DROPPED = {"pages": 2, "page_missing": 1, "missing": 2, "untranslated": 2, "too_short": 1,
           "too_long": 1, "empty": 1, "length_ratio": 1, "code_like": 1, "excluded": 2,
           "duplicate": 1, "kept": 5}


def _page(lang: str, pars: dict[str, str]) -> str:
    """A help page as the packages ship it (head, navigation, paragraphs, a table)."""
    body = []
    for par_id, html in pars.items():
        p = f'<p id="{par_id.split()[0]}" class="paragraph" dir="auto">{html}</p>'
        if par_id.startswith("par_id15") or par_id.startswith("par_id78"):  # table cells
            p = (f'<table border="1" class="" cellpadding="0" cellspacing="0">\n<tr>\n'
                 f'<td rowspan="" colspan="" dir="auto">\n    {p}\n  </td>\n</tr>\n</table>')
        body.append(p)
    return f"""<!DOCTYPE html>
<html lang="{lang}" dir="ltr">
<head>
<base href="../../../../">
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>Turning off automatic URL recognition</title>
<script type="text/javascript" src="{lang}/contents.js" defer></script>
</head>
<body>
<header id="TopLeftHeader"><a class="logo" href="{lang}/text/shared/05/new_help.html">
<p dir="auto">Help for LibreOffice 7.4</p></a></header>
<div id="DisplayArea" itemprop="softwareHelp" itemscope="true">
<a name="bm_id3149346"></a><meta itemprop="keywords" content="AutoCorrect">
<h1 id="hd_id3149346" dir="auto">
<a name="autocorr_url"></a>Turning off automatic URL recognition</h1>
{chr(10).join(body)}
<br>
</div>
</body>
</html>
"""


@pytest.fixture()
def help_root(tmp_path) -> Path:
    root = tmp_path / "usr/share/libreoffice/help"
    for page, pars in PAGES.items():
        for lang, side in (("en-US", 0), ("de", 1)):
            kept = {pid: texts[side] for pid, texts in pars.items() if texts[side] is not None}
            if kept:
                path = root / lang / "text" / page
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(_page(lang, kept), encoding="utf-8")
    fr = root / "fr/text/scalc/01/func_sum.html"
    fr.parent.mkdir(parents=True)
    fr.write_text(_page("fr", {"par_id3152421": "Additionne tous les nombres d\u2019une "
                               "plage\u00a0de cellules."}), encoding="utf-8")
    (tmp_path / "dev_st.tsv").write_text(EXCLUDE_ST, encoding="utf-8")
    (tmp_path / "mt_test.tsv").write_text(EXCLUDE_MT, encoding="utf-8")
    (tmp_path / "mt_train.tsv").write_text(
        "id\tsrc_text\ttgt_text\tsrc_lang\ttgt_lang\n"
        "1d8b1a6341_de\tSo richten Sie Ihr Netzwerk ein:\tTo set up your network:\tde\ten\n",
        encoding="utf-8")
    return root


def test_paragraphs_are_aligned_by_page_and_par_id_and_dropped_by_reason(help_root):
    exclude = lo.load_exclude([help_root.parents[3] / "dev_st.tsv",
                               help_root.parents[3] / "mt_test.tsv"])
    pairs, stats = lo.extract_language(help_root, "de", exclude)
    assert [(p.page, p.par_id, p.en, p.text) for p in pairs] == KEPT
    assert dict(stats) == DROPPED
    assert {p.lang for p in pairs} == {"de"}
    assert len({p.id for p in pairs}) == 5 and all(
        p.id.startswith("lo_") and p.id.endswith("_de") for p in pairs)


def test_code_like_units():
    for code in ("=SUM(A1:A3)", "Dim oDoc As Object", "End Sub", "SUMX2MY2(ArrayX; ArrayY)",
                 'ListBox1.options[0].value="Value"', "array_1d: The array to shuffle.",
                 "Type acute <?> in the Commands window.", "Call uno.getComponentContext()",
                 "See https://www.libreoffice.org for details."):
        assert lo.is_code_like(code), code
    for prose in ("Choose Format - Page - Header/Footer (spreadsheets).",
                  "Select the cell or cells that you want to expand.",
                  "Frequency is the number of interest payments per year (1, 2 or 4).",
                  "Then click Next to continue."):
        assert not lo.is_code_like(prose), prose


def _read(path: Path) -> list[dict[str, str]]:
    return mf.read_tsv(path, mf.COLUMNS["mt"])


def test_cli_writes_an_mt_tsv_that_the_translation_dataset_reads(help_root, capsys):
    tmp = help_root.parents[3]
    out = tmp / "mt_train_lo.tsv"
    argv = ["--help-root", str(help_root), "--langs", "de,fr", "--out", str(out),
            "--append", str(tmp / "mt_train.tsv"),
            "--exclude", str(tmp / "dev_st.tsv"), str(tmp / "mt_test.tsv")]
    assert main_mt_text(argv) == 0
    counts = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert counts["rows"] == "7" and counts["appended"] == "1"
    assert counts["de_kept"] == "5" and counts["de_excluded"] == "2"
    assert counts["fr_kept"] == "1" and counts["fr_page_missing"] == "2"
    rows = _read(out)
    assert list(rows[0].values()) == ["1d8b1a6341_de", "So richten Sie Ihr Netzwerk ein:",
                                      "To set up your network:", "de", "en"]
    assert [(r["src_text"], r["tgt_text"]) for r in rows[1:6]] == [(x, e) for *_, e, x in KEPT]
    assert rows[6]["src_text"] == "Additionne tous les nombres d\u2019une plage de cellules."
    assert [(r["src_lang"], r["tgt_lang"]) for r in rows] == [("de", "en")] * 6 + [("fr", "en")]
    first = out.read_bytes()
    assert main_mt_text(argv) == 0 and out.read_bytes() == first  # deterministic

    chars = tmp / "dict.char.txt"
    build_char_vocab({"x": [r["src_text"] for r in rows]}, size=200).save(chars)
    tgt = Dictionary()
    for r in rows:
        for word in r["tgt_text"].split():
            tgt.add_symbol(word)
    ds = TextTranslationDataset(out, load_char_dictionary(chars), tgt)
    assert len(ds) == 7
    batch = ds.collater([ds[i] for i in range(len(ds))])
    assert batch["net_input"]["src_tokens"].size(0) == 7
    assert int((batch["target"] == tgt.unk()).sum()) == 0


def test_max_per_lang_keeps_a_fixed_sample_in_page_order(help_root, capsys):
    tmp = help_root.parents[3]
    out = tmp / "sample.tsv"
    argv = ["--help-root", str(help_root), "--langs", "de", "--out", str(out),
            "--max-per-lang", "2",
            "--exclude", str(tmp / "dev_st.tsv"), str(tmp / "mt_test.tsv")]
    assert main_mt_text(argv) == 0
    rows = _read(out)
    full = [(e, x) for *_, e, x in KEPT]
    kept = [(r["tgt_text"], r["src_text"]) for r in rows]
    assert len(kept) == 2 and kept == [p for p in full if p in kept]
    assert "de_written\t2" in capsys.readouterr().out


@pytest.mark.parametrize("lang,package", [("xx", "libreoffice-help-xx"),
                                          ("en-US", "libreoffice-help-en-us")])
def test_a_missing_language_names_its_directory_and_package(help_root, capsys, lang,
                                                            package):
    if lang == "en-US":  # the English side missing
        (help_root / "en-US").rename(help_root / "english")
        lang = "de"
    out = help_root.parents[3] / "none.tsv"
    assert main_mt_text(["--help-root", str(help_root), "--langs", lang,
                         "--out", str(out)]) == 1
    err = capsys.readouterr().err
    missing = help_root / ("xx" if package.endswith("xx") else "en-US") / "text"
    assert err.startswith("error: ") and str(missing) in err and package in err, err
    assert not out.exists()


def test_language_directories_are_found_whatever_the_letter_case(help_root):
    (help_root / "de").rename(help_root / "pt-BR")
    assert lo.language_dir(help_root, "pt-br") == help_root / "pt-BR" / "text"
    assert lo.package_name("pt-BR") == "libreoffice-help-pt-br"
