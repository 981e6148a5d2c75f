"""torch DistributedDataParallel (the README's --ddp-backend pytorch_ddp) with 2 CPU
processes on gloo, on the real models and criteria: pre-training with a weight-0
objective and a batch lacking a kind, speech-only ST fine-tuning (the character
embedding unused), speech + text ST through the task's joint step, and the transducer
with its auxiliary CTC head. Each rank trains on different data; after the steps both
ranks must hold the same weights (gradients were reduced), and without the
unused-parameter search the pre-training case must fail (the test can fail)."""

import argparse
import os
import sys
import tempfile
import types
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from fairseq.distributed import ModuleProxyWrapper
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, str(Path(__file__).resolve().parent))

pytestmark = pytest.mark.slow


def _pretraining(rank: int, tmp: str):
    from test_pretraining_criterion import _criterion, _model, _sample

    from mslam_plugin.data.char_vocab import build_char_vocab
    from mslam_plugin.tasks.mslam_pretraining import MSLAMPretrainingConfig, MSLAMPretrainingTask

    root = Path(tmp) / f"vocab{rank}"
    root.mkdir()
    build_char_vocab({"de": ["abcdefghijklmnopqrstuvwxyz äöü"]}).save(root / "dict.char.txt")
    task = MSLAMPretrainingTask.setup_task(MSLAMPretrainingConfig(data=str(root), seed=1))
    model, criterion = _model(task), _criterion(task, ctc_weight=0.0)  # the CTC head unused

    def step(ddp, i):
        kinds = ("speech", "text", "paired") if i == 0 else ("speech", "paired")  # no text
        sample = _sample(task, kinds)
        sample["speech"]["fbank"] = sample["speech"]["fbank"] + rank  # different data per rank
        return criterion(ddp, sample)[0]
    return model, step


def _pretraining_empty_batch(rank: int, tmp: str):
    """Rank 0's second batch lost every row when read (--skip-invalid): its zero loss
    over every parameter must still meet rank 1's real batch in one reduction."""
    model, step = _pretraining(rank, tmp)

    def uneven(ddp, i):
        if i == 1 and rank == 0:
            from test_pretraining_criterion import _criterion

            empty = {"batch_seed": 7, "nsentences": 0, "ntokens": 0}
            return _criterion(_empty_task(tmp), ctc_weight=0.0)(ddp, empty)[0]
        return step(ddp, i)
    return model, uneven


def _empty_task(tmp: str):
    from mslam_plugin.tasks.mslam_pretraining import MSLAMPretrainingConfig, MSLAMPretrainingTask

    return MSLAMPretrainingTask.setup_task(
        MSLAMPretrainingConfig(data=str(Path(tmp) / "vocab0"), seed=1))


def _st_model():
    from test_mslam_st import _model
    return _model().train()


def _st_sample(rank: int, text: bool = False):
    g = torch.Generator().manual_seed(rank)
    target = torch.randint(4, 40, (2, 6), generator=g)
    prev = torch.cat([torch.full((2, 1), 2), target[:, :-1]], 1)
    src = (torch.randint(4, 50, (2, 12), generator=g) if text
           else torch.randn(2, 80, 80, generator=g))
    lengths = torch.tensor([12, 9] if text else [80, 60])
    return {"net_input": {"src_tokens": src, "src_lengths": lengths, "prev_output_tokens": prev},
            "target": target, "ntokens": 12, "nsentences": 2}


def _st_criterion():
    from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion
    from test_mslam_st import _Task

    return LabelSmoothedCrossEntropyCriterion(_Task(), sentence_avg=False, label_smoothing=0.1)


def _speech_only_st(rank: int, tmp: str):
    model, criterion = _st_model(), _st_criterion()
    return model, lambda ddp, i: criterion(ddp, _st_sample(rank))[0]


def _speech_and_text_st(rank: int, tmp: str):
    from mslam_plugin.tasks.mslam_speech_translation import MSLAMSpeechTranslationTask

    model, criterion = _st_model(), _st_criterion()
    task = types.SimpleNamespace(args=argparse.Namespace(mt_weight=5.0))
    optimizer = types.SimpleNamespace(backward=lambda loss: loss.backward())

    def step(ddp, i):  # the task's joint step runs its own backward passes
        sample = {"st": _st_sample(rank), "mt": _st_sample(rank, text=True)}
        MSLAMSpeechTranslationTask.train_step(task, sample, ddp, criterion, optimizer, i)
        return None
    return model, step


def _transducer(rank: int, tmp: str):
    from test_transducer import _model

    from mslam_plugin.criterions.mslam_rnnt import MSLAMRNNTCriterion

    model, criterion = _model(ctc_weight=0.3).train(), MSLAMRNNTCriterion(None)

    def step(ddp, i):
        g = torch.Generator().manual_seed(rank)
        sample = {"net_input": {"src_tokens": torch.randn(2, 100, 80, generator=g),
                                "src_lengths": torch.tensor([100, 70])},
                  "target": torch.tensor([[1, 2, 3, 4], [5, 6, 1, 1]]),
                  "target_lengths": torch.tensor([4, 2]), "ntokens": 6}
        return criterion(ddp, sample)[0]
    return model, step


SCENARIOS = {"pretraining": _pretraining, "pretraining_empty_batch": _pretraining_empty_batch,
             "speech_only_st": _speech_only_st,
             "speech_and_text_st": _speech_and_text_st, "transducer": _transducer}


def _worker(rank: int, world: int, init: str, scenario: str, find_unused: bool, tmp: str):
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model, step = SCENARIOS[scenario](rank, tmp)
        # as fairseq's pytorch_ddp backend wraps it (attributes reach the model through)
        ddp = ModuleProxyWrapper(DDP(model, find_unused_parameters=find_unused))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for i in range(2):
            optimizer.zero_grad()
            loss = step(ddp, i)
            if loss is not None:
                loss.backward()
            optimizer.step()
        torch.save({k: v.detach().clone() for k, v in model.state_dict().items()},
                   Path(tmp) / f"{rank}.pt")
    except Exception as e:  # reported to the test by file: spawn would only say "exit 1"
        (Path(tmp) / f"{rank}.err").write_text(f"{type(e).__name__}: {e}")
    finally:
        dist.destroy_process_group()


def _run(scenario: str, find_unused: bool) -> tuple[list[dict], list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(2, os.path.join(tmp, "init"), scenario, find_unused, tmp),
                 nprocs=2, join=True)
        errors = [p.read_text() for p in sorted(Path(tmp).glob("*.err"))]
        states = [torch.load(p) for p in sorted(Path(tmp).glob("[01].pt"))]
    return states, errors


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_two_processes_train_the_same_weights(scenario):
    from mslam_plugin.distributed import needs_unused_parameter_search

    model, _ = SCENARIOS[scenario](0, tempfile.mkdtemp())
    assert needs_unused_parameter_search(model)  # what fairseq's DDP wrapper is told
    states, errors = _run(scenario, find_unused=True)
    assert not errors, errors
    assert len(states) == 2
    for key, value in states[0].items():
        torch.testing.assert_close(value, states[1][key], msg=f"{scenario}: {key} differs")


def test_without_the_unused_parameter_search_stock_ddp_fails():
    _, errors = _run("pretraining", find_unused=False)
    assert errors and any("unused parameters" in e or "did not receive grad" in e
                          or "finished reduction" in e for e in errors), errors


def test_fairseq_ddp_wrapper_turns_the_search_on_for_our_models_only():
    import mslam_plugin  # noqa: F401  (installs the wrapper)
    from fairseq import models

    for model, expected in ((_st_model(), True), (torch.nn.Linear(2, 2), False)):
        args = argparse.Namespace(ddp_backend="pytorch_ddp", find_unused_parameters=False)
        with pytest.raises(Exception):  # no process group here: fairseq's own wrapper stops
            models.DistributedFairseqModel(args, model, None, torch.device("cpu"))
        assert args.find_unused_parameters is expected
