"""Data in fairseq speech_to_text conventions, as its CoVoST 2 preparation writes it: an
uncompressed zip of 80-dim filterbanks (``fbank80.zip``), a SentencePiece model of the
English targets and the ``config_st.yaml`` the speech_to_text task reads. Written for
CoVoST 2 (:mod:`mslam_plugin.corpus.covost2`) and the tiny corpus
(:mod:`mslam_plugin.corpus.tiny.manifests`).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from ..data import manifest as mf
from ..data.sources import load_fbank_raw

SPM_PREFIX = "spm_unigram_en"
FBANK_ZIP = "fbank80.zip"
SPM_VOCAB_SIZE = 1000


def write_fbank_zip(out: Path, sources: dict[str, Path], load=None,
                    frames: dict[str, int] | None = None) -> dict[str, str]:
    """80-dim Kaldi filterbanks of every utterance as .npy files in an uncompressed zip,
    the way fairseq's speech_to_text preparation stores CoVoST 2; returns id ->
    ``fbank80.zip:OFFSET:LENGTH``. fairseq's stock reader needs this: its raw-audio path
    calls torchaudio.sox_effects, which torchaudio 2.9 no longer has. ``load`` turns an
    audio path into (T, 80) filterbanks (default: 16 kHz mono files); ``frames``, when
    given, receives each utterance's number of frames."""
    load = load or load_fbank_raw
    tmp = out / (FBANK_ZIP + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
        for uid, path in sorted(sources.items()):
            buf = io.BytesIO()
            feats = load(path)
            if frames is not None:
                frames[uid] = int(feats.shape[0])
            np.save(buf, feats.numpy().astype(np.float32))
            z.writestr(f"{uid}.npy", buf.getvalue())
    refs = {}
    with zipfile.ZipFile(tmp) as z:
        for info in z.infolist():
            offset = info.header_offset + 30 + len(info.filename.encode("utf-8"))
            refs[info.filename[:-4]] = f"{FBANK_ZIP}:{offset}:{info.file_size}"
    tmp.replace(out / FBANK_ZIP)
    return refs


def train_target_spm(out: Path, vocab_size: int = SPM_VOCAB_SIZE) -> None:
    """Unigram SentencePiece over the English ST training targets, plus its fairseq dict."""
    import sentencepiece as spm

    targets = sorted({r["tgt_text"] for r in
                      mf.read_manifest(out / "train_st.tsv", "st", check_audio_files=False).rows})
    text_file = out / f"{SPM_PREFIX}.input.txt"
    text_file.write_text("\n".join(targets) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text_file), model_prefix=str(out / SPM_PREFIX), vocab_size=vocab_size,
        hard_vocab_limit=False, model_type="unigram", character_coverage=1.0,
        unk_id=3, bos_id=0, eos_id=2, pad_id=1, num_threads=1,
        minloglevel=2)
    text_file.unlink()
    pieces = [line.split("\t")[0] for line in
              (out / f"{SPM_PREFIX}.vocab").read_text(encoding="utf-8").splitlines()]
    specials = {"<s>", "<pad>", "</s>", "<unk>"}
    (out / f"{SPM_PREFIX}.txt").write_text(
        "".join(f"{p} 1\n" for p in pieces if p not in specials), encoding="utf-8")


def write_st_config(out: Path, vocab_size: int = SPM_VOCAB_SIZE) -> None:
    """config_st.yaml for fairseq's speech_to_text task (audio paths relative to ``out``);
    SentencePiece trains single-threaded, so it is deterministic without a seed."""
    train_target_spm(out, vocab_size)
    (out / "config_st.yaml").write_text(
        f"audio_root: {out.resolve()}\n"
        "bpe_tokenizer:\n"
        "  bpe: sentencepiece\n"
        f"  sentencepiece_model: {(out / SPM_PREFIX).resolve()}.model\n"
        f"vocab_filename: {SPM_PREFIX}.txt\n"
        "input_channels: 1\n"
        "input_feat_per_channel: 80\n"
        "use_audio_input: false\n"
        "transforms:\n"
        "  '*':\n"
        "  - utterance_cmvn\n", encoding="utf-8")
