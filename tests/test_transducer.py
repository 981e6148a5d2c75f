"""mslam_transducer: the RNN-T loss (plain PyTorch vs torchaudio, chunked vs whole),
greedy / beam search, the grapheme vocabulary, per-group learning rates, and the task
end to end through fairseq-train, fairseq-generate and the decoding script."""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchaudio
from fairseq.data import Dictionary
from fairseq.models import ARCH_CONFIG_REGISTRY

from mslam_plugin.criterions.mslam_rnnt import chunks_by_joint_size, rnnt_loss_chunked
from mslam_plugin.data.char_vocab import encode
from mslam_plugin.data.graphemes import build_grapheme_dictionary, decode
from mslam_plugin.models.mslam_transducer import MSLAMTransducerConfig, MSLAMTransducerModel
from mslam_plugin.modules.rnnt_loss import rnnt_loss_torch
from mslam_plugin.optim.mslam_adam import MSLAMAdam
from mslam_plugin.optim.mslam_group_inverse_sqrt import (GroupInverseSqrtConfig, GroupInverseSqrtSchedule,
                                                     group_lr)
from mslam_plugin.rnnt_decoding import beam_search, greedy_search

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _random_batch(seed=0, b=4, t=30, u=12, v=20):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, t, u + 1, v, generator=g, requires_grad=True)
    targets = torch.randint(1, v, (b, u), generator=g, dtype=torch.int32)
    t_len = torch.tensor([t, t - 5, 18, 9][:b], dtype=torch.int32)
    u_len = torch.tensor([u, 7, u, 0][:b], dtype=torch.int32)
    return logits, targets, t_len, u_len


def test_plain_pytorch_rnnt_loss_equals_torchaudio():
    logits, targets, t_len, u_len = _random_batch()
    ref = torchaudio.functional.rnnt_loss(logits, targets, t_len, u_len, blank=0, reduction="none")
    ours = rnnt_loss_torch(logits, targets, t_len, u_len, blank=0, reduction="none")
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)
    g_ref, = torch.autograd.grad(ref.sum(), logits)
    g_ours, = torch.autograd.grad(ours.sum(), logits)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-4, rtol=1e-4)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
def test_cuda_kernel_equals_the_plain_pytorch_loss_on_the_cpu():
    """The criterion's CUDA path (torchaudio's fused kernel) against its CPU path."""
    logits, targets, t_len, u_len = _random_batch()
    ours = rnnt_loss_torch(logits, targets, t_len, u_len, blank=0, reduction="none")
    g_ours, = torch.autograd.grad(ours.sum(), logits)
    gpu_logits = logits.detach().cuda().requires_grad_()
    ref = torchaudio.functional.rnnt_loss(gpu_logits, targets.cuda(), t_len.cuda(),
                                          u_len.cuda(), blank=0, reduction="none")
    g_ref, = torch.autograd.grad(ref.sum(), gpu_logits)
    full = u_len > 0
    print("empty target: torchaudio CUDA", ref[~full].tolist(), "plain PyTorch", ours[~full].tolist())
    torch.testing.assert_close(ref.cpu()[full], ours[full], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(g_ref.cpu()[full], g_ours[full], atol=1e-4, rtol=1e-4)
    # an empty target: the kernel gives 0, not -sum_t log p(blank | t, 0) ...
    assert torch.allclose(ref.cpu()[~full], torch.zeros(1)) and (ours[~full] > 1).all()
    # ... so the criterion routes chunks holding one to the plain-PyTorch loss
    joiner = _Joiner(d=8, v=20)
    enc, pred = torch.randn(4, 30, 8), torch.randn(4, 13, 8)
    cpu = rnnt_loss_chunked(joiner, enc, t_len, pred, targets, u_len, 0, 10**9, impl="torch")
    gpu = rnnt_loss_chunked(joiner.cuda(), enc.cuda(), t_len.cuda(), pred.cuda(), targets.cuda(),
                            u_len.cuda(), 0, 10**9, impl="auto")
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-3, rtol=1e-5)


class _Joiner(torch.nn.Module):
    def __init__(self, d=8, v=11):
        super().__init__()
        self.output = torch.nn.Linear(d, v)

    def forward(self, e, el, p, pl):
        return self.output(torch.tanh(e[:, :, None] + p[:, None])), el, pl


@pytest.mark.parametrize("impl,device", [("torch", "cpu"), ("torchaudio", "cpu"),
                                         pytest.param("auto", "cuda", marks=cuda)])
def test_chunked_joint_gives_the_same_loss_and_gradients(impl, device):
    torch.manual_seed(0)
    joiner = _Joiner().to(device)
    enc = torch.randn(5, 20, 8, device=device, requires_grad=True)
    pred = torch.randn(5, 9, 8, device=device, requires_grad=True)
    t_len = torch.tensor([20, 17, 12, 12, 3], device=device)
    u_len = torch.tensor([8, 3, 8, 5, 1], device=device)
    targets = torch.randint(1, 11, (5, 8), device=device)
    results = []
    for budget in (10**9, 20 * 9 * 11):  # one chunk; about one utterance per chunk
        assert len(chunks_by_joint_size(t_len, u_len, 11, budget)) == (1 if budget > 10**6 else 4)
        loss = rnnt_loss_chunked(joiner, enc, t_len, pred, targets, u_len, 0, budget, impl=impl)
        grads = torch.autograd.grad(loss, [enc, pred, joiner.output.weight])
        results.append((loss, grads))
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_chunks_respect_the_budget():
    t_len, u_len = torch.tensor([100, 90, 80, 50, 10]), torch.tensor([30, 20, 25, 10, 2])
    groups = chunks_by_joint_size(t_len, u_len, 50, 400_000)
    assert sum(groups, []) == list(range(5))
    for g in groups:
        size = len(g) * max(t_len[g]) * (max(u_len[g]) + 1) * 50
        assert len(g) == 1 or size <= 400_000


def test_grapheme_vocabulary_round_trip():
    texts = ["Guten Tag, Straße!", "안녕하세요 세계", "Καλημέρα"]
    d = build_grapheme_dictionary(texts)
    assert d[len(d) - 1] == "<blank>"  # last: torchaudio's beam search assumes so
    for text in texts:
        ids = encode(d, text)
        assert d.unk() not in ids
        assert decode(d, ids) == text  # Hangul jamo recompose


class _Task:
    def __init__(self, n_graphemes=30):
        self.target_dictionary = build_grapheme_dictionary(["abcdefghijklmnopqrstuvwxyz äö"])
        self.char_dictionary = None


def _model(**overrides):
    ns = argparse.Namespace(text_vocab_size=50, dropout=0.0, predictor_dropout=0.0, **overrides)
    ARCH_CONFIG_REGISTRY["mslam_transducer_tiny"](ns)
    torch.manual_seed(0)
    return MSLAMTransducerModel.build_model(MSLAMTransducerConfig(**vars(ns)), _Task()).eval()


def test_batched_greedy_search_equals_one_utterance_at_a_time():
    model = _model()
    with torch.no_grad():  # a joint biased toward emitting, so hypotheses are not empty
        model.joiner.output.bias[model.blank] -= 2.0
    fbank, lengths = torch.randn(3, 120, 80), torch.tensor([120, 95, 60])
    batched = greedy_search(model, fbank, lengths)
    assert any(len(h) for h, _ in batched)
    for i in range(3):
        alone = greedy_search(model, fbank[i : i + 1, : lengths[i]], lengths[i : i + 1])[0]
        assert alone[0] == batched[i][0]
        assert abs(alone[1] - batched[i][1]) < 1e-3
    beams = beam_search(model, fbank, lengths, beam=4)  # torchaudio's RNNTBeamSearch
    assert len(beams) == 3 and all(isinstance(t, int) for h, _ in beams for t in h)
    for (_, beam_score), (_, greedy_score) in zip(beams, batched):
        assert beam_score >= greedy_score - 1e-3  # the search finds the greedy path or better


def test_encoder_and_decoder_get_their_own_learning_rates():
    model = _model()
    cfg = argparse.Namespace(lr=[1.0], adam_betas="(0.9, 0.98)", adam_eps=1e-8, weight_decay=0.0,
                             use_old_adam=False, fp16_adam_stats=False, tpu=False)
    optimizer = MSLAMAdam(cfg, list(model.parameters()))
    names = [g["name"] for g in optimizer.param_groups]
    assert names == ["decoder", "encoder"]
    n_enc = sum(p.numel() for p in model.transcriber.parameters())
    assert sum(p.numel() for p in optimizer.param_groups[1]["params"]) == n_enc
    sched = GroupInverseSqrtSchedule(GroupInverseSqrtConfig(lr=[1.0]), optimizer)
    for step, enc, dec in ((100, 3e-4 * 100 / 5000, 1e-3 * 100 / 1500),
                           (1500, 3e-4 * 0.3, 1e-3), (20000, 3e-4 * 0.5, 1e-3 * (1500 / 20000) ** 0.5)):
        sched.step_update(step)
        lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
        assert lrs["encoder"] == pytest.approx(enc) and lrs["decoder"] == pytest.approx(dec)
    assert group_lr(1.0, 10, 0) == pytest.approx(0.1)


def test_group_schedule_refuses_a_single_group():
    from fairseq.optim.adam import FairseqAdam

    model = _model()
    cfg = argparse.Namespace(lr=[1.0], adam_betas="(0.9, 0.98)", adam_eps=1e-8, weight_decay=0.0,
                             use_old_adam=False, fp16_adam_stats=False, tpu=False)
    with pytest.raises(ValueError, match="--optimizer mslam_adam"):
        GroupInverseSqrtSchedule(GroupInverseSqrtConfig(lr=[1.0]),
                                 FairseqAdam(cfg, list(model.parameters())))


def _run(*args):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_fine_tune_decode_and_score(tiny_corpus, tmp_path):
    common = ["--user-dir", REPO / "mslam_plugin", "--cpu", "--num-workers", "0",
              "--no-epoch-checkpoints", "--disable-validation", "--max-update", "2"]
    _run(BIN / "fairseq-train", tiny_corpus, *common, "--task", "mslam_pretraining", "--arch",
         "mslam_tiny", "--criterion", "mslam_pretraining", "--batch-size", "1",
         "--speech-sequences", "2", "--text-sequences", "2", "--paired-sequences", "2",
         "--batches-per-epoch", "2", "--optimizer", "adam", "--lr", "1e-3",
         "--save-dir", tmp_path / "pre")
    out = _run(BIN / "fairseq-train", tiny_corpus, *common, "--task", "mslam_asr",
               "--train-subset", "paired_train", "--arch", "mslam_transducer_tiny",
               "--load-pretrained-mslam-from", tmp_path / "pre/checkpoint_last.pt",
               "--criterion", "mslam_rnnt", "--rnnt-max-joint-elements", "200000",
               "--optimizer", "mslam_adam", "--lr-scheduler", "mslam_group_inverse_sqrt",
               "--max-tokens", "3000", "--log-interval", "1", "--log-format", "simple",
               "--save-dir", tmp_path / "asr")
    assert "encoder initialised from" in out
    assert re.search(r"decoder_lr=[0-9.e-]+.*loss=[0-9.]+", out)
    ckpt = tmp_path / "asr/checkpoint_last.pt"
    n_test = len((tiny_corpus / "paired_test.tsv").read_text().splitlines()) - 1
    # the fine-tuned checkpoint holds every weight: decoding never reads the pre-training
    # file again, even when another file has replaced it
    (tmp_path / "pre/checkpoint_last.pt").write_bytes(b"replaced by something else")
    for beam in (1, 2):
        _run(sys.executable, "-m", "mslam_plugin.decode_asr", "--data", tiny_corpus, "--split",
             "paired_test", "--checkpoint", ckpt, "--out", tmp_path / "dec", "--beam", beam)
    mode = {1: "greedy", 2: "beam2"}
    for beam in (1, 2):
        scores = json.loads((tmp_path / f"dec/scores-paired_test-{mode[beam]}.json").read_text())
        assert scores["all"]["n"] == n_test
        assert scores["rtf"]["rtf"] > 0
        hyps = (tmp_path / f"dec/hyps-paired_test-{mode[beam]}.tsv").read_text().splitlines()
        assert len(hyps) == n_test + 1
    gen = _run(BIN / "fairseq-generate", tiny_corpus, "--user-dir", REPO / "mslam_plugin",
               "--task", "mslam_asr", "--gen-subset", "paired_test", "--path", ckpt,
               "--rnnt-beam", "1", "--post-process", "sentencepiece", "--scoring", "mslam_wer",
               "--max-tokens", "20000", "--cpu")
    assert len(re.findall(r"^D-\d+\t", gen, flags=re.M)) == n_test
    assert re.search(r"WER: [0-9.]+ CER: [0-9.]+", gen)


def test_auxiliary_ctc_adds_weighted_grapheme_ctc_on_the_encoder_output():
    from mslam_plugin.criterions.mslam_rnnt import MSLAMRNNTCriterion

    model = _model(ctc_weight=0.3).train()
    assert _model().ctc_head is None  # weight 0: the paper's recipe, no extra head
    g = model.predictor.embedding.num_embeddings
    target = torch.tensor([[1, 2, 3, 4], [5, 6, 1, 1]])
    sample = {"net_input": {"src_tokens": torch.randn(2, 100, 80),
                            "src_lengths": torch.tensor([100, 70])},
              "target": target, "target_lengths": torch.tensor([4, 2]), "ntokens": 6}
    loss, n, log = MSLAMRNNTCriterion(None)(model, sample)
    out = model(**sample["net_input"], target=target, target_lengths=sample["target_lengths"])
    lprobs = torch.log_softmax(model.ctc_head(out["encoder_out"]), -1).transpose(0, 1)
    ctc = torch.nn.functional.ctc_loss(lprobs, target, out["encoder_lengths"],
                                       sample["target_lengths"], blank=g - 1, reduction="sum")
    assert float(log["loss_ctc"]) == pytest.approx(float(ctc), rel=1e-4)
    assert float(loss) == pytest.approx(float(log["loss"]) + 0.3 * float(ctc), rel=1e-4)
    loss.backward()
    assert model.ctc_head.weight.grad.abs().sum() > 0
    # a placeholder batch (every row skipped when read) runs the model, weighs nothing
    model.zero_grad()
    loss, n, log = MSLAMRNNTCriterion(None)(model, dict(sample, placeholder=True))
    assert n == 0 and float(loss) == 0.0 and float(log["loss"]) == 0.0 and log["nsentences"] == 0
    loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_checkpoint_written_before_the_criterion_rename_still_resumes(tmp_path):
    # fairseq resumes optimizer state only under the criterion class name it was saved
    # with: checkpoints of RNNTCriterion (now MSLAMRNNTCriterion) are read under the new name
    import mslam_plugin  # noqa: F401  (installs the checkpoint patches)
    from fairseq import checkpoint_utils

    from mslam_plugin.criterions.mslam_rnnt import MSLAMRNNTCriterion

    history = [{"criterion_name": name, "optimizer_name": "MSLAMAdam",
                "lr_scheduler_state": {"best": None}, "num_updates": n}
               for n, name in ((5, "RNNTCriterion"), (9, "RNNTCriterion"))]
    torch.save({"args": None, "cfg": None, "model": {}, "optimizer_history": history,
                "extra_state": {"train_iterator": {"epoch": 1}}}, tmp_path / "old.pt")
    state = checkpoint_utils.load_checkpoint_to_cpu(str(tmp_path / "old.pt"))
    assert [h["criterion_name"] for h in state["optimizer_history"]] == \
        [MSLAMRNNTCriterion.__name__] * 2
