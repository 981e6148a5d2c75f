"""Greedy CTC transcription by the CTC head of a checkpoint: what the encoder knows of the
words that were said, as CER and WER per language and overall.

- a pre-training checkpoint (``mslam_pretraining``: the CTC objective's head on the
  multimodal encoder), on a paired manifest (``--split paired_test``, its ``tgt_text``);
- a speech-translation checkpoint fine-tuned with the source CTC loss
  (``--criterion label_smoothed_cross_entropy_with_ctc``), on an ST split
  (``--split test_st``, its ``src_text``).

The command (:func:`mslam_plugin.cli.decode.main_ctc`):

    mslam-decode-ctc --data data/tiny --split test_st \
        --checkpoint exp/st/checkpoint_last.pt --out exp/st/decode_ctc

(or ``python -m mslam_plugin.decode_ctc``). Writes OUT/hyps-SPLIT-ctc.tsv (id, lang,
reference, hypothesis) and OUT/scores-SPLIT-ctc.json, and prints the table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from .data.graphemes import decode as decode_chars
from .decode_asr import batches


def greedy_ctc(lprobs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path of CTC log-probabilities (T, B, V) with lengths (B,): repeats merged,
    blanks removed, one id list per utterance."""
    best = lprobs.argmax(-1).t()  # (B, T)
    out = []
    for ids, n in zip(best.tolist(), lengths.tolist()):
        path = [i for t, i in enumerate(ids[:n]) if i != blank and (t == 0 or i != ids[t - 1])]
        out.append(path)
    return out


@torch.no_grad()
def transcribe(model, task, split: str, batch_size: int = 16) -> list[dict]:
    """Rows of id / lang / reference / hypothesis for every utterance of ``split``."""
    if getattr(model, "encoder", None) is None:  # pre-training: MSLAMModel
        return _transcribe_pretrained(model, task, split, batch_size)
    if getattr(model.encoder, "ctc_head", None) is None:
        raise ValueError("the checkpoint has no source CTC head (it was not fine-tuned with "
                         "label_smoothed_cross_entropy_with_ctc)")
    task.load_dataset(split)
    ds = task.dataset(split)
    if not hasattr(ds, "char_dictionary"):
        raise ValueError(f"{split}: the task did not attach the source transcripts")
    rows = [None] * len(ds)
    for batch in batches(ds, batch_size):
        net = batch["net_input"]
        enc = model.encoder(net["src_tokens"], src_lengths=net["src_lengths"])
        lprobs, lengths = model.get_ctc_output((None, {"encoder_out": enc}), batch)
        for i, ids in zip(batch["id"].tolist(), greedy_ctc(lprobs, lengths)):
            # column 0 of get_ctc_output is the blank; the <blank> id's column holds <s>
            ids = [t for t in ids if t != model.encoder.ctc_blank]
            rows[i] = {"id": ds.ids[i], "lang": _lang(ds, i), "reference": ds.src_texts[i],
                       "hypothesis": decode_chars(ds.char_dictionary, ids)}
    return rows


def _transcribe_pretrained(model, task, split: str, batch_size: int) -> list[dict]:
    from .data.asr_dataset import ASRDataset
    from .data.char_vocab import BLANK

    chars = task.source_dictionary
    path = Path(task.cfg.data) / f"{split}.tsv"
    ds = ASRDataset(path, chars, max_frames=None, shuffle=False,
                    features=getattr(task.cfg, "speech_features", "fbank"))
    blank = chars.index(BLANK)
    rows = [None] * len(ds)
    for batch in batches(ds, batch_size):
        fbank, lengths = batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"]
        padding = torch.arange(fbank.size(1))[None, :] >= lengths[:, None]
        speech = model.forward_speech(fbank, padding, quantize=False)
        lprobs = torch.log_softmax(model.ctc_logits(speech.context).float(), -1).transpose(0, 1)
        out_lengths = (~speech.padding_mask).sum(-1)
        for i, ids in zip(batch["id"].tolist(), greedy_ctc(lprobs, out_lengths, blank)):
            row = ds.rows[i]
            rows[i] = {"id": row["id"], "lang": row.get("src_lang") or "all",
                       "reference": row["tgt_text"], "hypothesis": decode_chars(chars, ids)}
    return rows


def _lang(ds, i: int) -> str:
    langs = getattr(ds, "src_langs", None)
    return langs[i] if langs and langs[i] else "all"


if __name__ == "__main__":  # python -m mslam_plugin.decode_ctc: mslam-decode-ctc
    from .cli.decode import main_ctc

    sys.exit(main_ctc())
