"""Decode a mslam_transducer checkpoint on a paired manifest: greedy or beam search,
WER and CER (jiwer) per language and overall, and the real-time factor (decoding time /
audio duration; filterbank computation and file reading excluded, encoder included).

The command (:func:`mslam_plugin.cli.decode.main_asr`):

    mslam-decode-asr --data data/tiny --split paired_test \
        --checkpoint exp/tiny/asr/checkpoint_last.pt --out exp/tiny/asr/decode [--beam 4]

(or ``python -m mslam_plugin.decode_asr``). --beam 1 is greedy search. Writes
OUT/hyps-SPLIT-MODE.tsv (id, lang, reference, hypothesis) and OUT/scores-SPLIT-MODE.json,
and prints the table.
"""

from __future__ import annotations

import sys
import time

import torch

from .data.graphemes import decode as decode_graphemes
from .data.sources import device_fbank
from .rnnt_decoding import decode


def load(checkpoint: str, data: str):
    from fairseq import checkpoint_utils

    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [checkpoint], arg_overrides={"data": data})
    return models[0].eval(), task


def batches(dataset, batch_size: int):
    """Collated batches of every example of ``dataset``, in its ``ordered_indices`` order."""
    order = dataset.ordered_indices()
    for start in range(0, len(order), batch_size):
        yield dataset.collater([dataset[int(i)] for i in order[start : start + batch_size]])


def run(model, task, split: str, beam: int, batch_size: int = 16, device: str = "cpu"):
    """(rows of id/lang/reference/hypothesis, decoding seconds, audio seconds)."""
    task.load_dataset(split)
    ds = task.dataset(split)
    model.to(device)
    rows, seconds, audio = [None] * len(ds), 0.0, 0.0
    for batch in batches(ds, batch_size):
        # a task trained with --fbank-on-device hands over waveforms: features on `device`
        net_input = device_fbank({k: v.to(device) for k, v in batch["net_input"].items()})
        fbank, lengths = net_input["src_tokens"], net_input["src_lengths"]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        results = decode(model, fbank, lengths, beam)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds += time.perf_counter() - t0
        audio += float(lengths.sum()) * 0.01  # 10 ms filterbank frames
        for i, (tokens, _) in zip(batch["id"].tolist(), results):
            row = ds.rows[i]
            rows[i] = {"id": row["id"], "lang": row["src_lang"], "reference": row["tgt_text"],
                       "hypothesis": decode_graphemes(task.target_dictionary, tokens)}
    return rows, seconds, audio


if __name__ == "__main__":  # python -m mslam_plugin.decode_asr: mslam-decode-asr
    from .cli.decode import main_asr

    sys.exit(main_asr())
