"""Criterion mslam_pretraining: every objective present and finite, weight 0 removes the
term and the forward pass it needs, batches lacking a kind work; contrastive negatives
come from the other masked frames, masked-prediction targets from the clean logits, and
codebook collapse shows in the log."""

import argparse

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.models import ARCH_CONFIG_REGISTRY

from mslam_plugin.criterions.mslam_pretraining import (OBJECTIVES, MSLAMPretrainingCriterion,
                                                        MSLAMPretrainingCriterionConfig,
                                                        span_start_prob)
from mslam_plugin.data.char_vocab import build_char_vocab
from mslam_plugin.models.mslam import MSLAMConfig, MSLAMModel
from mslam_plugin.models.outputs import MSLAMQuantized, MSLAMSpeechOutput
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
    # the skipped batch is counted, not averaged into the loss as 0
    from fairseq.logging import metrics

    _, _, good = _criterion(task)(_model(task), _sample(task))
    assert log["sample_size"] == 0 and good["sample_size"] == 1
    with metrics.aggregate() as agg:
        type(_criterion(task)).reduce_metrics([good, log])
    values = agg.get_smoothed_values()
    assert values["loss"] == round(good["loss"], 3) and values["nonfinite_skipped"] == 1


def test_every_step_logs_the_same_keys(task):
    # fairseq sums logging outputs over ranks and micro-batches by the first one's keys
    model = _model(task)
    keys = [set(_criterion(task)(model, _sample(task, kinds))[2])
            for kinds in (("speech", "text", "paired"), ("text",), ())]
    assert keys[0] == keys[1] == keys[2]


def _speech_output(model, lengths, masked):
    """A speech output whose quantized target at frame (b, t) is the one-hot vector of
    b * T + t (zeros at padding, as the model's): a target names the frame it came from."""
    b, t = len(lengths), max(lengths)
    pad = torch.arange(t)[None, :] >= torch.tensor(lengths)[:, None]
    mask = torch.zeros_like(pad)
    for i, frames in enumerate(masked):
        mask[i, frames] = True
    frame = torch.arange(b * t).view(b, t)
    quantized = F.one_hot(frame, model.cfg.codebook_dim).float().masked_fill(pad[..., None], 0)
    q = MSLAMQuantized(quantized, frame.masked_fill(pad, -1), torch.tensor(1.0),
                       torch.tensor(500.0), model.cfg.codebook_size, 2.0)
    d = model.cfg.encoder_embed_dim
    return MSLAMSpeechOutput(None, pad, mask, torch.randn(b, t, d), None, q)


def test_contrastive_negatives_are_the_other_masked_frames_of_the_utterance(task, monkeypatch):
    model = _model(task)
    with torch.no_grad():  # targets pass unchanged: each still names its frame
        model.quantized_proj.weight.copy_(torch.eye(model.cfg.contrastive_dim))
        model.quantized_proj.bias.zero_()
    t = 12
    masked = [[0], [2, 3, 4], list(range(10))]  # a 1-frame utterance: one masked frame
    speech = _speech_output(model, [1, 8, 12], masked)
    seen = []
    cosine = F.cosine_similarity
    monkeypatch.setattr(F, "cosine_similarity",
                        lambda a, b, **k: seen.append(b) or cosine(a, b, **k))
    out = {"losses": {}, "stats": {}, "log": {}, "diversity": None}
    _criterion(task)._contrastive(model, speech, np.random.default_rng(0), out)
    targets = seen[0]
    assert (targets.abs().sum(-1) > 0).all()  # no padding frame (zeros) ever drawn
    frames = targets.argmax(-1)  # (rows, 1 + negatives)
    positives = sorted(frames[:, 0].tolist())
    # the 1-frame utterance has no possible negative: its row is left out
    assert positives == [t + f for f in masked[1]] + [2 * t + f for f in masked[2]]
    for row in frames.tolist():
        utt = row[0] // t
        others = {utt * t + f for f in masked[utt]} - {row[0]}
        assert set(row[1:]) <= others and len(row) == 101
    # uniform over the other masked frames, with replacement
    drawn = torch.bincount(frames[frames[:, 0] >= 2 * t, 1:].flatten() - 2 * t, minlength=10)
    assert drawn.min() > 60 and drawn.max() < 140  # 100 expected each
    assert torch.isfinite(out["losses"]["w2v_contrastive"])


def test_contrastive_without_any_possible_negative_adds_no_term(task):
    model = _model(task)
    out = {"losses": {}, "stats": {}, "log": {}, "diversity": None}
    _criterion(task)._contrastive(model, _speech_output(model, [1, 1], [[0], [0]]),
                                  np.random.default_rng(0), out)
    assert "w2v_contrastive" not in out["losses"] and out["diversity"] is not None


def test_masked_prediction_targets_are_the_clean_argmax_in_training(task):
    model = _model(task)  # training mode: the quantizer adds Gumbel noise to its sample
    features = model.feature_norm(torch.randn(2, 50, model.cfg.encoder_embed_dim))
    pad = torch.arange(50)[None, :] >= torch.tensor([50, 30])[:, None]
    with torch.no_grad():
        first, second = model.quantize(features, pad), model.quantize(features, pad)
        clean = model.quantizer.weight_proj(features).argmax(-1).masked_fill(pad, -1)
        model.eval()
        evaluated = model.quantize(features, pad)
    assert torch.equal(first.code_ids, clean) and torch.equal(second.code_ids, clean)
    assert torch.equal(evaluated.code_ids, clean)
    assert not torch.equal(first.quantized, second.quantized)  # the sample stays noisy


def _collapse(model):
    """Every frame's logits pick code 0 by a margin no Gumbel noise overturns."""
    with torch.no_grad():
        model.quantizer.weight_proj.weight.zero_()
        model.quantizer.weight_proj.bias.zero_()
        model.quantizer.weight_proj.bias[0] = 1e4


def _reduced(logs):
    with metrics.aggregate(new_root=True) as agg:
        MSLAMPretrainingCriterion.reduce_metrics(logs)
    return agg.get_smoothed_values()


def test_codebook_collapse_is_logged_and_warned(task, caplog):
    model = _model(task)
    criterion = _criterion(task, text_mlm_weight=0.0, tlm_text_weight=0.0,
                           tlm_speech_weight=0.0, ctc_weight=0.0)
    _, _, log = criterion(model, _sample(task))
    healthy = _reduced([log])
    assert healthy["degenerate_w2v_contrastive"] < 0.05 and "acc_w2v_contrastive" in healthy
    assert "codebook collapse" not in caplog.text
    _collapse(model)
    _, _, log = criterion(model, _sample(task))
    # every negative shares the positive's code: no row is left to measure accuracy on
    assert log["count_w2v_contrastive"] == 0 and log["degenerate_w2v_contrastive"] > 0
    assert log["loss_w2v_contrastive"] == pytest.approx(0.0, abs=1e-6)
    collapsed = _reduced([log])
    assert collapsed["degenerate_w2v_contrastive"] == 1.0
    assert "acc_w2v_contrastive" not in collapsed
    assert caplog.text.count("codebook collapse") == 1
    criterion(model, _sample(task))  # within codebook_warn_interval: no second warning
    assert caplog.text.count("codebook collapse") == 1
    model.eval()
    criterion.batches_since_warning = criterion.cfg.codebook_warn_interval
    criterion(model, _sample(task))  # validation batches do not warn
    assert caplog.text.count("codebook collapse") == 1
