"""Criterion mslam_pretraining: every objective present and finite, weight 0 removes the
term and the forward pass it needs, batches lacking a kind work; masked-prediction
targets come from the clean logits, and codebook collapse shows in the log (the
contrastive term: test_contrastive_loss.py)."""

import argparse

import pytest
import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.models import ARCH_CONFIG_REGISTRY

from mslam_plugin.criterions.mslam_pretraining import (OBJECTIVES, MSLAMPretrainingCriterion,
                                                        MSLAMPretrainingCriterionConfig)
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
    text = {"tokens": tokens}  # the criterion masks them
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


def test_loss_is_the_weighted_sum_of_the_objectives(task):
    """Each objective's logged loss enters the total with its own weight, the codebook
    diversity with ``w2v_diversity_weight``; distinct weights catch a weight applied to
    the wrong term, a term dropped or counted twice."""
    weights = dict(w2v_contrastive=0.7, w2v_mlm=1.3, text_mlm=0.4, tlm_text=2.0,
                   tlm_speech=0.5, ctc=0.25)
    criterion = _criterion(task, w2v_diversity_weight=0.3,
                           **{f"{k}_weight": w for k, w in weights.items()})
    loss, _, log = criterion(_model(task), _sample(task))
    assert all(log[f"n_{k}"] == 1 and log[f"loss_{k}"] > 0 for k in weights)
    expected = sum(w * log[f"loss_{k}"] for k, w in weights.items()) \
        + 0.3 * log["loss_w2v_diversity"]
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert log["loss"] == pytest.approx(expected, rel=1e-5)
    unweighted = sum(log[f"loss_{k}"] for k in weights) + log["loss_w2v_diversity"]
    assert abs(expected - unweighted) > 0.1  # the weights matter on this batch


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


def _drawn_masks(task, model, sample, method):
    """The mask-drawing function the criterion hands ``model.<method>`` on ``sample``."""
    masks = []
    original = getattr(model, method)

    def record(*args, **kwargs):
        masks.append(kwargs["mask"])
        return original(*args, **kwargs)

    setattr(model, method, record)
    _criterion(task)(model, sample)
    assert len(masks) == 1 and callable(masks[0])
    return masks[0]


@pytest.mark.parametrize("rate", [0.75, 0.4])
def test_tlm_speech_masks_cover_the_configured_rate(task, rate):
    """Masks drawn for the TLM speech half, through the criterion's own draw (its rate,
    span and generator), cover ``tlm_speech_mask_rate`` of the valid frames; the
    speech-only masks keep the w2v-BERT rate 1 - (1 - 0.065)^10 (about 0.49). Half or
    double the rate, or the other objective's rate, lands far outside the tolerance."""
    cfg = MSLAMPretrainingConfig(data=task.cfg.data, seed=1, tlm_speech_mask_rate=rate)
    rated = MSLAMPretrainingTask.setup_task(cfg)
    pad = torch.arange(1000)[None, :] >= torch.tensor([1000, 700, 400, 950])[:, None]
    tlm = _drawn_masks(rated, _model(rated), _sample(rated), "forward_paired")
    speech = _drawn_masks(rated, _model(rated), _sample(rated, ("speech",)), "forward_speech")
    for draw, expected in ((tlm, rate), (speech, 1 - (1 - cfg.speech_mask_prob) ** 10)):
        masks = torch.stack([draw(pad) for _ in range(50)])  # (draws, B, T)
        assert not (masks & pad).any()
        covered = masks.sum().item() / ((~pad).sum().item() * len(masks))
        assert covered == pytest.approx(expected, abs=0.02), (covered, expected)
        assert not torch.equal(masks[0], masks[1])  # fresh draws, not one mask repeated


def test_all_objectives_under_bf16_autocast_match_float32(task):
    """Under bf16 autocast (what --bf16 / --amp do) every objective and the gradient
    stay those of float32 within bf16 precision, not merely finite."""
    model = _model(task)
    runs = []
    for autocast in (False, True):
        model.zero_grad()
        torch.manual_seed(0)  # the same Gumbel noise in the quantizer
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss, _, log = _criterion(task)(model, _sample(task))
        loss.backward()
        grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        runs.append((log, grad))
    (full, full_grad), (bf16, bf16_grad) = runs
    for name in (*OBJECTIVES, "w2v_diversity"):
        assert bf16[f"loss_{name}"] == pytest.approx(full[f"loss_{name}"], rel=0.01), name
    assert F.cosine_similarity(bf16_grad, full_grad, dim=0) > 0.99


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
    # each accuracy has its chance level on the same rows beside it
    assert 1 / 101 <= healthy["chance_w2v_contrastive"] <= 1.0
    assert 0.0 < healthy["chance_w2v_mlm"] <= 1.0
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


def test_distinct_rivals_counts_codes_other_than_the_positives():
    from mslam_plugin.criterions.mslam_pretraining import distinct_rivals

    neg = torch.tensor([[3, 3, 5, 7], [2, 2, 2, 2], [4, 1, 4, 9], [0, 0, 6, 6]])
    own = torch.tensor([5, 2, 9, 1])
    assert distinct_rivals(neg, neg == own[:, None]).tolist() == [2, 0, 2, 2]


def test_masked_prediction_chance_is_the_most_frequent_target_rate(task):
    criterion = _criterion(task)
    out = {"losses": {}, "stats": {}, "log": {}}
    target = torch.tensor([4, 4, 4, 1, 2, 4, 1, 0])
    criterion._cross_entropy("w2v_mlm", torch.randn(8, 6), target, out)
    assert out["stats"]["chance_w2v_mlm"].item() == 4 and out["log"]["count_w2v_mlm"] == 8
