"""A linear CTC probe of a frozen speech encoder (SUPERB's phoneme-recognition set-up,
Yang et al., 2021, here on characters): what a pre-training checkpoint is for, measured
without fine-tuning it.

Every depth of the encoder (the front-end output, then each layer's) gets a linear
layer to the character vocabulary plus blank, trained with CTC for a fixed budget on a
small labelled set, on the encoder's frozen output standardised with the training set's
statistics. The depth with the lowest CER on the dev set is the probe's result, scored
on the test set (sentences never seen in training). Controls through the very same
probe: the filterbanks themselves (``fbank``: 4 stacked frames, the 40 ms rate of the
mSLAM encoder) and any encoder with random weights (``random_init``).

Encoders: an ``mslam`` / ``mslam_st`` / ``mslam_transducer`` checkpoint (its
:meth:`~mslam_plugin.models.encoder.MSLAMEncoder.speech_layer_outputs`) or a fairseq
``wav2vec2`` pre-training checkpoint (its CNN features, then each Transformer layer).
The command: ``mslam-probe`` (:mod:`mslam_plugin.cli.probe`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data.char_vocab import SPACE, encode, load_char_dictionary
from ..data.manifest import read_tsv
from ..data.sources import features_of, read_audio

# an extractor: waveform (N,) -> one (T_l, D_l) tensor per depth
Extractor = Callable[[torch.Tensor], list]


@dataclass
class ProbeRows:
    """Utterances of one split, each as every depth's frozen features."""

    layers: list[list[torch.Tensor]]   # [depth][utterance] (T, D) float32
    targets: list[list[int]]           # character ids, one list an utterance
    refs: list[str]                    # the transcript in vocabulary-normalised form
    langs: list[str]


@dataclass
class ProbeResult:
    """One encoder through the probe; CER in percent."""

    encoder: str
    best_layer: int
    test_cer: float
    test_cer_per_lang: dict
    dev_cer: list = field(default_factory=list)      # one a depth
    test_cer_layers: list = field(default_factory=list)
    train_rows: int = 0
    test_rows: int = 0
    seconds: float = 0.0


def select_rows(manifest: Path, per_lang: int, seed: int) -> list[dict]:
    """``per_lang`` rows of each language of a paired manifest (all when 0), drawn with
    ``seed``, in manifest order."""
    rows = read_tsv(manifest, required=("audio", "tgt_text", "src_lang"))
    if per_lang <= 0:
        return rows
    rng = np.random.default_rng(seed)
    keep = []
    for lang in sorted({r["src_lang"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["src_lang"] == lang]
        keep += rng.choice(idx, size=min(per_lang, len(idx)), replace=False).tolist()
    return [rows[i] for i in sorted(keep)]


def decode(dictionary, ids) -> str:
    return "".join(" " if dictionary[i] == SPACE else dictionary[i] for i in ids)


@torch.no_grad()
def read_rows(data: Path, rows: list[dict], manifest: Path, dictionary,
              extract: Extractor) -> ProbeRows:
    layers, targets, refs, langs = None, [], [], []
    for n, row in enumerate(rows):
        wav = read_audio(data / row["audio"], f"{manifest} ({row.get('id', n)})")
        feats = [f.float().cpu() for f in extract(wav)]
        if layers is None:
            layers = [[] for _ in feats]
        for depth, f in enumerate(feats):
            layers[depth].append(f)
        ids = encode(dictionary, row["tgt_text"])
        targets.append(ids)
        refs.append(decode(dictionary, ids))
        langs.append(row["src_lang"])
    return ProbeRows(layers or [], targets, refs, langs)


def fbank_extractor(stack: int = 4) -> Extractor:
    """The input features themselves: utterance-normalised 80-dim filterbanks (the mSLAM
    loaders'), ``stack`` consecutive frames side by side (10 ms x ``stack``)."""
    def extract(wav):
        x = features_of(wav, "fbank")  # (T, 80)
        t = len(x) // stack * stack
        return [x[:t].reshape(t // stack, -1)]
    return extract


def mslam_extractor(encoder) -> Extractor:
    def extract(wav):
        fbank = features_of(wav, encoder.speech_input)[None]
        outs, _ = encoder.speech_layer_outputs(fbank, torch.zeros(fbank.shape[:2], dtype=torch.bool))
        return [o[0] for o in outs]
    return extract


def wav2vec2_extractor(model) -> Extractor:
    """fairseq wav2vec 2.0: the normalised CNN features, then each Transformer layer."""
    def extract(wav):
        res = model.extract_features(wav[None], None, mask=False)
        return [res["features"][0]] + [x[:, 0] for x, *_ in res["layer_results"]]
    return extract


def load_extractor(checkpoint: Path | None, random_init: bool = False, seed: int = 1
                   ) -> tuple[Extractor, str]:
    """The extractor of a checkpoint (or of the filterbanks when ``checkpoint`` is None),
    and a name for it. ``random_init``: the checkpoint's architecture, random weights."""
    if checkpoint is None:
        return fbank_extractor(), "fbank (4 stacked frames)"
    from fairseq import checkpoint_utils

    state = checkpoint_utils.load_checkpoint_to_cpu(str(checkpoint))
    model_cfg = state["cfg"]["model"]
    name = f"{checkpoint}" + (f" (random init, seed {seed})" if random_init else "")
    torch.manual_seed(seed)
    if model_cfg.get("_name") == "wav2vec2":
        from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Model

        model = Wav2Vec2Model(model_cfg)
        if not random_init:
            model.load_state_dict(state["model"])
        return wav2vec2_extractor(model.eval()), name
    from ..models.pretrained import PretrainedEncoder

    del state
    pretrained = PretrainedEncoder.read(checkpoint)
    if random_init:
        from ..models.encoder import MSLAMEncoder

        encoder = MSLAMEncoder(pretrained.cfg, pretrained.vocab_size, 1)
        encoder.speech_input = pretrained.features
    else:
        encoder = pretrained.build()
    return mslam_extractor(encoder.eval()), name


def train_linear_ctc(xs: list[torch.Tensor], ys: list[list[int]], vocab: int, blank: int,
                     steps: int = 600, batch: int = 16, lr: float = 5e-3, seed: int = 1
                     ) -> torch.nn.Linear:
    """A Linear(D, vocab) trained with CTC on ``xs`` (standardised (T, D) features) and
    ``ys`` (character ids), Adam with a cosine-decayed rate, for ``steps`` batches."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x_all = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)            # (N, T, D)
    lengths = torch.tensor([len(x) for x in xs])
    y_all = torch.nn.utils.rnn.pad_sequence([torch.tensor(t) for t in ys], batch_first=True,
                                            padding_value=blank)             # (N, U)
    y_lengths = torch.tensor([len(t) for t in ys])
    head = torch.nn.Linear(x_all.shape[-1], vocab)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        pick = torch.randint(len(xs), (min(batch, len(xs)),), generator=gen)
        t, u = int(lengths[pick].max()), int(y_lengths[pick].max())
        lprobs = F.log_softmax(head(x_all[pick, :t]), -1).transpose(0, 1)
        loss = F.ctc_loss(lprobs, y_all[pick, :u], lengths[pick], y_lengths[pick],
                          blank=blank, zero_infinity=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return head


@torch.no_grad()
def greedy_ctc(head, xs: list[torch.Tensor], blank: int) -> list[list[int]]:
    out = []
    for x in xs:
        best = head(x).argmax(-1).tolist()
        out.append([c for i, c in enumerate(best) if c != blank and (i == 0 or c != best[i - 1])])
    return out


def cer(refs: list[str], hyps: list[str]) -> float:
    """Corpus CER in percent: character edits over reference characters."""
    import jiwer

    return round(100 * jiwer.cer(refs, hyps), 2)


def cer_per_lang(refs, hyps, langs) -> dict:
    return {lang: cer([r for r, x in zip(refs, langs) if x == lang],
                      [h for h, x in zip(hyps, langs) if x == lang])
            for lang in sorted(set(langs))}


def probe(data: Path, extract: Extractor, name: str, per_lang: int = 100, seed: int = 1,
          steps: int = 600, layers: list[int] | None = None) -> ProbeResult:
    """The probe of ``extract`` on corpus ``data`` (its ``paired_train`` /
    ``paired_dev`` / ``paired_test`` manifests and ``dict.char.txt``): ``per_lang``
    labelled training utterances a language; ``layers`` limits the depths tried."""
    start = time.time()
    data = Path(data)
    dictionary = load_char_dictionary(data / "dict.char.txt")
    split = {}
    for name_, n in (("train", per_lang), ("dev", 0), ("test", 0)):
        manifest = data / f"paired_{name_}.tsv"
        split[name_] = read_rows(data, select_rows(manifest, n, seed), manifest, dictionary,
                                 extract)
    train, dev, test = split["train"], split["dev"], split["test"]
    # the head predicts the characters of the labelled set (index 0: blank), not the whole
    # multilingual vocabulary: a character never seen in training cannot be learnt anyway
    chars = sorted({c for t in train.targets for c in t})
    compact = {c: i + 1 for i, c in enumerate(chars)}
    train_targets = [[compact[c] for c in t] for t in train.targets]
    to_text = lambda hyps: [decode(dictionary, [chars[i - 1] for i in h]) for h in hyps]
    depths = layers if layers is not None else list(range(len(train.layers)))
    dev_cer, test_cer, test_hyps = [], [], []
    for depth in depths:
        cat = torch.cat(train.layers[depth])
        mean, std = cat.mean(0), cat.std(0).clamp(min=1e-5)
        norm = lambda xs: [(x - mean) / std for x in xs]
        head = train_linear_ctc(norm(train.layers[depth]), train_targets, 1 + len(chars), 0,
                                steps=steps, seed=seed)
        dev_hyps = to_text(greedy_ctc(head, norm(dev.layers[depth]), 0))
        hyps = to_text(greedy_ctc(head, norm(test.layers[depth]), 0))
        dev_cer.append(cer(dev.refs, dev_hyps))
        test_cer.append(cer(test.refs, hyps))
        test_hyps.append(hyps)
    best = int(np.argmin(dev_cer))
    return ProbeResult(name, depths[best], test_cer[best],
                       cer_per_lang(test.refs, test_hyps[best], test.langs), dev_cer, test_cer,
                       len(train.refs), len(test.refs), round(time.time() - start, 1))
