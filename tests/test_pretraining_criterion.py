"""Criterion mslam_pretraining: every objective present and finite, weight 0 removes the
term and the forward pass it needs, batches lacking a kind work."""

import argparse

import pytest
import torch
from fairseq.models import ARCH_CONFIG_REGISTRY

from mslam_plugin.criterions.mslam_pretraining import (OBJECTIVES, MSLAMPretrainingCriterion,
                                                        MSLAMPretrainingCriterionConfig,
                                                        span_start_prob)
from mslam_plugin.data.char_vocab import build_char_vocab
from mslam_plugin.models.mslam import MSLAMConfig, MSLAMModel
from mslam_plugin.tasks.mslam_pretraining import MSLAMPretrainingConfig, MSLAMPretrainingTask


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("vocab")
    build_char_vocab({"de": ["abcdefghijklmnopqrstuvwxyz äöü"]}).save(root / "dict.char.txt")
    return MSLAMPretrainingTask.setup_task(MSLAMPretrainingConfig(data=str(root), seed=1))


def _model(task):
    ns = argparse.Namespace(dropout=0.0)
    ARCH_CONFIG_REGISTRY["mslam_tiny"](ns)
    torch.manual_seed(0)
    return MSLAMModel(MSLAMConfig(**vars(ns)), len(task.dictionary), task.dictionary.pad()).train()


def _sample(task, kinds=("speech", "text", "paired")):
    g = torch.Generator().manual_seed(0)
    d = task.dictionary
    sample = {"batch_seed": 7, "nsentences": 0, "ntokens": 0}
    lengths = torch.tensor([160, 120])
    pad = torch.arange(160)[None, :] >= lengths[:, None]
    tokens = torch.randint(6, len(d), (2, 20), generator=g)
    tokens[1, 14:] = d.pad()
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    mask[:, 2:8] = True
    text = {"tokens": tokens.masked_fill(mask, d.index("<mask>")), "mask": mask,
            "target": tokens.masked_fill(~mask, d.pad()), "transcript": tokens}
    speech = {"fbank": torch.randn(2, 160, 80, generator=g).masked_fill(pad[..., None], 0),
              "fbank_padding_mask": pad}
    parts = {"speech": speech, "text": text, "paired": {**speech, **text}}
    sample.update({k: parts[k] for k in kinds})
    return sample


def _criterion(task, **weights):
    return MSLAMPretrainingCriterion(MSLAMPretrainingCriterionConfig(**weights), task)


def test_all_objectives_logged_and_backpropagate(task):
    model = _model(task)
    loss, sample_size, log = _criterion(task)(model, _sample(task))
    for name in ("w2v_contrastive", "w2v_mlm", "text_mlm", "tlm_text", "tlm_speech", "ctc"):
        assert torch.isfinite(torch.tensor(log[f"loss_{name}"])), name
    for name in ("w2v_contrastive", "w2v_mlm", "text_mlm", "tlm_text", "tlm_speech"):
        assert log[f"count_{name}"] > 0
    assert sample_size == 1 and 0 < log["code_usage"] <= 1 and log["loss_w2v_diversity"] > 0
    assert log["loss"] == pytest.approx(loss.item(), rel=1e-5)
    loss.backward()
    assert model.quantizer.weight_proj.weight.grad.abs().sum() > 0  # contrastive reaches it
    assert model.ctc_head.weight.grad.abs().sum() > 0


def _count_calls(model, name):
    calls = []
    original = getattr(model, name)
    setattr(model, name, lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def test_weight_zero_removes_term_and_its_forward(task):
    model = _model(task)
    speech_calls = _count_calls(model, "forward_speech")
    paired_calls = _count_calls(model, "forward_paired")
    _, _, log = _criterion(task, ctc_weight=0.0)(model, _sample(task))  # mSLAM-TLM
    assert log["n_ctc"] == 0 and log["loss_ctc"] == 0
    assert len(speech_calls) == 1 and len(paired_calls) == 1
    speech_calls.clear(), paired_calls.clear()
    text_calls = _count_calls(model, "forward_text")
    baseline = _criterion(task, text_mlm_weight=0.0, tlm_text_weight=0.0, tlm_speech_weight=0.0,
                          ctc_weight=0.0)  # speech-only w2v-BERT
    _, _, log = baseline(model, _sample(task))
    assert {o for o in OBJECTIVES if log[f"n_{o}"]} == {"w2v_contrastive", "w2v_mlm"}
    assert {k for k in log if k.startswith("loss_") and log[k]} == {
        "loss_w2v_contrastive", "loss_w2v_mlm", "loss_w2v_diversity"}
    assert (len(speech_calls), len(paired_calls), len(text_calls)) == (1, 0, 0)


def test_batch_without_a_kind_works(task):
    model = _model(task)
    loss, _, log = _criterion(task)(model, _sample(task, kinds=("text",)))
    assert log["n_text_mlm"] == 1 and log["n_w2v_mlm"] == 0 and log["loss_w2v_mlm"] == 0
    loss.backward()
    loss, _, log = _criterion(task)(model, _sample(task, kinds=()))
    assert loss.item() == 0.0


def test_tlm_speech_rate_gives_expected_coverage():
    p = span_start_prob(0.75, 10)
    assert abs(1 - (1 - p) ** 10 - 0.75) < 1e-9


def test_all_objectives_under_bf16_autocast(task):
    model = _model(task)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _, log = _criterion(task)(model, _sample(task))
    loss.backward()
    assert torch.isfinite(loss) and all(
        torch.isfinite(torch.tensor(log[f"loss_{k}"])) for k in ("w2v_contrastive", "ctc", "tlm_text"))


def test_non_finite_loss_is_skipped_with_a_log_line(task, caplog):
    model = _model(task)
    sample = _sample(task)
    sample["text"]["tokens"] = sample["text"]["tokens"].clone()
    with torch.no_grad():
        model.text_head.bias[0] = float("nan")  # poisons the text MLM logits only
    loss, _, log = _criterion(task)(model, sample)
    assert loss.item() == 0.0 and log["nonfinite_skipped"] == 1
    assert log["n_text_mlm"] == 0 and log["loss_text_mlm"] == 0
    assert "non-finite loss skipped" in caplog.text
    loss.backward()  # still a graph: every rank runs backward


def test_every_step_logs_the_same_keys(task):
    # fairseq sums logging outputs over ranks and micro-batches by the first one's keys
    model = _model(task)
    keys = [set(_criterion(task)(model, _sample(task, kinds))[2])
            for kinds in (("speech", "text", "paired"), ("text",), ())]
    assert keys[0] == keys[1] == keys[2]
