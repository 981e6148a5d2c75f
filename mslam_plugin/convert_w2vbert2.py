"""The public w2v-BERT 2.0 encoder (Seamless Communication, 2023) as an mSLAM checkpoint.

    mslam-convert-w2vbert2 --hf-dir DIR --char-vocab DATA/dict.char.txt \\
        --out exp/w2vbert2/mslam_w2vbert2.pt [--speech-layers 8] [-- fairseq model flags]

(or ``python -m mslam_plugin.convert_w2vbert2``; the command is
:func:`mslam_plugin.cli.convert.main_w2vbert2`).

DIR is a local copy of the Hugging Face model ``facebook/w2v-bert-2.0`` (``config.json`` and
``model.safetensors``; nothing is downloaded here). Its conformer layers 0 .. N-1 become
the speech encoder and the rest the multimodal encoder (N = ``--speech-layers``, 8 of the
24); its feature projection becomes the ``stack`` front-end and its ``masked_spec_embed``
the mask embedding. The text embedding, the quantizer and the heads are freshly
initialised (seeded), sized for the character vocabulary of the data the model will be
trained on. The output is a fairseq checkpoint of the architecture ``mslam_w2vbert2``,
written the way fairseq-train writes one (``cfg``, ``model``, optimizer history without
optimizer state), so it serves ``--load-pretrained-mslam-from`` (fine-tuning) and
``--finetune-from-model`` (continued pre-training) alike.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import torch

logger = logging.getLogger(__name__)
FRESH_PARTS = ("text_embedding.", "quantizer.", "contrastive_proj.", "quantized_proj.",
               "code_head.", "text_head.", "ctc_head.")
HF_PREFIX = "wav2vec2_bert."  # Wav2Vec2BertFor* models keep the encoder under it
HF_ENCODER_KEYS = ("feature_projection.", "encoder.", "masked_spec_embed")
REQUIRED_CONFIG = {"position_embeddings_type": "relative_key", "add_adapter": False,
                   "use_intermediate_ffn_before_adapter": False, "feature_projection_input_dim": 160,
                   "layer_norm_eps": 1e-5}
HF_DOWNLOAD_HINT = ("get the Hugging Face format: config.json and model.safetensors of "
                    "facebook/w2v-bert-2.0, e.g. `huggingface-cli download facebook/w2v-bert-2.0 "
                    "config.json model.safetensors --local-dir DIR`")
LAYER_KEYS = {  # Hugging Face conformer layer -> MSLAMConformerBlock (weight and bias)
    "ffn1_layer_norm": "ffn1.norm", "ffn1.intermediate_dense": "ffn1.fc1",
    "ffn1.output_dense": "ffn1.fc2", "self_attn_layer_norm": "attn_norm",
    "self_attn.linear_out": "attn.out", "conv_module.layer_norm": "conv.pre_norm",
    "conv_module.depthwise_layer_norm": "conv.norm", "ffn2_layer_norm": "ffn2.norm",
    "ffn2.intermediate_dense": "ffn2.fc1", "ffn2.output_dense": "ffn2.fc2",
    "final_layer_norm": "final_norm",
}


def read_hf_config(hf_dir: Path) -> dict:
    """config.json of a Wav2Vec2BertModel, checked against what mslam_w2vbert2 can hold."""
    if not hf_dir.exists():
        raise FileNotFoundError(f"{hf_dir}: no such directory; {HF_DOWNLOAD_HINT}")
    fairseq2 = hf_dir.suffix == ".pt" if hf_dir.is_file() else (
        any(hf_dir.glob("*.pt")) and not (hf_dir / "config.json").exists())
    if fairseq2:
        raise ValueError(f"{hf_dir}: fairseq2 checkpoints (conformer_shaw.pt) are not "
                         f"supported; {HF_DOWNLOAD_HINT}")
    if hf_dir.is_file():
        raise ValueError(f"{hf_dir}: expected the directory holding config.json and "
                         "model.safetensors, not a file")
    path = hf_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; {HF_DOWNLOAD_HINT}")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a JSON model config ({err})") from err
    if cfg.get("model_type") != "wav2vec2-bert":
        raise ValueError(f"{path}: expected a w2v-BERT 2.0 config (model_type "
                         f"'wav2vec2-bert'), but model_type is {cfg.get('model_type')!r}")
    for key, value in REQUIRED_CONFIG.items():
        if key in cfg and cfg[key] != value:
            raise ValueError(f"{path}: `{key}` must be {value!r} for mslam_w2vbert2, but is "
                             f"{cfg[key]!r} instead.")
    if cfg.get("hidden_act", "swish") not in ("swish", "silu"):
        raise ValueError(f"{path}: `hidden_act` must be 'swish', but is {cfg['hidden_act']!r} instead.")
    return cfg


def read_hf_weights(hf_dir: Path) -> dict[str, torch.Tensor]:
    """The encoder tensors of model.safetensors (or its shards), float32, with the
    ``wav2vec2_bert.`` prefix of task models removed; other heads are left out."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    index = hf_dir / "model.safetensors.index.json"
    files = ([hf_dir / f for f in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
             if index.is_file() else [hf_dir / "model.safetensors"])
    state = {}
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; {HF_DOWNLOAD_HINT}")
        try:
            state.update(load_file(str(path)))
        except (SafetensorError, OSError) as err:
            raise ValueError(f"{path}: not a safetensors file ({err})") from err
    state = {k[len(HF_PREFIX):] if k.startswith(HF_PREFIX) else k: v for k, v in state.items()}
    ignored = sorted(k for k in state if not k.startswith(HF_ENCODER_KEYS))
    if ignored:
        logger.warning("%s: %d tensors outside the encoder left out (%s ...)", hf_dir,
                       len(ignored), ", ".join(ignored[:3]))
    return {k: v.float() for k, v in state.items() if k.startswith(HF_ENCODER_KEYS)}


def map_hf_state(hf: dict[str, torch.Tensor], layers: int, speech_layers: int,
                 source: str = "the checkpoint") -> dict[str, torch.Tensor]:
    """Hugging Face encoder tensors -> MSLAMModel state-dict entries. Raises KeyError
    naming ``source`` and the first missing tensors; unknown encoder tensors too."""
    hf = dict(hf)
    out, missing = {}, []

    def take(name: str):
        if name not in hf:
            missing.append(name)
            return None
        return hf.pop(name)

    for part in ("weight", "bias"):
        out[f"frontend.norm.{part}"] = take(f"feature_projection.layer_norm.{part}")
        out[f"frontend.proj.{part}"] = take(f"feature_projection.projection.{part}")
    if "masked_spec_embed" in hf:
        out["mask_embedding"] = hf.pop("masked_spec_embed")
    for i in range(layers):
        src = f"encoder.layers.{i}."
        dst = (f"speech_encoder.layers.{i}." if i < speech_layers
               else f"multimodal_encoder.layers.{i - speech_layers}.")
        for hf_name, name in LAYER_KEYS.items():
            for part in ("weight", "bias"):
                out[f"{dst}{name}.{part}"] = take(f"{src}{hf_name}.{part}")
        for part in ("weight", "bias"):
            qkv = [take(f"{src}self_attn.linear_{p}.{part}") for p in "qkv"]
            out[f"{dst}attn.qkv.{part}"] = None if None in qkv else torch.cat(qkv)
        out[f"{dst}attn.rel_k.weight"] = take(f"{src}self_attn.distance_embedding.weight")
        w1 = take(f"{src}conv_module.pointwise_conv1.weight")
        w2 = take(f"{src}conv_module.pointwise_conv2.weight")
        out[f"{dst}conv.pointwise1.weight"] = None if w1 is None else w1.squeeze(-1)
        out[f"{dst}conv.pointwise2.weight"] = None if w2 is None else w2.squeeze(-1)
        out[f"{dst}conv.depthwise.weight"] = take(f"{src}conv_module.depthwise_conv.weight")
    if missing:
        raise KeyError(f"{source}: {len(missing)} encoder tensors missing for the {layers} "
                       f"layers of config.json, e.g. {missing[:4]}")
    if hf:
        raise KeyError(f"{source}: {len(hf)} encoder tensors this converter does not know "
                       f"(a config it cannot hold?), e.g. {sorted(hf)[:4]}")
    return out


def model_flags(hf_cfg: dict, speech_layers: int) -> list[str]:
    """fairseq-train flags that size mslam_w2vbert2 like the Hugging Face model."""
    layers = hf_cfg.get("num_hidden_layers", 24)
    if not 0 <= speech_layers <= layers:
        raise ValueError(f"`speech_layers` must be in [0, {layers}] (config.json has {layers} "
                         f"layers), but is {speech_layers} instead.")
    values = {"encoder-embed-dim": hf_cfg.get("hidden_size", 1024),
              "encoder-ffn-embed-dim": hf_cfg.get("intermediate_size", 4096),
              "encoder-attention-heads": hf_cfg.get("num_attention_heads", 16),
              "speech-encoder-layers": speech_layers,
              "multimodal-encoder-layers": layers - speech_layers,
              "conv-kernel-size": hf_cfg.get("conv_depthwise_kernel_size", 31),
              "shaw-max-left": hf_cfg.get("left_max_position_embeddings", 64),
              "shaw-max-right": hf_cfg.get("right_max_position_embeddings", 8)}
    return [x for k, v in values.items() for x in (f"--{k}", str(v))]


def build_cfg(flags: list[str], data: str):
    """The FairseqConfig fairseq-train would build for continued pre-training of
    mslam_w2vbert2 with these model flags (task and criterion mslam_pretraining)."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    user_dir = os.path.dirname(os.path.abspath(__file__))
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [
        data, "--user-dir", user_dir, "--task", "mslam_pretraining", "--arch", "mslam_w2vbert2",
        "--criterion", "mslam_pretraining", "--speech-features", "w2vbert2", *flags])
    return convert_namespace_to_omegaconf(args)


def load_encoder(model, state: dict[str, torch.Tensor], source: Path) -> None:
    """Copy the converted tensors into ``model``; shapes are checked first so a model of
    another size is named, not reported as a bare size mismatch."""
    own = model.state_dict()
    for name, tensor in state.items():
        if name not in own:
            raise KeyError(f"{source}: {name} has no place in mslam_w2vbert2")
        if own[name].shape != tensor.shape:
            raise ValueError(f"{source}: {name} has shape {tuple(tensor.shape)}, but the "
                             f"model built from config.json expects {tuple(own[name].shape)}")
    missing, _ = model.load_state_dict(state, strict=False)
    unfilled = [k for k in missing if not k.startswith(FRESH_PARTS) and k != "mask_embedding"]
    assert not unfilled, f"encoder tensors left unconverted: {unfilled[:4]}"
    if "mask_embedding" in missing:
        logger.info("%s has no masked_spec_embed: the mask embedding is freshly initialised", source)


def checkpoint_state(cfg, model) -> dict:
    """What fairseq's Trainer.state_dict writes, less the optimizer state: training that
    starts from it builds its own optimizer (an optimizer history entry must exist, as
    checkpoint_utils.load_checkpoint_to_cpu upgrades states through it)."""
    from omegaconf import OmegaConf

    return {
        "args": None,
        "cfg": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
        "model": model.state_dict(),
        "criterion": None,
        "optimizer_history": [{"criterion_name": "MSLAMPretrainingCriterion",
                               "optimizer_name": "none", "lr_scheduler_state": {"best": None},
                               "num_updates": 0}],
        "task_state": {},
        "extra_state": {"train_iterator": {"epoch": 1, "iterations_in_epoch": 0, "version": 2,
                                           "shuffle": True},
                        "previous_training_time": 0.0},
    }


def convert_w2vbert2(hf_dir, out, *, char_vocab=None, text_vocab_size: int = 0,
                     speech_layers: int = 8, seed: int = 1, model_args: tuple[str, ...] = ()):
    """Convert the Hugging Face directory ``hf_dir`` into the fairseq checkpoint ``out``
    and return the MSLAMModel written (eval mode).

    Args:
        char_vocab: dict.char.txt of the training data (sizes the text embedding and the
            text / CTC heads); or ``text_vocab_size`` (pad index 1).
        speech_layers: how many of the first conformer layers form the speech encoder.
        seed: initialises the fresh parts (text embedding, quantizer, heads).
        model_args: further fairseq model flags, e.g. ("--codebook-dim", "256").
    """
    from fairseq.checkpoint_utils import torch_persistent_save

    from .data.char_vocab import load_char_dictionary
    from .models.mslam import MSLAMModel

    hf_dir, out = Path(hf_dir), Path(out)
    hf_cfg = read_hf_config(hf_dir)
    if char_vocab is not None:
        chars = load_char_dictionary(Path(char_vocab))
        vocab_size, pad, data = len(chars), chars.pad(), str(Path(char_vocab).parent)
    elif text_vocab_size > 0:
        vocab_size, pad, data = text_vocab_size, 1, "."
    else:
        raise ValueError("`char_vocab` or `text_vocab_size` must be given (the character "
                         "vocabulary of the data to train on), but neither is.")
    flags = model_flags(hf_cfg, speech_layers)
    cfg = build_cfg([*flags, "--text-vocab-size", str(vocab_size), *model_args], data)
    state = map_hf_state(read_hf_weights(hf_dir), hf_cfg.get("num_hidden_layers", 24),
                         speech_layers, source=str(hf_dir / "model.safetensors"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MSLAMModel(cfg.model, vocab_size, pad)  # as fairseq-train builds it
    load_encoder(model, state, hf_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch_persistent_save(checkpoint_state(cfg, model), str(out))
    logger.info("%s -> %s: %d + %d conformer layers, text vocabulary %d", hf_dir, out,
                speech_layers, hf_cfg.get("num_hidden_layers", 24) - speech_layers, vocab_size)
    return model.eval()


if __name__ == "__main__":  # python -m mslam_plugin.convert_w2vbert2: mslam-convert-w2vbert2
    from .cli.convert import main_w2vbert2

    sys.exit(main_w2vbert2())
