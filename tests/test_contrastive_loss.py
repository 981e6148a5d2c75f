"""The w2v-BERT / wav2vec 2.0 contrastive term of the pre-training criterion: negatives are
the other masked frames of the utterance, and the loss is the InfoNCE formula on a
hand-made case."""

import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mslam_plugin.models.outputs import MSLAMQuantized, MSLAMSpeechOutput
from test_pretraining_criterion import _criterion, _model, task  # noqa: F401 (fixture)

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
    q = MSLAMQuantized(quantized, frame.masked_fill(pad, -1), frame.masked_fill(pad, -1),
                       torch.tensor(1.0),
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
    # the code of each target vector: equal vectors, equal codes (as the hard Gumbel codes)
    vectors = sorted({tuple(y.tolist()) for y in target.values()})
    sample_ids = torch.full((b, t), -1, dtype=torch.long)
    for (i, f), y in target.items():
        sample_ids[i, f] = vectors.index(tuple(y.tolist()))
    q = types.SimpleNamespace(quantized=quantized, sample_ids=sample_ids, num_codes=8,
                              prob_perplexity=torch.tensor(6.0))
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
    losses, correct, degenerate, chance = [], 0, 0, 0.0
    for (i, f), negatives in rows:
        positive = proj_q[i, f]
        s_pos = cos(proj_c[i, f], positive) / temperature
        rivals = [masked[i][k] for k in negatives
                  if not np.array_equal(proj_q[i, masked[i][k]], positive)]
        s_neg = [cos(proj_c[i, f], proj_q[i, r]) / temperature for r in rivals]
        losses.append(-(s_pos - np.logaddexp.reduce([s_pos, *s_neg])))
        if not s_neg:
            degenerate += 1
        else:
            correct += s_pos > max(s_neg)
            # chance: the positive against the distinct rival targets
            chance += 1 / (1 + len({tuple(proj_q[i, r]) for r in rivals}))
    # the case exercises what it means to: a partly excluded row, a degenerate pair, a
    # misranked positive
    assert len(s_neg) == 3 and degenerate == 2 and 0 < correct < len(rows) - degenerate
    assert out["losses"]["w2v_contrastive"].item() == pytest.approx(np.mean(losses), rel=1e-5)
    assert out["stats"]["correct_w2v_contrastive"].item() == correct
    assert out["stats"]["count_w2v_contrastive"].item() == len(rows) - degenerate
    assert out["stats"]["degenerate_w2v_contrastive"].item() == degenerate
    # rows (0, 1) and (0, 4) draw one rival code twice: 1 / 2, not 1 / 3
    assert out["stats"]["chance_w2v_contrastive"].item() == pytest.approx(chance)
    assert chance > (len(rows) - degenerate) / (1 + 3)  # not 1 / (1 + K) a row
    assert float(out["diversity"]) == pytest.approx((8 - 6.0) / 8)
