"""Speech synthesis with espeak-ng: 16 kHz mono FLAC, voice variants as speakers.

espeak-ng is formant synthesis. It proves the pipeline and the relative effect of the
pre-training objectives; it says nothing about absolute quality on human speech.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from ...data.audio import SAMPLE_RATE

ESPEAK_RATE = 22050
# Project language code -> espeak-ng voice.
ESPEAK_VOICES = {"fr": "fr-fr", "pt-BR": "pt-br", "sr-Latn": "sr"}
# espeak-ng variants used as pseudo-speakers ("" is the language's default voice).
DEFAULT_VARIANTS = ("", "m3", "f2", "f4")


def espeak_voice(lang: str, variant: str = "") -> str:
    voice = ESPEAK_VOICES.get(lang, lang.lower())
    return f"{voice}+{variant}" if variant else voice


def require_espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed: run `make install` "
                           "(or `apt-get install espeak-ng`)")
    return exe


def _wav_samples(data: bytes) -> np.ndarray:
    """int16 samples of espeak-ng's streamed WAV (its header's sizes are placeholders)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError("espeak-ng did not return a WAV stream")
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if chunk == b"data":
            body = data[pos + 8:]
            return np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2")
        pos += 8 + size
    raise RuntimeError("espeak-ng WAV stream has no data chunk")


@lru_cache(maxsize=1)
def _resampler():
    """ESPEAK_RATE -> SAMPLE_RATE, its kernel computed once (and as the corpus was built:
    torchaudio's functional resample differs in the last bit)."""
    import torchaudio

    return torchaudio.transforms.Resample(ESPEAK_RATE, SAMPLE_RATE)


def synthesize(text: str, voice: str, out: Path, speed: int = 160) -> int:
    """Speak ``text`` with ``voice`` into ``out`` (16 kHz mono FLAC); returns samples."""
    import torch

    proc = subprocess.run(
        [require_espeak(), "-v", voice, "-s", str(speed), "--stdin", "--stdout"],
        input=text.encode("utf-8"), capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"espeak-ng failed for voice {voice}: {proc.stderr.decode()}")
    samples = _wav_samples(proc.stdout).astype(np.float32) / 32768.0
    if samples.size == 0:
        raise RuntimeError(f"espeak-ng produced no audio for voice {voice}: {text!r}")
    with torch.inference_mode():
        wav = _resampler()(torch.from_numpy(samples)).numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.flac")
    sf.write(tmp, np.clip(wav, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    tmp.replace(out)  # a killed run never leaves a truncated file behind
    return int(wav.shape[0])


def synthesize_job(job: tuple[str, str, str, int]) -> int:
    """Pool-friendly wrapper: (text, voice, path, speed) -> samples written."""
    text, voice, path, speed = job
    torch_threads_one()
    return synthesize(text, voice, Path(path), speed)


@lru_cache(maxsize=1)
def torch_threads_one() -> None:
    import torch

    torch.set_num_threads(1)
