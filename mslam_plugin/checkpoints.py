"""Crash-safe checkpoints for fairseq training with this plugin.

fairseq writes ``checkpoint_N.pt`` atomically (a ``.tmp`` file, then a rename) but copies
it to ``checkpoint_last.pt`` / ``checkpoint_best.pt`` in place: a kill or a full disk
during that copy leaves a truncated ``checkpoint_last.pt``, and every rerun then dies at
start-up. :func:`install` (called when the package is imported) makes four changes:

- local file copies through fairseq's ``PathManager.copy`` go to a temporary file that is
  renamed over the destination, so ``checkpoint_last.pt`` is the old or the new file,
  never half of one;
- before a run resumes from ``checkpoint_last.pt``, an unreadable one is replaced by the
  newest intact checkpoint in the save directory (with a warning), and leftover ``.tmp``
  files are removed;
- a checkpoint that cannot be read (``--path``, ``--load-pretrained-mslam-from``,
  ``decode_asr --checkpoint``) fails with an error naming the file;
- a checkpoint written before a criterion class was renamed (:data:`RENAMED_CRITERIA`)
  still resumes: fairseq refuses optimizer state saved under another criterion name.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import zipfile
from pathlib import Path

logger = logging.getLogger(__name__)

TMP_SUFFIX = ".tmp"
# criterion classes renamed since checkpoints were written: old name -> new name
RENAMED_CRITERIA = {"RNNTCriterion": "MSLAMRNNTCriterion"}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, named in the message."""


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy ``src`` to ``dst`` through ``dst.tmp`` + fsync + rename: a reader (or a rerun
    after a crash) sees the old file or the complete new one."""
    tmp = f"{os.fspath(dst)}{TMP_SUFFIX}"
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 16 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def damage(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not an intact torch checkpoint (None when it is), cheaply: a zip
    archive (torch's format since 1.6) whose central directory reads and whose members
    all lie inside the file (a truncated file loses its central directory), or a legacy
    pickle that loads. The data itself is not read."""
    path = Path(path)
    if not path.is_file():
        return "no such file"
    size = path.stat().st_size
    if size == 0:
        return "empty file"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                members = z.infolist()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            return f"corrupt archive ({e})"
        outside = [m.filename for m in members if m.header_offset + m.compress_size > size]
        if outside or not any(m.filename.endswith("data.pkl") for m in members):
            return f"incomplete archive ({outside[0] if outside else 'no data.pkl'})"
        return None
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, OSError, ValueError) as e:
        return f"truncated or not a checkpoint ({str(e).splitlines()[0][:120]})"
    return None


def recover_last(save_dir: str | os.PathLike, suffix: str = "") -> Path | None:
    """Prepare ``save_dir`` for a resume: remove leftover ``*.pt.tmp`` files; when
    ``checkpoint_last{suffix}.pt`` exists but is damaged, replace it with the newest
    intact ``checkpoint*{suffix}.pt`` and return the source used. Raises :class:`CheckpointError` when no intact checkpoint is left."""
    save_dir = Path(save_dir)
    for tmp in save_dir.glob(f"*.pt{TMP_SUFFIX}"):
        logger.warning("removing %s, left by an interrupted save", tmp)
        tmp.unlink(missing_ok=True)
    last = save_dir / f"checkpoint_last{suffix}.pt"
    if not last.exists():
        return None
    why = damage(last)
    if why is None:
        return None
    # this rank's files only (no other shard's), newest first: saves happen in
    # training order, and checkpoint_best is a copy made at one of them
    candidates = [p for p in save_dir.glob(f"checkpoint*{suffix}.pt")
                  if p != last and p.stem.endswith(suffix) and (suffix or "-shard" not in p.stem)]
    candidates.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for source in candidates:
        if damage(source) is None:
            logger.warning("%s is unreadable (%s): resuming from %s, the newest intact "
                           "checkpoint beside it", last, why, source)
            atomic_copy(source, last)
            return source
    raise CheckpointError(
        f"{last}: unreadable ({why}) and no intact checkpoint beside it in {save_dir} "
        f"(checked {len(candidates)}); remove it to start over, or point --restore-file "
        "at a good copy")


def checkpoint_updates(path: str | os.PathLike) -> int:
    """The number of updates a fairseq checkpoint was saved at (0 when it records none)."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    history = state.get("optimizer_history") or [{}]
    return int(history[-1].get("num_updates", 0))


def _on_first_rank_then_wait(fn) -> None:
    """Run ``fn`` on rank 0 only (the ranks share the save directory), the others waiting
    at a barrier; an error on rank 0 stops that rank, and the job with it."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        fn()
        return
    if dist.get_rank() == 0:
        fn()
    dist.barrier()


def load_checkpoint_file(path: str | os.PathLike, load):
    """Call ``load(path)`` and turn a read failure into an error that names the file."""
    if "://" not in str(path) and not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return load(path)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        why = damage(path)
        if why is None:
            raise
        raise CheckpointError(f"{path}: not a readable checkpoint: {why}") from e


def upgrade_state(state: dict) -> dict:
    """``state`` (a loaded checkpoint) with the renamed criterion classes of its optimizer
    history under their new names, so fairseq's check that a resumed run uses the
    criterion the optimizer state was saved with still passes."""
    for entry in state.get("optimizer_history") or ():
        if entry.get("criterion_name") in RENAMED_CRITERIA:
            entry["criterion_name"] = RENAMED_CRITERIA[entry["criterion_name"]]
    return state


def install() -> None:
    """Patch fairseq's checkpoint copy, resume and load paths (idempotent)."""
    from fairseq import checkpoint_utils
    from fairseq.file_io import PathManager

    if getattr(checkpoint_utils, "_mslam_crash_safe", False):
        return
    plain_copy = PathManager.copy
    plain_resume = checkpoint_utils.load_checkpoint
    plain_load = checkpoint_utils.load_checkpoint_to_cpu

    def copy(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
        if "://" in f"{src_path}{dst_path}":  # remote storage: fairseq's own copy
            return plain_copy(src_path, dst_path, overwrite)
        if os.path.exists(dst_path) and not overwrite:
            return False
        atomic_copy(src_path, dst_path)
        return True

    def load_checkpoint(cfg, trainer, **kwargs):
        if cfg.restore_file == "checkpoint_last.pt" and os.path.isdir(cfg.save_dir):
            _on_first_rank_then_wait(
                lambda: recover_last(cfg.save_dir, trainer.checkpoint_suffix or ""))
        return plain_resume(cfg, trainer, **kwargs)

    def load_checkpoint_to_cpu(path, arg_overrides=None, load_on_all_ranks=False):
        return upgrade_state(load_checkpoint_file(
            path, lambda p: plain_load(p, arg_overrides, load_on_all_ranks)))

    PathManager.copy = staticmethod(copy)
    checkpoint_utils.load_checkpoint = load_checkpoint
    checkpoint_utils.load_checkpoint_to_cpu = load_checkpoint_to_cpu
    checkpoint_utils._mslam_crash_safe = True
