"""examples/ablation/run.sh end to end on the tiny corpus: a few updates per run, every
stage after the corpus, then a rerun that must redo nothing."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "ablation"))

import bootstrap  # noqa: E402
import probe  # noqa: E402
import release  # noqa: E402
import report  # noqa: E402
import results  # noqa: E402


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", str(REPO / "examples/ablation/run.sh"), *args], env=env,
                          capture_output=True, text=True, check=False, cwd=REPO)


def test_recipe_runs_every_stage_and_resumes(tiny_corpus, tmp_path):
    data, exp = tmp_path / "data", tmp_path / "exp"
    shutil.copytree(tiny_corpus, data)
    args = ["--data", str(data), "--exp", str(exp), "--stage", "2", "--variants", "a,c,d",
            "--seeds", "1", "--ft-langs", "de,ko", "--pretrain-updates", "2",
            "--asr-updates", "2", "--st-updates", "2"]
    proc = _run(*args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = exp / "results"
    names = sorted(p.name for p in res.glob("*.json"))
    expected = ["asr_a_s1.json", "asr_c_s1.json", "asr_d_s1.json", "probe_a.json",
                "probe_c.json", "probe_d.json", "st_a_s1.json", "st_blind_s1.json",
                "st_c_s1.json", "st_d_s1.json", "st_text_a_s1.json", "st_text_c_s1.json",
                "st_text_d_s1.json", "summary.json"]
    assert names == expected
    # variant a is speech-only: its pre-training log has no text, TLM or CTC loss
    log_a = (exp / "pretrain_a" / "train.log").read_text()
    log_c = (exp / "pretrain_c" / "train.log").read_text()
    assert "loss_ctc" in log_c and "loss_ctc" not in log_a and "loss_text_mlm" not in log_a
    # the fine-tuning subset holds only the chosen languages' rows
    langs = {line.split("\t")[6] for line in (data / "ft" / "test_st.tsv").read_text().splitlines()[1:]}
    assert langs == {"de", "ko"}
    st = json.loads((res / "st_c_s1.json").read_text())  # whole: the report needs no run dir
    assert set(st) == {"speech", "text", "dev", "translations"} and st["speech"]["all"]["n"] == 2
    assert len(st["translations"]["speech"]) == 2 and st["dev"]["num_updates"] == 2
    probe_c = json.loads((res / "probe_c.json").read_text())
    assert probe_c["n"] == 2 and probe_c["lid_languages"] == 2
    summary = json.loads((res / "summary.json").read_text())
    assert summary["table"]["c"]["ASR CER"]["n"] == 1
    assert {(t["better"], t["base"]) for t in summary["bootstrap"]} >= {("c", "a"), ("c", "d")}
    assert len(summary["findings"]) == 5 and (res / "ablation.png").is_file()

    before = {p: p.stat().st_mtime for p in exp.rglob("checkpoint_last.pt")}
    again = _run(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "pre-train variant" not in again.stdout and "ASR, variant" not in again.stdout
    assert {p: p.stat().st_mtime for p in exp.rglob("checkpoint_last.pt")} == before

    other = _run(*[a if a != "2" or i != args.index("--pretrain-updates") + 1 else "3"
                   for i, a in enumerate(args)])
    assert other.returncode == 2 and "another recipe" in other.stderr

    # a longer ST schedule in a new directory reuses the pre-trained variants and probes
    longer = exp.parent / "exp_st3"
    base = ["--data", str(data), "--exp", str(longer), "--pretrain-exp", str(exp),
            "--variants", "c", "--seeds", "1", "--ft-langs", "de,ko", "--pretrain-updates", "2",
            "--asr-updates", "2", "--st-updates", "3"]
    st3 = _run(*base, "--stage", "6", "--stop-stage", "6")
    assert st3.returncode == 0, st3.stdout[-3000:] + st3.stderr[-3000:]
    assert not list(longer.glob("pretrain_*"))
    assert str(exp / "pretrain_c" / "checkpoint_last.pt") in (longer / "st_c_s1" / "train.log").read_text()
    report = _run(*base, "--stage", "9")
    assert report.returncode == 0, report.stderr[-3000:]
    table = json.loads((longer / "results" / "summary.json").read_text())["table"]
    assert table["c"]["ST BLEU"]["n"] == 1 and table["c"]["LID accuracy"]["n"] == 1
    assert table["c"]["ASR CER"]["n"] == 1  # the ASR runs of the pre-training experiment
    wrong = _run(*[a if a != "2" or i != base.index("--pretrain-updates") + 1 else "3"
                   for i, a in enumerate(base)], "--stage", "6")
    assert wrong.returncode == 2 and "not pre-trained by this recipe" in wrong.stderr
    for option, value in (("--ft-langs", "de"), ("--pretrain-exp", str(tmp_path / "none"))):
        other_exp = [value if i and base[i - 1] == option else a for i, a in enumerate(base)]
        refused = _run(*other_exp, "--stage", "6")
        assert refused.returncode == 2 and "error:" in refused.stderr, (option, refused.stderr)
    # the pre-training experiment may move: its runs are still the same recipe's
    exp.rename(tmp_path / "exp_moved")
    moved = [str(tmp_path / "exp_moved") if a == str(exp) else a for a in base]
    resumed = _run(*moved, "--stage", "6", "--stop-stage", "6")
    assert resumed.returncode == 0 and "st: variant" not in resumed.stdout, resumed.stderr[-3000:]


def test_report_takes_each_task_whole_from_one_experiment(tmp_path):
    def put(exp, name, bleu):
        (exp / "results").mkdir(parents=True, exist_ok=True)
        (exp / "results" / name).write_text(json.dumps({"speech": {"all": {"bleu": bleu}}}))

    longer, pre = tmp_path / "longer", tmp_path / "pre"
    put(longer, "st_c_s1.json", 3.0)
    put(pre, "st_c_s1.json", 1.0)  # a shorter ST schedule: never mixed with the longer one
    put(pre, "st_d_s1.json", 1.0)
    put(pre, "asr_c_s2.json", 0.0)
    put(pre, "probe_c.json", 0.0)  # not a run
    runs, home = report.read_runs([longer, pre])
    assert set(runs) == {("st", "c"), ("asr", "c")}
    assert runs["st", "c"][1]["speech"]["all"]["bleu"] == 3.0 and home["st", "c"] == longer
    assert set(runs["asr", "c"]) == {2} and home["asr", "c"] == pre


def test_retrieval_recall_and_language_blocks():
    rng = np.random.default_rng(0)
    speech = rng.normal(size=(6, 4))
    text = speech + 0.01 * rng.normal(size=(6, 4))  # each utterance nearest its transcript
    langs = np.array(["x", "x", "x", "y", "y", "y"])
    r = probe.retrieval(speech, text, langs, centre=False)
    assert r["speech_to_text"]["r@1"] == 100.0 and r["within_language"]["text_to_speech"]["r@1"] == 100.0
    shuffled = probe.retrieval(speech, text[[1, 2, 0, 4, 5, 3]], langs, centre=False)
    assert shuffled["speech_to_text"]["r@1"] == 0.0
    assert probe.recall_at(np.eye(3)[[1, 0, 2]]) == {"r@1": 33.33, "r@5": 100.0}
    collapsed = probe.retrieval(speech, np.ones_like(text), langs, centre=True)
    assert collapsed["speech_to_text"]["r@1"] == 0.0  # ties are not hits


def test_language_probe_separates_separable_languages_only():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, (20, 5)), rng.normal(3, 1, (20, 5))])
    y = ["x"] * 20 + ["y"] * 20
    assert probe.lid_probe(x[::2], y[::2], x[1::2], y[1::2], seed=1) >= 90
    noise = rng.normal(size=(40, 5))
    assert probe.lid_probe(noise[::2], y[::2], noise[1::2], y[1::2], seed=1) < 90


def test_findings_follow_the_numbers():
    def cell(m, sd=0.1):
        return {"mean": m, "sd": sd, "n": 3, "values": []}

    def table(tlm, ctc):
        row = lambda st, cer: {"ST BLEU": cell(st), "ST+text BLEU": cell(st + 1),
                               "ASR CER": cell(cer), "zero-shot text chrF": cell(10)}
        t = {"a": row(5, 30), "b": row(tlm, 30), "c": row(ctc, 30.05), "d": row(2, 40)}
        t["blind"] = {"zero-shot text chrF": cell(4)}
        return t

    paper = report.findings(table(tlm=4, ctc=6), [])
    assert [f["status"] for f in paper] == ["reproduced", "reproduced", "inconclusive",
                                            "reproduced", "reproduced"]
    flipped = report.findings(table(tlm=6, ctc=4), [])
    assert [f["status"] for f in flipped][:2] == ["not reproduced", "not reproduced"]
    unsure = [{"better": "c", "base": "b", "task": "st", "p": 0.4}]
    assert report.findings(table(tlm=4, ctc=6), unsure)[1]["status"] == "inconclusive"
    worse = [{"better": "c", "base": "b", "task": "st", "p": 0.99}]
    assert report.findings(table(tlm=6, ctc=4), worse)[1]["status"] == "not reproduced"
    noisy = table(tlm=4, ctc=6)
    noisy["c"]["ASR CER"] = cell(33, sd=5)  # 10% worse, within the seeds' spread
    assert report.findings(noisy, [])[3]["status"] == "inconclusive"
    apart = table(tlm=4, ctc=6)
    apart["c"]["ASR CER"] = cell(36)  # 20% worse, far beyond the spread
    assert report.findings(apart, [])[3]["status"] == "not reproduced"
    one_seed = table(tlm=4, ctc=6)
    one_seed["b"]["ASR CER"] = cell(30, sd=None)
    assert report.findings(one_seed, [])[3]["status"] == "inconclusive"


@pytest.mark.parametrize("delta,sd,p,status", [
    (1.0, 0.1, None, "reproduced"), (0.1, 0.1, None, "inconclusive"),
    (-1.0, 0.1, None, "not reproduced"), (None, 0.1, None, "not run"),
    (1.0, None, 0.01, "inconclusive"), (1.0, 0.1, 0.01, "reproduced"),
    (1.0, 0.1, 0.5, "inconclusive"), (-1.0, 0.1, 0.99, "not reproduced"),
    (1.0, 0.1, 0.99, "inconclusive"), (-1.0, 0.1, 0.01, "inconclusive")])  # signs disagree
def test_finding_thresholds(delta, sd, p, status):
    assert report.finding(delta, sd, True, p) == status


def test_bad_variant_and_missing_prerequisite_fail_with_a_message(tmp_path):
    common = ["--data", str(tmp_path / "data"), "--exp", str(tmp_path / "exp")]
    bad = _run(*common, "--variants", "a,e")
    assert bad.returncode == 2 and "unknown variant: e" in bad.stderr
    probe_d = _run(*common, "--stage", "4", "--stop-stage", "4", "--variants", "d")
    assert probe_d.returncode == 1 and "needs one pre-trained variant" in probe_d.stderr


def _write_decode(run: Path, hyps: list[str]) -> None:
    """A run's speech decode as fairseq-generate and the scorer write it."""
    (run / "decode").mkdir(parents=True)
    (run / "decode" / "generate-test_st-speech.txt").write_text(
        "".join(f"S-{i}\tsrc\nD-{i}\t-0.5\t{hyps[i]}\n" for i in reversed(range(len(hyps)))))
    (run / "decode" / "scores-test_st-speech.json").write_text(
        json.dumps({"all": {"bleu": 1.0, "chrf": 2.0, "n": len(hyps)}}))


def test_result_file_holds_scores_dev_figures_and_translations(tmp_path):
    run = tmp_path / "st_c_s2"
    _write_decode(run, ["Open the file.", "Close it."])
    (run / "train.log").write_text("x | valid on 'dev_st' subset | nll_loss 5.5 | num_updates 8\n")
    out = tmp_path / "st_c_s2.json"
    assert results.main([str(run), str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["translations"] == {"speech": ["Open the file.", "Close it."]}  # test order
    assert result["dev"] == {"nll_loss": 5.5, "num_updates": 8} and "text" not in result
    assert results.translations(result, 2) and results.translations(result, 3) is None
    (run / "decode" / "generate-test_st-speech.txt").write_text("D-1\t-0.5\tClose it.\n")
    assert results.decoded(run) is None  # an interrupted decode: no translations
    empty = tmp_path / "st_d_s1"
    empty.mkdir()
    assert results.main([str(empty), str(tmp_path / "x.json")]) == 1


def _runs(outputs: dict) -> dict:
    """(task, variant, seed) -> translations (None: a result without them) as the report
    reads result files."""
    runs = {}
    for (task, variant, seed), hyps in outputs.items():
        runs.setdefault((task, variant), {})[seed] = (
            {} if hyps is None else {"translations": {"speech": hyps}})
    return runs


def test_output_stats_count_distinct_and_verbatim_outputs():
    runs = _runs({("st", "a", 1): ["Open the file.", "Open the file.", "Close it now."],
                  ("st_text", "c", 2): ["x", "y", "z"], ("asr", "a", 1): None,
                  ("st", "b", 1): None})
    stats = report.output_stats(runs, 3, {"Open the file.", "y"})
    assert stats == [
        {"task": "st", "variant": "a", "seed": 1, "distinct": 2, "verbatim": 2, "n": 3},
        {"task": "st_text", "variant": "c", "seed": 2, "distinct": 3, "verbatim": 1, "n": 3}]


def test_bootstrap_tests_differences_and_gains():
    refs = [f"open the file number {i} now" for i in range(8)] * 2  # two languages a unit
    units = [f"u{i}" for i in range(8)] * 2
    good = refs
    bad = ["close it"] * len(refs)
    outputs = {("st", "a"): bad, ("st_text", "a"): bad, ("st", "c"): bad, ("st_text", "c"): good}
    runs = _runs({(task, v, 2): hyps for (task, v), hyps in outputs.items()})
    for task, v in outputs:  # seed 1 without translations (an earlier recipe's result)
        runs[task, v][1] = {}
    tests = bootstrap.significance(refs, units, runs, samples=200)
    by = {(t["better"], t["base"], t["task"]): t for t in tests}
    # text helps c (bad -> perfect) and not a: c's gain leads, in every draw
    gain = by["c", "a", "text gain"]
    assert gain["delta_bleu"] > 90 and gain["p"] < 0.01 and gain["units"] == 8
    assert gain["seeds"] == [2]  # the seeds whose translations every term has
    assert by["c", "a", "st_text"]["p"] < 0.01  # c beats a after text fine-tuning
    assert by["c", "a", "st"]["p"] == 1.0  # equal outputs: never better
    assert ("c", "b", "text gain") not in by  # b has no runs


def test_last_dev_reads_the_last_validation_of_a_run(tmp_path):
    run = tmp_path / "st_b_s2"
    run.mkdir()
    (run / "train.log").write_text(
        "2026-01-01 | INFO | dev_st | epoch 001 | valid on 'dev_st' subset | loss 7.1 | "
        "nll_loss 6.5 | accuracy 12.0 | num_updates 130\n"
        "2026-01-01 | INFO | train_inner | epoch 002: 25 / 324 loss=6.0, nll_loss=5.0\n"
        "2026-01-01 | INFO | dev_st | epoch 004 | valid on 'dev_st' subset | loss 6.4 | "
        "nll_loss 5.71 | enc_pooled_cos -0.08 | accuracy 25.1 | num_updates 1280 | best_loss 6.39\n")
    dev = results.last_dev(run)
    assert dev["nll_loss"] == 5.71 and dev["accuracy"] == 25.1 and dev["num_updates"] == 1280
    assert dev["enc_pooled_cos"] == -0.08 and dev["best_loss"] == 6.39
    assert results.last_dev(tmp_path / "st_b_s3") == {}
    table = report.cells({("st", "b"): {2: {"dev": dev}}}, {})
    assert table["b"]["ST dev nll"]["mean"] == 5.71


def test_release_keeps_weights_in_half_precision_and_drops_the_optimizer(tmp_path):
    import torch

    state = {"cfg": {"model": {"_name": "mslam_tiny"}}, "args": None,
             "model": {"w": torch.tensor([0.1, -2.5]), "n": torch.tensor([3])},
             "optimizer_history": [{"num_updates": 7}], "extra_state": {},
             "last_optimizer_state": {"state": {0: torch.zeros(1000)}}}
    torch.save(state, tmp_path / "full.pt")
    assert release.main([str(tmp_path / "full.pt"), str(tmp_path / "out.pt")]) == 0
    out = torch.load(tmp_path / "out.pt", weights_only=False)
    assert "last_optimizer_state" not in out and out["optimizer_history"][0]["num_updates"] == 7
    assert out["model"]["w"].dtype == torch.float16 and out["model"]["n"].dtype == torch.int64
    assert torch.allclose(out["model"]["w"].float(), state["model"]["w"], rtol=1e-3)
    trained = subprocess.run([sys.executable, str(REPO / "examples/tiny/trained.py"),
                              str(tmp_path / "out.pt"), "7"], check=False)
    assert trained.returncode == 0  # the recipe still sees a finished pre-training
    torch.save({"model": {}}, tmp_path / "bare.pt")
    assert release.main([str(tmp_path / "bare.pt"), str(tmp_path / "x.pt")]) == 1
    assert release.main([str(tmp_path / "none.pt"), str(tmp_path / "x.pt")]) == 1
    (tmp_path / "text.pt").write_text("not a checkpoint")
    assert release.main([str(tmp_path / "text.pt"), str(tmp_path / "x.pt")]) == 1
