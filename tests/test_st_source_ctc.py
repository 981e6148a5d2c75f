"""The auxiliary CTC loss on source transcripts in ST fine-tuning: batches carry each
utterance's own transcript in the batch's order, the loss is fairseq's
label_smoothed_cross_entropy_with_ctc over the pre-training's character vocabulary with
its ``<blank>``, and it trains the encoder."""

import csv
from pathlib import Path

import pytest
import torch
from fairseq import options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf

from mslam_plugin.data.char_vocab import BLANK, encode

REPO = Path(__file__).resolve().parents[1]


def _setup(corpus: Path, *extra: str):
    parser = options.get_training_parser()
    cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(parser, [
        str(corpus), "--user-dir", str(REPO / "mslam_plugin"), "--task",
        "mslam_speech_translation", "--config-yaml", "config_st.yaml", "--arch", "mslam_st_tiny",
        "--train-subset", "train_st", "--cpu", *extra]))
    return cfg, tasks.setup_task(cfg.task)


def _ctc_setup(corpus: Path, weight: str = "0.5"):
    return _setup(corpus, "--criterion", "label_smoothed_cross_entropy_with_ctc",
                  "--ctc-weight", weight, "--dropout", "0", "--decoder-dropout", "0")


def _src_texts(corpus: Path) -> dict[str, str]:
    with (corpus / "train_st.tsv").open(encoding="utf-8") as f:
        return {r["id"]: r["src_text"] for r in csv.DictReader(f, delimiter="\t",
                                                                quoting=csv.QUOTE_NONE)}


def test_batches_carry_each_utterance_transcript_in_batch_order(tiny_corpus):
    _, task = _ctc_setup(tiny_corpus)
    task.load_dataset("train_st")
    ds = task.datasets["train_st"]
    batch = ds.collater([ds[i] for i in reversed(range(len(ds)))])  # sorted by length inside
    texts = _src_texts(tiny_corpus)
    d = task.char_dictionary
    assert batch["source_chars"].size(0) == len(ds)
    for row, idx in enumerate(batch["id"].tolist()):
        n = int(batch["source_char_lengths"][row])
        assert batch["source_chars"][row, :n].tolist() == encode(d, texts[ds.ids[idx]])
        assert batch["source_chars"][row, n:].eq(d.pad()).all()


def test_without_the_ctc_criterion_batches_are_unchanged(tiny_corpus):
    _, task = _setup(tiny_corpus, "--criterion", "label_smoothed_cross_entropy")
    task.load_dataset("train_st")
    ds = task.datasets["train_st"]
    assert "source_chars" not in ds.collater([ds[0], ds[1]])


def test_ctc_loss_uses_the_vocabulary_blank_and_trains_the_encoder(tiny_corpus):
    cfg, task = _ctc_setup(tiny_corpus)
    task.load_dataset("train_st")
    ds = task.datasets["train_st"]
    torch.manual_seed(0)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    assert model.encoder.ctc_head is not None
    assert model.encoder.ctc_blank == task.char_dictionary.index(BLANK) != 0
    sample = ds.collater([ds[i] for i in range(len(ds))])
    net_output = model(**sample["net_input"])
    lprobs, lengths = model.get_ctc_output(net_output, sample)
    raw = torch.log_softmax(net_output[1]["encoder_out"]["ctc_logits"][0], dim=-1)
    # column 0 (fairseq's blank) is the vocabulary's <blank>, and nothing is lost
    torch.testing.assert_close(lprobs[..., 0], raw[..., model.encoder.ctc_blank])
    torch.testing.assert_close(lprobs.exp().sum(-1), torch.ones_like(lprobs[..., 0]))
    assert lengths.max() == lprobs.size(0) and lengths.min() < lengths.max()
    loss, _, log = criterion(model, sample)
    assert 0 < log["ctc_loss"] < float("inf")
    loss.backward()
    assert model.encoder.ctc_head.weight.grad.abs().sum() > 0
    grads = [p.grad for p in model.encoder.mslam.speech_encoder.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_ctc_weight_zero_is_the_papers_recipe_and_loads_a_ctc_checkpoint(tiny_corpus):
    cfg, task = _ctc_setup(tiny_corpus, weight="0")
    plain = task.build_model(cfg.model)
    assert plain.encoder.ctc_head is None  # no head, no unused parameters
    cfg_ctc, task_ctc = _ctc_setup(tiny_corpus)
    with_head = task_ctc.build_model(cfg_ctc.model)
    plain.load_state_dict(with_head.state_dict())  # strict: only the head is dropped
    for name, p in plain.named_parameters():
        torch.testing.assert_close(p, with_head.state_dict()[name])


def test_manifest_without_transcripts_is_refused_by_name(tiny_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in tiny_corpus.iterdir():
        if f.is_file() and f.name != "train_st.tsv":
            (corpus / f.name).symlink_to(f)
    lines = (tiny_corpus / "train_st.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    col = header.index("src_text")
    rows = [line.split("\t") for line in lines[1:]]
    rows[1][col] = ""
    (corpus / "train_st.tsv").write_text(
        "\n".join("\t".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    _, task = _ctc_setup(corpus)
    with pytest.raises(ValueError, match=r"train_st.tsv, line 3: empty src_text \(1 rows\)"):
        task.load_dataset("train_st")  # at start-up, not mid-epoch


def test_greedy_ctc_merges_repeats_drops_blanks_and_respects_lengths():
    from mslam_plugin.decode_ctc import greedy_ctc

    path = torch.tensor([[5, 5, 0, 5, 7, 7, 0, 0, 9], [3, 0, 3, 3, 4, 4, 4, 8, 8]])  # (B, T)
    lprobs = torch.nn.functional.one_hot(path, 10).float().log().transpose(0, 1)  # (T, B, V)
    assert greedy_ctc(lprobs, torch.tensor([9, 5])) == [[5, 5, 7, 9], [3, 3, 4]]
