"""One encoder for every model: pre-trained weights reach the fine-tuning models tensor for
tensor, checkpoints of the earlier layouts still load, and the embedding API
(:meth:`MSLAMEncoder.from_checkpoint`, ``embed_speech``, ``embed_text``) gives what the
encoder computes on the loaders' features."""

import argparse
import math

import pytest
import torch
import torchaudio
from fairseq.checkpoint_utils import torch_persistent_save
from fairseq.models import ARCH_CONFIG_REGISTRY

from mslam_plugin.data.char_vocab import build_char_vocab, encode, load_char_dictionary
from mslam_plugin.data.sources import features_of
from mslam_plugin.models.config import MSLAMConfig
from mslam_plugin.models.encoder import ENCODER_PARTS, MSLAMEncoder
from mslam_plugin.models.mslam import MSLAMModel
from mslam_plugin.models.mslam_st import MSLAMSTConfig, MSLAMSTModel
from mslam_plugin.models.mslam_transducer import MSLAMTransducerConfig, MSLAMTransducerModel
from mslam_plugin.models.pretrained import encoder_state


class _Dict:
    """A target dictionary stand-in: ``n`` symbols, pad 1, blank last."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def pad(self):
        return 1

    def eos(self):
        return 2

    def index(self, symbol):
        return self.n - 1


class _Task:
    def __init__(self, n=40):
        self.target_dictionary = _Dict(n)
        self.char_dictionary = None


def _cfg(arch, config_cls, **extra):
    ns = argparse.Namespace(dropout=0.0, decoder_dropout=0.0, **extra)
    ARCH_CONFIG_REGISTRY[arch](ns)
    return config_cls(**{k: v for k, v in vars(ns).items()
                         if k in config_cls.__dataclass_fields__})


def _save(path, model, model_cfg: dict, task_cfg: dict):
    torch_persistent_save({
        "args": None, "cfg": {"model": model_cfg, "task": task_cfg},
        "model": model.state_dict(), "criterion": None,
        "optimizer_history": [{"criterion_name": "x", "optimizer_name": "none",
                               "lr_scheduler_state": {"best": None}, "num_updates": 0}],
        "task_state": {}, "extra_state": {}}, str(path))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny pre-training checkpoint with its character vocabulary beside it."""
    root = tmp_path_factory.mktemp("pre")
    build_char_vocab({"de": ["ein kleiner satz über äpfel"]}).save(root / "dict.char.txt")
    chars = load_char_dictionary(root / "dict.char.txt")
    cfg = _cfg("mslam_tiny", MSLAMConfig)
    torch.manual_seed(3)
    model = MSLAMModel(cfg, len(chars), chars.pad()).eval()
    model_cfg = {**vars(cfg), "_name": "mslam_tiny"}
    model_cfg["quantizer_temp"] = list(model_cfg["quantizer_temp"])
    _save(root / "pre.pt", model, model_cfg,
          {"_name": "mslam_pretraining", "data": str(root), "char_dict": "dict.char.txt",
           "speech_features": "fbank"})
    return root / "pre.pt", model, chars


def _assert_encoder_equal(state: dict, model: MSLAMModel):
    own = {k: v for k, v in model.state_dict().items() if k.startswith(ENCODER_PARTS)}
    assert set(state) == set(own)
    for k, v in own.items():
        assert torch.equal(state[k], v), k


def test_finetuning_models_start_from_every_pretrained_tensor(pretrained):
    path, model, chars = pretrained
    st_cfg = _cfg("mslam_st_tiny", MSLAMSTConfig, load_pretrained_mslam_from=str(path),
                  source_ctc=True)
    st = MSLAMSTModel.build_model(st_cfg, _Task())
    _assert_encoder_equal(encoder_state(st.state_dict()), model)
    assert torch.equal(st.encoder.ctc_head.weight, model.ctc_head.weight)
    assert st_cfg.text_vocab_size == len(chars)  # recorded for decoding without the file
    tr_cfg = _cfg("mslam_transducer_tiny", MSLAMTransducerConfig,
                  load_pretrained_mslam_from=str(path))
    transducer = MSLAMTransducerModel.build_model(tr_cfg, _Task())
    _assert_encoder_equal(encoder_state(transducer.state_dict()), model)
    # and they compute what the pre-trained encoder computes
    fbank, lengths = torch.randn(2, 60, 80), torch.tensor([60, 41])
    pad = torch.arange(60)[None] >= lengths[:, None]
    with torch.no_grad():
        ref = model.encode_speech(fbank, pad)
        out = st.eval().encoder(fbank, lengths)
        ctc = out["ctc_logits"][0].transpose(0, 1)
    valid = ~ref.padding_mask
    assert torch.allclose(ctc[valid], model.ctc_head(ref.context)[valid], atol=1e-5)


def test_earlier_checkpoint_layouts_still_load(pretrained):
    path, _, _ = pretrained
    st = MSLAMSTModel.build_model(_cfg("mslam_st_tiny", MSLAMSTConfig,
                                       load_pretrained_mslam_from=str(path)), _Task())
    new = st.state_dict()
    old = {k.replace("encoder.mslam.", "encoder.", 1): v.clone() + 1 for k, v in new.items()}
    assert not any(k.startswith("encoder.mslam.") for k in old)
    st.load_state_dict(dict(old), strict=True)
    for k, v in st.state_dict().items():
        assert torch.equal(v, old[k.replace("encoder.mslam.", "encoder.", 1)]), k
    tr = MSLAMTransducerModel.build_model(_cfg("mslam_transducer_tiny", MSLAMTransducerConfig,
                                               load_pretrained_mslam_from=str(path)), _Task())
    new = tr.state_dict()
    old = {k.replace("rnnt.transcriber.proj.", "rnnt.transcriber.encoder.proj."): v.clone() - 1
           for k, v in new.items()}
    assert "rnnt.transcriber.encoder.proj.weight" in old
    tr.load_state_dict(dict(old), strict=True)
    assert torch.equal(tr.transcriber.proj.weight, old["rnnt.transcriber.encoder.proj.weight"])


def _tone(seconds=1.3, rate=16000, freq=440.0):
    t = torch.arange(int(seconds * rate)) / rate
    g = torch.Generator().manual_seed(0)
    return 0.3 * torch.sin(2 * math.pi * freq * t) + 0.05 * torch.randn(len(t), generator=g)


def test_embed_speech_is_the_encoder_on_the_loaders_features(pretrained):
    path, model, _ = pretrained
    encoder = MSLAMEncoder.from_checkpoint(path)
    assert not encoder.training and encoder.speech_input == "fbank"
    wav = _tone()
    out = encoder.embed_speech(wav, 16000)
    feats = features_of(wav, "fbank")
    with torch.no_grad():
        ref = model.encode_speech(feats[None], torch.zeros(1, len(feats), dtype=torch.bool))
    assert out.frames.shape == ref.context[0].shape
    assert torch.allclose(out.frames, ref.context[0], atol=1e-5)
    assert torch.allclose(out.pooled, ref.context[0].mean(0), atol=1e-5)
    # two identical channels mix down to the same; another rate is resampled first
    stereo = encoder.embed_speech(torch.stack([wav, wav]), 16000)
    assert torch.allclose(stereo.frames, out.frames, atol=1e-5)
    wav44 = torchaudio.functional.resample(wav, 16000, 44100)
    resampled = encoder.embed_speech(wav44, 44100)
    again = torchaudio.functional.resample(wav44, 44100, 16000)
    assert torch.allclose(resampled.frames, encoder.embed_speech(again, 16000).frames, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N,\) or \(C, N\)"):
        encoder.embed_speech(wav[None, None], 16000)


def test_embed_text_uses_the_checkpoints_vocabulary(pretrained):
    path, model, chars = pretrained
    encoder = MSLAMEncoder.from_checkpoint(path)
    out = encoder.embed_text("ein Apfel")
    tokens = torch.tensor([encode(chars, "ein Apfel")])
    with torch.no_grad():
        ref = model.encode_text(tokens).context[0]
    assert out.frames.shape == (tokens.size(1), model.embed_dim)
    assert torch.allclose(out.frames, ref, atol=1e-5)
    with pytest.raises(ValueError, match="character vocabulary"):
        MSLAMEncoder.from_checkpoint(path, char_vocab=path.parent / "missing.txt").embed_text("x")


def test_from_checkpoint_reads_finetuned_checkpoints(pretrained, tmp_path):
    path, model, chars = pretrained
    st_cfg = _cfg("mslam_st_tiny", MSLAMSTConfig, load_pretrained_mslam_from=str(path))
    st = MSLAMSTModel.build_model(st_cfg, _Task())
    with torch.no_grad():  # fine-tuning moved the encoder
        for p in st.encoder.mslam.parameters():
            p.add_(0.01)
    st_model_cfg = {k: v for k, v in vars(st_cfg).items() if not k.startswith("_")}
    st_model_cfg["quantizer_temp"] = list(st_model_cfg["quantizer_temp"])
    _save(tmp_path / "st.pt", st, {**st_model_cfg, "_name": "mslam_st_tiny"},
          {"_name": "speech_to_text", "data": str(path.parent), "char_vocab": "dict.char.txt"})
    encoder = MSLAMEncoder.from_checkpoint(tmp_path / "st.pt")
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, st.encoder.mslam.state_dict()[k]), k
    assert encoder.char_dictionary is not None and len(encoder.char_dictionary) == len(chars)
    with pytest.raises(FileNotFoundError, match="not found"):
        MSLAMEncoder.from_checkpoint(tmp_path / "nothing.pt")


def test_a_character_vocabulary_other_than_the_pretrainings_is_refused(pretrained, tmp_path):
    from mslam_plugin.checkpoints import CheckpointError

    path, _, chars = pretrained
    cfg = _cfg("mslam_st_tiny", MSLAMSTConfig, load_pretrained_mslam_from=str(path))
    task = _Task()
    build_char_vocab({"de": ["ganz andere zeichen: xyz"]}).save(tmp_path / "other.txt")
    task.char_dictionary = load_char_dictionary(tmp_path / "other.txt")
    task.char_vocab_path = tmp_path / "other.txt"
    assert len(task.char_dictionary) != len(chars)
    with pytest.raises(CheckpointError, match=rf"other.txt holds {len(task.char_dictionary)} "
                       rf"symbols, but {path} was pre-trained with a character vocabulary of "
                       rf"{len(chars)} \(.*dict.char.txt\)"):
        MSLAMSTModel.build_model(cfg, task)
    # the same size, other symbols: found by comparing with the pre-training's file
    swapped = load_char_dictionary(path.parent / "dict.char.txt")
    i, j = len(swapped) - 2, len(swapped) - 1
    swapped.symbols[i], swapped.symbols[j] = swapped.symbols[j], swapped.symbols[i]
    swapped.save(str(tmp_path / "swapped.txt"))
    task.char_dictionary = load_char_dictionary(tmp_path / "swapped.txt")
    task.char_vocab_path = tmp_path / "swapped.txt"
    with pytest.raises(CheckpointError, match=rf"swapped.txt is not the character vocabulary "
                       rf"{path} was pre-trained with .*symbol {i} is"):
        MSLAMSTModel.build_model(cfg, task)
    task.char_dictionary = load_char_dictionary(path.parent / "dict.char.txt")
    task.char_vocab_path = tmp_path / "copy.txt"  # an identical copy elsewhere is fine
    MSLAMSTModel.build_model(cfg, task)
