"""Overfit mslam_st_tiny on a few training utterances and watch the encoder's input
sensitivity (mslam_plugin.modules.sensitivity) at every stage: the probe behind the
learning-rate sensitivity table in docs/learning_curves.md.

usage: python examples/tiny/collapse_probe.py --data data/tiny [--encoder-lr 1e-3]
           [--decoder-lr 2e-3] [--warmup 40] [--updates 300] [--utterances 8]
           [--arch-overrides key=value,...] [--pretrained CKPT] [--out result.json]
"""

import argparse
import json
import time

import sacrebleu
import torch
from fairseq import options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf

from mslam_plugin.modules.sensitivity import input_sensitivity
from mslam_plugin.optim.mslam_group_inverse_sqrt import group_lr


def build(data: str, overrides: list[str], pretrained: str):
    argv = [data, "--user-dir", "mslam_plugin", "--task", "mslam_speech_translation",
            "--config-yaml", "config_st.yaml", "--arch", "mslam_st_tiny",
            "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
            "--dropout", "0", "--decoder-dropout", "0", "--cpu"] + overrides
    if pretrained:
        argv += ["--load-pretrained-mslam-from", pretrained]
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, argv)
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    task.load_dataset("train_st")
    model = task.build_model(cfg.model)
    return args, task, model, task.build_criterion(cfg.criterion)


def pick(dataset, n: int):
    """n utterances covering n/2 English targets, two source languages each."""
    by_target: dict[str, list[int]] = {}
    for i in range(len(dataset)):
        by_target.setdefault(dataset.tgt_texts[i], []).append(i)
    chosen = []
    for ids in by_target.values():
        chosen += ids[:2]
        if len(chosen) >= n:
            break
    return dataset.collater([dataset[i] for i in chosen[:n]])


class TAStack(torch.nn.Module):
    def __init__(self, stack, dim, ffn, heads, layers, kernel):
        super().__init__()
        import torchaudio
        self.conformer = torchaudio.models.Conformer(dim, heads, ffn, layers, kernel, dropout=0.0,
                                                     use_group_norm=True)

    def forward(self, x, padding_mask=None):
        lengths = (~padding_mask).sum(-1) if padding_mask is not None else torch.full(
            (x.size(0),), x.size(1))
        return self.conformer(x, lengths)[0]


def _plain_forward(stack):
    def forward(x, padding_mask=None):
        rotary = stack.layers[0].attn.rotary_tables(x)
        for layer in stack.layers[:-1]:
            x = layer(x, padding_mask, rotary)
        return stack.layers[-1](x)
    return forward


def swap_torchaudio(enc):
    for name in ("speech_encoder", "multimodal_encoder"):
        old = getattr(enc, name)
        setattr(enc, name, TAStack(old, 144, 576, 4, len(old.layers), 5))


@torch.no_grad()
def stages(model, sample):
    enc = model.encoder.mslam
    src, lengths = sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"]
    mask = torch.arange(src.size(1))[None, :] >= lengths[:, None]
    feats, pm = enc.frontend(src, mask)
    feats = enc.feature_norm(feats)
    speech = enc.speech_encoder(feats, pm)
    multi = enc.multimodal_encoder(speech, pm)
    out = model.encoder(src, lengths)["encoder_out"][0].transpose(0, 1)
    res = {}
    for name, x in (("frontend", feats), ("speech", speech), ("multimodal", multi), ("out", out)):
        s = input_sensitivity(x, pm)
        res[name] = {"variation": round(s.variation, 4), "pooled_cos": round(s.pooled_cos, 6)}
    return res


@torch.no_grad()
def greedy(task, model, sample, refs):
    gen = task.build_generator([model], argparse.Namespace(beam=1, max_len_a=0, max_len_b=40))
    hyps = task.inference_step(gen, [model], sample)
    tgt_dict = task.target_dictionary
    bpe = task.build_bpe(task.args)
    out = [bpe.decode(tgt_dict.string(h[0]["tokens"].int().cpu())) for h in hyps]
    return out, sacrebleu.corpus_bleu(out, [refs]).score


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/tiny")
    p.add_argument("--encoder-lr", type=float, default=1e-3)
    p.add_argument("--decoder-lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=40)
    p.add_argument("--updates", type=int, default=300)
    p.add_argument("--utterances", type=int, default=8)
    p.add_argument("--freeze-encoder", action="store_true")
    p.add_argument("--encoder-freeze-updates", type=int, default=0)
    p.add_argument("--pretrained", default="")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--arch-overrides", default="", help="extra fairseq flags, comma-separated")
    p.add_argument("--variant", default="", help="torchaudio: torchaudio conformer stacks")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", default="")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    overrides = [x for x in a.arch_overrides.split(",") if x]
    args, task, model, criterion = build(a.data, overrides, a.pretrained)
    if a.variant == "torchaudio":
        swap_torchaudio(model.encoder.mslam)
    if a.variant == "prenorm":
        proj = model.encoder.mslam.frontend.proj
        model.encoder.mslam.frontend.proj = torch.nn.Sequential(torch.nn.LayerNorm(proj.in_features), proj)
    if a.variant == "nofinalnorm":
        for stack in (model.encoder.mslam.speech_encoder, model.encoder.mslam.multimodal_encoder):
            for layer in stack.layers:
                layer.final_norm = torch.nn.Identity()
            stack.layers.append(torch.nn.LayerNorm(stack.layers[0].attn.out.out_features))
            stack.forward = _plain_forward(stack)
    if a.variant == "nofeatnorm":
        model.encoder.mslam.feature_norm = torch.nn.Identity()
    sample = pick(task.datasets["train_st"], a.utterances)
    history = [{"update": 0, **stages(model.eval(), sample)}]
    print(json.dumps(history[0]))
    ds = task.datasets["train_st"]
    refs = [ds.tgt_texts[i] for i in sample["id"].tolist()]
    groups = {"encoder": [], "decoder": []}
    for name, prm in model.named_parameters():
        groups["encoder" if name.startswith("encoder.") else "decoder"].append(prm)
    if a.freeze_encoder:
        for prm in groups["encoder"]:
            prm.requires_grad_(False)
    opt = torch.optim.Adam([{"params": groups["encoder"], "name": "encoder"},
                            {"params": groups["decoder"], "name": "decoder"}],
                           betas=(0.9, 0.98), eps=1e-8)
    peaks = {"encoder": a.encoder_lr, "decoder": a.decoder_lr}
    start = time.time()
    for step in range(1, a.updates + 1):
        for g in opt.param_groups:
            g["lr"] = group_lr(peaks[g["name"]], a.warmup, step,
                               a.encoder_freeze_updates if g["name"] == "encoder" else 0)
        model.train()
        loss, size, log = criterion(model, sample)
        opt.zero_grad()
        (loss / size).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        if step % 50 == 0 or step == a.updates:
            with torch.no_grad():
                model.eval()
                _, _, ev = criterion(model, sample)
            h = {"update": step, "loss": round(float(loss) / size, 4),
                 "eval_nll": round(float(ev["nll_loss"]) / float(ev["ntokens"]), 4),
                 **stages(model, sample)}
            history.append(h)
            print(json.dumps(h), flush=True)
    hyps, bleu = greedy(task, model.eval(), sample, refs)
    result = {"config": vars(a), "history": history, "bleu": bleu,
              "distinct_outputs": len(set(hyps)), "hyps": hyps, "refs": refs,
              "seconds": round(time.time() - start, 1)}
    print(json.dumps({k: result[k] for k in ("bleu", "distinct_outputs", "seconds")}))
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
