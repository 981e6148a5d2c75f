"""Probe a pre-trained mSLAM encoder without fine-tuning: cross-modal retrieval and a
language-identification linear probe (a stage of examples/ablation/run.sh).

Every utterance of the paired test split and every transcript is mean-pooled over the
multimodal encoder's output (speech and text each pass the encoder alone). Retrieval
ranks all test transcripts for each utterance by cosine similarity (speech -> text) and
all utterances for each transcript (text -> speech): recall@1 and @5. The vectors are
scored raw and centred (each modality's mean vector removed, which cancels a constant
offset between the modalities), over all candidates and within each language. Retrieval
uses the ``--langs`` of the test split (default: all). The language-ID probe fits a
multinomial logistic regression on the pooled speech vectors of ``--lid-per-lang``
training utterances of every language and reports its accuracy on as many test
utterances per language.

``--random-init`` probes the same architecture with random weights (no pre-training).

usage: python examples/ablation/probe.py --data DIR --checkpoint CKPT --out JSON
                                         [--random-init] [--seed N] [--langs de,fr,es]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def load_model(checkpoint: Path, data: Path, random_init: bool, seed: int):
    from fairseq import checkpoint_utils

    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint)], arg_overrides={"data": str(data)})
    model = models[0]
    if random_init:
        torch.manual_seed(seed)
        model = task.build_model(cfg.model)
    return model.eval(), task


def masked_mean(x: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D), (B, T) True at padding -> (B, D)."""
    keep = (~padding_mask).unsqueeze(-1).to(x.dtype)
    return (x * keep).sum(1) / keep.sum(1).clamp(min=1)


@torch.no_grad()
def pooled(model, source, indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean-pooled multimodal-encoder outputs (N, D) of speech and of transcripts."""
    speech, text = [], []
    pad = source.dictionary.pad()
    for i in indices:
        item = source.load(i)
        fbank = item["fbank"][None]
        out = model.forward_speech(fbank, torch.zeros(fbank.shape[:2], dtype=torch.bool),
                                   quantize=False)
        speech.append(masked_mean(out.context, out.padding_mask)[0])
        tokens = item["tokens"][None]
        t = model.forward_text(tokens)
        text.append(masked_mean(t.context, tokens.eq(pad))[0])
    return torch.stack(speech).numpy(), torch.stack(text).numpy()


def recall_at(sim: np.ndarray, ks=(1, 5)) -> dict[str, float]:
    """Rows are queries; the right answer of row i is column i."""
    # ties count against the query: a collapsed modality (all vectors equal) scores 0
    rank = (sim >= sim[np.arange(len(sim)), np.arange(len(sim))][:, None]).sum(1) - 1
    return {f"r@{k}": round(float((rank < k).mean()) * 100, 2) for k in ks}


def retrieval(speech: np.ndarray, text: np.ndarray, langs: np.ndarray, centre: bool) -> dict:
    """Recall over all candidates, and within each language (the candidates are that
    language's items only, so that knowing the language alone does not help), averaged
    over languages."""
    if centre:
        speech, text = speech - speech.mean(0), text - text.mean(0)
    s = speech / np.linalg.norm(speech, axis=1, keepdims=True).clip(1e-8)
    t = text / np.linalg.norm(text, axis=1, keepdims=True).clip(1e-8)
    sim = s @ t.T
    within = {"speech_to_text": [], "text_to_speech": []}
    for lang in sorted(set(langs.tolist())):
        idx = np.flatnonzero(langs == lang)
        block = sim[np.ix_(idx, idx)]
        within["speech_to_text"].append(recall_at(block))
        within["text_to_speech"].append(recall_at(block.T))
    mean = {d: {k: round(float(np.mean([r[k] for r in rs])), 2) for k in rs[0]}
            for d, rs in within.items()}
    return {"speech_to_text": recall_at(sim), "text_to_speech": recall_at(sim.T),
            "within_language": mean}


def lid_probe(train_x, train_y, test_x, test_y, seed: int, steps: int = 300) -> float:
    """Accuracy (%) of a multinomial logistic regression fitted by L-BFGS on
    standardised features (train statistics)."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-5
    x = torch.tensor((train_x - mean) / std, dtype=torch.float32)
    xt = torch.tensor((test_x - mean) / std, dtype=torch.float32)
    classes = sorted(set(train_y))
    y = torch.tensor([classes.index(c) for c in train_y])
    torch.manual_seed(seed)
    linear = torch.nn.Linear(x.shape[1], len(classes))
    opt = torch.optim.LBFGS(linear.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x), y) + 1e-3 * linear.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = linear(xt).argmax(1).tolist()
    return round(100 * float(np.mean([classes[p] == t for p, t in zip(pred, test_y)])), 2)


def per_language_sample(langs: np.ndarray, n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    out = []
    for lang in sorted(set(langs.tolist())):
        idx = np.flatnonzero(langs == lang)
        out += sorted(rng.choice(idx, size=min(n, len(idx)), replace=False).tolist())
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--checkpoint", type=Path, required=True,
                   help="a pre-training checkpoint (with --random-init: its architecture)")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.add_argument("--random-init", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--langs", default="", help="retrieval languages (default: all)")
    p.add_argument("--lid-per-lang", type=int, default=30)
    args = p.parse_args(argv)

    from mslam_plugin.data.item_source import ItemSource

    start = time.time()
    model, task = load_model(args.checkpoint, args.data, args.random_init, args.seed)
    read = lambda split: ItemSource(args.data / f"paired_{split}.tsv", "paired",
                                    task.dictionary, max_frames=10 ** 9)
    test, train = read("test"), read("train")
    langs = [x for x in args.langs.split(",") if x] or sorted(set(test.langs.tolist()))
    chosen = [i for i in range(len(test)) if test.langs[i] in langs]
    speech, text = pooled(model, test, chosen)
    lid_train = per_language_sample(train.langs, args.lid_per_lang, args.seed)
    lid_test = per_language_sample(test.langs, args.lid_per_lang, args.seed)
    train_x, _ = pooled(model, train, lid_train)
    test_x, _ = pooled(model, test, lid_test)
    n_lid = len(set(train.langs.tolist()))
    result = {
        "checkpoint": "random initialisation" if args.random_init else str(args.checkpoint),
        "retrieval_languages": langs, "n": len(chosen),
        "retrieval": retrieval(speech, text, test.langs[chosen], centre=False),
        "retrieval_centred": retrieval(speech, text, test.langs[chosen], centre=True),
        "lid_accuracy": lid_probe(train_x, train.langs[lid_train].tolist(), test_x,
                                  test.langs[lid_test].tolist(), args.seed),
        "lid_languages": n_lid, "lid_train": len(lid_train), "lid_test": len(lid_test),
        "chance": {"r@1": round(100 / len(chosen), 2), "r@5": round(500 / len(chosen), 2),
                   "within_r@1": round(100 * len(langs) / len(chosen), 2),
                   "within_r@5": round(500 * len(langs) / len(chosen), 2),
                   "lid": round(100 / n_lid, 2)},
        "seconds": round(time.time() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
