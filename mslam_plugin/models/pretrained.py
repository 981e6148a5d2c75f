"""Reading an mSLAM encoder out of a checkpoint, once: pre-training (``mslam``), speech
translation (``mslam_st``) or transducer (``mslam_transducer``) checkpoints, of this
version's layout or an earlier one.

Where the encoder's tensors sit in each model's state dict:

=================  ==============================  ==================================
model              encoder body                    other
=================  ==============================  ==================================
mslam              ``frontend.`` ... (top level)   ``ctc_head.`` (pre-training CTC)
mslam_st           ``encoder.mslam.``              ``encoder.ctc_head.``, ``encoder.proj.``
                   (before: ``encoder.``)
mslam_transducer   ``rnnt.transcriber.encoder.``   ``rnnt.transcriber.proj.``
                                                   (before: ``...encoder.proj.``)
=================  ==============================  ==================================
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Optional


from .config import MSLAMConfig
from .encoder import ENCODER_PARTS, MSLAMEncoder

logger = logging.getLogger(__name__)
# longest first: the first prefix under which a front-end weight is found wins
BODY_PREFIXES = ("rnnt.transcriber.encoder.", "encoder.mslam.", "encoder.", "")


def encoder_prefix(model_state: dict) -> str:
    """The prefix of the encoder body's keys in a model state dict (see the table)."""
    for prefix in BODY_PREFIXES:
        if any(k.startswith(prefix + "frontend.") for k in model_state):
            return prefix
    raise ValueError("no mSLAM encoder in this state dict (no front-end weights)")


def encoder_state(model_state: dict) -> dict:
    """The encoder body's tensors of a model state dict, keyed as in
    :data:`~mslam_plugin.models.encoder.ENCODER_PARTS`."""
    prefix = encoder_prefix(model_state)
    out = {}
    for key, value in model_state.items():
        if key.startswith(prefix) and key[len(prefix):].startswith(ENCODER_PARTS):
            out[key[len(prefix):]] = value
    return out


def rename_keys(state_dict: dict, old: str, new: str, parts=ENCODER_PARTS) -> int:
    """In place: keys ``old + part...`` become ``new + part...`` for each of ``parts``
    (an earlier layout's checkpoint loading into this one). Returns how many moved."""
    moved = [k for k in state_dict if k.startswith(old) and k[len(old):].startswith(parts)]
    for key in moved:
        state_dict[new + key[len(old):]] = state_dict.pop(key)
    return len(moved)


def _model_config(stored) -> SimpleNamespace:
    """MSLAMConfig's fields from a stored model config (dict, DictConfig or Namespace);
    options the checkpoint predates take their defaults."""
    get = stored.get if hasattr(stored, "get") else lambda k, d=None: getattr(stored, k, d)
    values = {}
    for f in fields(MSLAMConfig):
        value = get(f.name, None)
        values[f.name] = f.default if value is None else value
    return SimpleNamespace(**values)


@dataclass
class PretrainedEncoder:
    """An encoder read from a checkpoint file: its config, body tensors, pre-training CTC
    head (when the checkpoint has one), character-vocabulary size and the task's
    character vocabulary and speech features, where the checkpoint records them."""

    path: str
    cfg: SimpleNamespace
    body: dict
    ctc_head: dict
    vocab_size: int
    char_vocab: Optional[Path]
    features: str

    @classmethod
    def read(cls, path, char_vocab=None, features: Optional[str] = None) -> "PretrainedEncoder":
        """Read ``path`` once (model tensors and config; the optimiser state is dropped
        as soon as it is read)."""
        from fairseq import checkpoint_utils

        from ..checkpoints import CheckpointError

        path = str(path)
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: mSLAM checkpoint not found")
        state = checkpoint_utils.load_checkpoint_to_cpu(path)
        model_state = state["model"]
        try:
            prefix = encoder_prefix(model_state)
        except ValueError:
            raise CheckpointError(f"{path}: not an mSLAM checkpoint (no encoder front-end "
                                  "weights)") from None
        body = encoder_state(model_state)
        head_prefix = "encoder.ctc_head." if prefix.startswith("encoder.") else "ctc_head."
        head = {k[len(head_prefix):]: v for k, v in model_state.items()
                if k.startswith(head_prefix)} if prefix in ("", "encoder.", "encoder.mslam.") else {}
        cfg = state.get("cfg") or {}
        task_cfg = cfg.get("task") if hasattr(cfg, "get") else None
        if char_vocab is None:
            char_vocab = _task_char_vocab(task_cfg)
        if features is None:
            features = _task_features(task_cfg)
        model_cfg = _model_config(cfg.get("model") or {})
        if features is None:
            features = "w2vbert2" if model_cfg.speech_frontend == "stack" else "fbank"
        del state
        return cls(path, model_cfg, body, head, body["text_embedding.embed.weight"].size(0),
                   Path(char_vocab) if char_vocab else None, features)

    def build(self) -> MSLAMEncoder:
        """A standalone :class:`MSLAMEncoder` holding these weights, with the character
        vocabulary (for ``embed_text``) and the speech features (for ``embed_speech``)."""
        from ..data.char_vocab import load_char_dictionary

        encoder = MSLAMEncoder(self.cfg, self.vocab_size, 1)
        encoder.load_encoder_state(self.body, self.path)
        encoder.speech_input = self.features
        if self.char_vocab is not None and self.char_vocab.is_file():
            encoder.char_dictionary = load_char_dictionary(self.char_vocab)
            if len(encoder.char_dictionary) != self.vocab_size:
                raise ValueError(f"{self.char_vocab} holds {len(encoder.char_dictionary)} "
                                 f"symbols, the encoder of {self.path} {self.vocab_size}: "
                                 "not the vocabulary it was trained with")
        elif self.char_vocab is not None:
            logger.warning("%s not found: embed_text needs the character vocabulary "
                           "(from_checkpoint(path, char_vocab=...))", self.char_vocab)
        return encoder


def _field(cfg, name):
    if cfg is None:
        return None
    return cfg.get(name, None) if hasattr(cfg, "get") else getattr(cfg, name, None)


def _task_char_vocab(task_cfg) -> Optional[str]:
    """The character vocabulary the checkpoint's task read: pre-training and ASR name it
    relative to their data directory, speech translation by ``--char-vocab``."""
    from ..tasks.common import vocabulary_path

    data, name = _field(task_cfg, "data"), _field(task_cfg, "char_dict") or _field(
        task_cfg, "char_vocab") or "dict.char.txt"
    if data is None:
        return name if Path(name).is_absolute() else None
    return str(vocabulary_path(name, data))


def _task_features(task_cfg) -> Optional[str]:
    return _field(task_cfg, "speech_features")



def finetuning_start(cfg, task) -> tuple[int, int, Optional[PretrainedEncoder]]:
    """Size and pad of a fine-tuning encoder's character vocabulary and the pre-trained
    encoder it starts from (``cfg.load_pretrained_mslam_from``, read once), or None.

    The vocabulary is the task's (``char_dictionary``), else the checkpoint's, else
    ``cfg.text_vocab_size``; its size is recorded there, so a fine-tuned checkpoint
    rebuilds its encoder without the pre-training file (its task clears that option:
    ``restoring_without_pretraining_file``)."""
    path = getattr(cfg, "load_pretrained_mslam_from", "")
    pretrained = PretrainedEncoder.read(path) if path else None
    chars = getattr(task, "char_dictionary", None)
    if chars is not None and pretrained is not None:
        check_vocabulary(chars, getattr(task, "char_vocab_path", None), pretrained)
    if chars is not None:
        size, pad = len(chars), chars.pad()
    elif pretrained is not None:
        size, pad = pretrained.vocab_size, 1
    elif cfg.text_vocab_size > 0:
        size, pad = cfg.text_vocab_size, 1
    else:
        raise ValueError("the model needs --load-pretrained-mslam-from or --text-vocab-size "
                         "(the character vocabulary of the encoder)")
    cfg.text_vocab_size = size
    return size, pad, pretrained


def check_vocabulary(chars, chars_path, pretrained: PretrainedEncoder) -> None:
    """Refuse a character vocabulary that is not the one ``pretrained`` was trained with:
    of another size, or, where the pre-training's own vocabulary file is still there,
    with other symbols. The message names both files."""
    from ..checkpoints import CheckpointError

    name = chars_path or "the task's character vocabulary"
    if len(chars) != pretrained.vocab_size:
        raise CheckpointError(
            f"{name} holds {len(chars)} symbols, but {pretrained.path} was pre-trained with "
            f"a character vocabulary of {pretrained.vocab_size}"
            + (f" ({pretrained.char_vocab})" if pretrained.char_vocab else "")
            + ": give --char-vocab the dict.char.txt it was pre-trained with")
    own = pretrained.char_vocab
    if own is None or not own.is_file() or (chars_path and Path(chars_path).resolve() == own.resolve()):
        return
    from ..data.char_vocab import load_char_dictionary

    theirs = load_char_dictionary(own)
    if theirs.symbols != chars.symbols:
        first = next(i for i, (a, b) in enumerate(zip(theirs.symbols, chars.symbols)) if a != b)
        raise CheckpointError(
            f"{name} is not the character vocabulary {pretrained.path} was pre-trained with "
            f"({own}): symbol {first} is {chars.symbols[first]!r} there, "
            f"{theirs.symbols[first]!r} in the pre-training's")
