"""The loss of ST fine-tuning, speech only and speech + text, against the same terms
computed here from the model's outputs: a speech + text batch trains on

    ST cross-entropy + ctc_weight * source CTC (speech half only)
        + mt_weight * MT cross-entropy * (ST tokens / MT tokens)

(per-token means, summed over the ST sample size), and the task's two backward passes
leave the gradients of that one loss."""

import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from fairseq import options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf

REPO = Path(__file__).resolve().parents[1]
MT_WEIGHT, CTC_WEIGHT = 3.0, 0.4  # not the defaults (5.0, 1.0): a hard-coded value shows


@pytest.fixture(scope="module")
def setup(tiny_corpus):
    parser = options.get_training_parser()
    cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(parser, [
        str(tiny_corpus), "--user-dir", str(REPO / "mslam_plugin"), "--task",
        "mslam_speech_translation", "--config-yaml", "config_st.yaml", "--arch", "mslam_st_tiny",
        "--train-subset", "train_st", "--mt-subset", "mt_train", "--mt-weight", str(MT_WEIGHT),
        "--criterion", "label_smoothed_cross_entropy_with_ctc", "--ctc-weight", str(CTC_WEIGHT),
        "--label-smoothing", "0", "--cpu", "--dropout", "0", "--decoder-dropout", "0",
        "--joint-dropout", "0", "--decoder-attention-dropout", "0"]))
    task = tasks.setup_task(cfg.task)
    task.load_dataset("train_st")
    torch.manual_seed(0)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    ds = task.datasets["train_st"]
    # the largest batch whose halves differ in tokens, so that their ratio matters
    for n in range(len(ds), 1, -1):
        sample = ds.collater([ds[i] for i in range(n)])
        if sample["st"]["ntokens"] != sample["mt"]["ntokens"]:
            return task, model, criterion, sample
    raise AssertionError("every batch has as many ST as MT target tokens")


def _cross_entropy(model, part):
    """Summed token cross-entropy of ``part`` and the model's output on it."""
    out = model(**part["net_input"])
    lprobs = F.log_softmax(out[0].float(), dim=-1)
    pad = model.decoder.dictionary.pad()
    ce = F.nll_loss(lprobs.flatten(0, 1), part["target"].flatten(), ignore_index=pad,
                    reduction="sum")
    return ce, out


def _source_ctc(model, part, out):
    """Summed CTC of the speech half's source transcripts."""
    lprobs, lengths = model.get_ctc_output(out, part)
    target, target_lengths = model.get_ctc_target(part)
    flat = target[torch.arange(target.size(1))[None, :] < target_lengths[:, None]]
    return F.ctc_loss(lprobs, flat, lengths, target_lengths, reduction="sum", zero_infinity=True)


def _grads(model) -> dict:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_speech_and_text_loss_is_st_plus_weighted_mt(setup):
    task, model, criterion, sample = setup
    st, mt = sample["st"], sample["mt"]
    assert "source_chars" in st and "source_chars" not in mt
    optimizer = types.SimpleNamespace(backward=lambda loss: loss.backward())

    model.zero_grad()
    loss, sample_size, log = task.train_step(sample, model, criterion, optimizer, update_num=0)
    got = _grads(model)

    model.zero_grad()
    st_ce, st_out = _cross_entropy(model, st)
    st_ctc = _source_ctc(model, st, st_out)
    mt_ce, _ = _cross_entropy(model, mt)
    expected = st_ce + CTC_WEIGHT * st_ctc + MT_WEIGHT * mt_ce * st["ntokens"] / mt["ntokens"]
    expected.backward()
    want = _grads(model)

    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert sample_size == st["ntokens"]
    # the logged halves: the ST criterion output (its CTC weighted) and the raw MT one
    assert log["loss"] == pytest.approx((st_ce + CTC_WEIGHT * st_ctc).item(), rel=1e-5)
    assert log["ctc_loss"] == pytest.approx(CTC_WEIGHT * st_ctc.item(), rel=1e-5)
    assert log["mt_loss"] == pytest.approx(mt_ce.item(), rel=1e-5)
    assert log["mt_sample_size"] == mt["ntokens"]
    assert criterion.ctc_weight == CTC_WEIGHT  # zeroed for the MT half only
    # the two backward passes give the gradient of the one loss above
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-6, msg=name)
    text_embedding = [n for n in want if "text_embedding" in n]  # the MT half reaches it
    assert text_embedding and all(want[n].abs().sum() > 0 for n in text_embedding)


def test_speech_only_loss_is_st_plus_weighted_ctc(setup):
    task, model, criterion, sample = setup
    st = sample["st"]
    optimizer = types.SimpleNamespace(backward=lambda loss: loss.backward())
    model.zero_grad()
    loss, sample_size, log = task.train_step(st, model, criterion, optimizer, update_num=0)
    st_ce, st_out = _cross_entropy(model, st)
    expected = st_ce + CTC_WEIGHT * _source_ctc(model, st, st_out)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert sample_size == st["ntokens"] and "mt_loss" not in log
