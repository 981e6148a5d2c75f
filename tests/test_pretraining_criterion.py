"""Criterion mslam_pretraining: every objective present and finite, weight 0 removes the
term and the forward pass it needs, batches lacking a kind work; contrastive negatives
come from the other masked frames, masked-prediction targets from the clean logits, and
codebook collapse shows in the log."""

import argparse
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.models import ARCH_CONFIG_REGISTRY

from mslam_plugin.criterions.mslam_pretraining import (OBJECTIVES, MSLAMPretrainingCriterion,
                                                        MSLAMPretrainingCriterionConfig)
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


class _Draws:
    """Stands in for the criterion's numpy Generator: ``random`` returns fixed uniforms,
    so the negatives are known. The criterion draws a row's negatives uniformly, with
    replacement, from the other masked frames of its utterance in time order: u in
    [0, 1) picks the floor(u * others)-th of them."""

    def __init__(self, uniforms):
        self.uniforms = np.asarray(uniforms, dtype=np.float64)

    def random(self, shape):
        assert tuple(shape) == self.uniforms.shape, shape
        return self.uniforms.copy()


def _uniforms(negatives, own_frames):
    """The uniforms that make each row draw ``negatives`` (indices into the row's
    utterance's masked frames; ``own_frames``: that utterance's masked frame count and
    the row's own index there)."""
    rows = []
    for picks, (count, own) in zip(negatives, own_frames):
        others = count - 1
        rows.append([((k - (k > own)) + 0.5) / others for k in picks])
    return rows


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_contrastive_loss_is_the_wav2vec2_infonce_on_a_hand_made_case(task, temperature):
    """-log softmax over [cos(c, q+), cos(c, q-_1), ..., cos(c, q-_K)] / kappa, averaged
    over the rows (masked frames) of every utterance with 2+ masked frames; a negative
    whose target equals the positive's drops out of the softmax; a row left with none
    scores 0 and is counted degenerate, not in the accuracy. Computed here in float64
    from the hand-made vectors, with the negatives fixed through the generator."""
    v = lambda *xs: torch.tensor(xs, dtype=torch.float32)
    b, t, dim = 4, 6, 3
    lengths = [6, 5, 3, 4]
    masked = [[1, 2, 4], [0, 3], [2], [0, 3]]  # utterance 2 has one masked frame: no row
    context, target = {}, {}
    context[0, 1], target[0, 1] = v(0.9, 0.3, 0.1), v(1.0, 0.0, 0.0)
    context[0, 2], target[0, 2] = v(0.2, 1.0, -0.3), v(0.0, 1.0, 0.0)
    context[0, 4], target[0, 4] = v(-0.5, 0.4, 0.2), v(1.0, 0.0, 0.0)  # frame 1's code
    context[1, 0], target[1, 0] = v(0.3, -0.2, 0.8), v(0.2, 0.5, 0.1)
    context[1, 3], target[1, 3] = v(0.1, 0.7, 0.2), v(0.2, 0.5, 0.1)  # degenerate pair
    context[2, 2], target[2, 2] = v(1.0, 1.0, 1.0), v(0.3, 0.3, 0.3)
    context[3, 0], target[3, 0] = v(0.1, 0.2, 1.0), v(0.0, 0.0, 1.0)
    context[3, 3], target[3, 3] = v(-0.6, 0.5, 0.1), v(1.0, 1.0, 0.0)  # closer to (3, 0)'s
    pad = torch.arange(t)[None, :] >= torch.tensor(lengths)[:, None]
    mask = torch.zeros(b, t, dtype=torch.bool)
    # unmasked and padding frames hold vectors that would dominate any row they entered
    contrastive = torch.full((b, t, dim), 5.0)
    quantized = torch.full((b, t, dim), 7.0).masked_fill(pad[..., None], 0.0)
    for (i, f), c in context.items():
        mask[i, f], contrastive[i, f], quantized[i, f] = True, c, target[i, f]
    assert [torch.nonzero(mask[i]).flatten().tolist() for i in range(b)] == masked
    # distinct invertible projections: each side must go through its own
    c_proj = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    q_proj = torch.diag(torch.tensor([1.0, 2.0, 0.5]))
    model = types.SimpleNamespace(contrastive_proj=lambda x: x @ c_proj.T,
                                  quantized_proj=lambda y: y @ q_proj.T)
    q = types.SimpleNamespace(quantized=quantized, num_codes=8, prob_perplexity=torch.tensor(6.0))
    speech = types.SimpleNamespace(mask=mask, contrastive=contrastive, quantized=q)
    # rows in mask order; negatives as indices into the utterance's masked frames
    rows = [((0, 1), [1, 2, 1]), ((0, 2), [0, 2, 2]), ((0, 4), [0, 1, 1]),
            ((1, 0), [1, 1, 1]), ((1, 3), [0, 0, 0]), ((3, 0), [1, 1, 1]), ((3, 3), [0, 0, 0])]
    own = [(len(masked[i]), masked[i].index(f)) for (i, f), _ in rows]
    rng = _Draws(_uniforms([n for _, n in rows], own))
    out = {"losses": {}, "stats": {}, "log": {}, "diversity": None}
    criterion = _criterion(task, num_negatives=3, logit_temp=temperature)
    criterion._contrastive(model, speech, rng, out)

    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    proj_c = {k: c_proj.double().numpy() @ c.double().numpy() for k, c in context.items()}
    proj_q = {k: q_proj.double().numpy() @ y.double().numpy() for k, y in target.items()}
    losses, correct, degenerate = [], 0, 0
    for (i, f), negatives in rows:
        positive = proj_q[i, f]
        s_pos = cos(proj_c[i, f], positive) / temperature
        s_neg = [cos(proj_c[i, f], proj_q[i, masked[i][k]]) / temperature for k in negatives
                 if not np.array_equal(proj_q[i, masked[i][k]], positive)]
        losses.append(-(s_pos - np.logaddexp.reduce([s_pos, *s_neg])))
        if not s_neg:
            degenerate += 1
        elif s_pos > max(s_neg):
            correct += 1
    # the case exercises what it means to: a partly excluded row, a degenerate pair, a
    # misranked positive
    assert len(s_neg) == 3 and degenerate == 2 and 0 < correct < len(rows) - degenerate
    assert out["losses"]["w2v_contrastive"].item() == pytest.approx(np.mean(losses), rel=1e-5)
    assert out["stats"]["correct_w2v_contrastive"].item() == correct
    assert out["stats"]["count_w2v_contrastive"].item() == len(rows) - degenerate
    assert out["stats"]["degenerate_w2v_contrastive"].item() == degenerate
    assert float(out["diversity"]) == pytest.approx((8 - 6.0) / 8)


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
