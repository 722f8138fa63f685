"""Sound drives the picture (``realtime run --audio FILE.wav|DEVICE``): loudness and onsets from a
WAV file (rehearsals, tests; played in real time, looped) or a sound card (the ``audio`` extra:
sounddevice), mapped to the stylize effect's alpha, to the mix between two styles, or to the
next scene of a show file.

The analysis is pure functions on blocks of samples: the level (RMS in dBFS mapped from -60..0 dB
to 0..1), an attack/release envelope of it (so the picture breathes rather than flickers) and
onsets (the level jumping above its slow average). It runs on the audio thread; the frame loop
only reads the newest numbers (``AudioControl.poll``), so sound never blocks a frame.
"""

import logging
import math
import threading
import time
import wave
from pathlib import Path

import numpy as np

from offline.errors import UserError

log = logging.getLogger("realtime")

BLOCK = 1024  # samples per analysis block (23 ms at 44.1 kHz)
FLOOR_DB = -60.0


def level(block):
    """A block of float samples in -1..1 (mono) -> loudness 0..1 (-60 dBFS .. 0 dBFS)."""
    rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))) if len(block) else 0.0
    db = 20 * math.log10(max(rms, 1e-9))
    return min(1.0, max(0.0, (db - FLOOR_DB) / -FLOOR_DB))


class Envelope:
    """One-pole smoothing with separate attack and release times (seconds): rises fast with a
    beat, falls slowly after it."""

    def __init__(self, attack=0.02, release=0.4):
        self.attack, self.release, self.value = float(attack), float(release), 0.0

    def __call__(self, x, dt):
        tau = self.attack if x > self.value else self.release
        self.value += (x - self.value) * (1.0 - math.exp(-dt / tau) if tau > 0 else 1.0)
        return self.value


class Onsets:
    """An onset where the level rises ``margin`` above its slow average (``window`` seconds), at
    most one per ``gap`` seconds."""

    def __init__(self, margin=0.12, window=0.5, gap=0.15):
        self.margin, self.window, self.gap = margin, window, gap
        self.average, self.since = 0.0, math.inf  # from silence: a sound that starts is an onset

    def __call__(self, x, dt):
        onset = x - self.average > self.margin and self.since >= self.gap
        self.since = 0.0 if onset else self.since + dt
        self.average += (x - self.average) * (1.0 - math.exp(-dt / self.window))
        return onset


class Analysis:
    """Level, envelope and onset count of a stream of blocks, read from another thread."""

    def __init__(self, attack=0.02, release=0.4):
        self.envelope, self.onsets = Envelope(attack, release), Onsets()
        self.level = self.value = 0.0
        self.onset_count = 0
        self.blocks = 0

    def feed(self, block, rate):
        dt = len(block) / rate
        self.level = level(block)
        self.value = self.envelope(self.level, dt)
        if self.onsets(self.level, dt):
            self.onset_count += 1
        self.blocks += 1


def read_wav(path):
    """(mono float32 samples in -1..1, sample rate) of a PCM WAV file."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (OSError, EOFError, wave.Error) as e:
        raise UserError(f"cannot read the WAV file {path}: {e}") from None
    if width not in (1, 2, 4):
        raise UserError(f"{path}: {8 * width}-bit WAV; give 8, 16 or 32-bit PCM")
    kind = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
    x = np.frombuffer(raw, kind).astype(np.float32)
    x = (x - 128) / 128 if width == 1 else x / float(np.iinfo(kind).max)
    x = x.reshape(-1, channels).mean(1) if channels > 1 else x
    if not len(x):
        raise UserError(f"{path}: no samples")
    return x, rate


class WavInput:
    """A WAV file played in real time on a thread, looped, into an ``Analysis``."""

    def __init__(self, path, analysis=None, loop=True, pace=True):
        self.samples, self.rate = read_wav(path)
        self.analysis = analysis or Analysis()
        self.loop, self.pace = loop, pace
        self.name = Path(path).name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audio", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        start, position, played = time.perf_counter(), 0, 0
        while not self._stop.is_set():
            block = self.samples[position:position + BLOCK]
            if len(block) == 0:
                if not self.loop:
                    return
                position = 0
                continue
            self.analysis.feed(block, self.rate)
            position += len(block)
            played += len(block)
            if self.pace:  # in step with the clock, as a sound card would deliver it
                delay = start + played / self.rate - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)

    def stop(self):
        self._stop.set()
        self._thread.join(2)


class DeviceInput:
    """A sound card's input (the ``audio`` extra), analysed in its callback."""

    def __init__(self, device, analysis=None, rate=44100):
        try:
            import sounddevice
        except (ImportError, OSError):
            raise UserError("--audio DEVICE needs the audio extra: pip install 'neural-studio[audio]' "
                            "(or give a WAV file)") from None
        self.analysis, self.rate, self.name = analysis or Analysis(), rate, str(device)
        try:
            self.stream = sounddevice.InputStream(device=int(device) if str(device).isdigit() else device,
                                                  channels=1, samplerate=rate, blocksize=BLOCK,
                                                  callback=lambda data, frames, t, status: self.analysis.feed(
                                                      data[:, 0], self.rate))
        except Exception as e:  # noqa: BLE001 - PortAudio's errors, one line
            raise UserError(f"cannot open the sound input {device!r}: {str(e).splitlines()[0][:160]}") from None

    def start(self):
        self.stream.start()
        return self

    def stop(self):
        self.stream.stop()
        self.stream.close()


def open_audio(spec, analysis=None):
    """``--audio`` value: a .wav file or a sound device (index or name)."""
    if str(spec).lower().endswith(".wav"):
        if not Path(spec).is_file():
            raise UserError(f"no WAV file {spec}")
        return WavInput(spec, analysis)
    return DeviceInput(spec, analysis)


class AudioControl:
    """The sound's control of the frame loop: ``poll()`` reads the newest envelope and onsets and
    applies the mapping: ``alpha`` (low, high) follows the envelope; ``mix`` (style a, style b)
    blends the two styles' codes by it; ``onset`` "next" advances the show file's scene (or the
    style) on each onset."""

    def __init__(self, source, effect, alpha=(0.3, 1.0), mix=None, onset=None, player=None):
        self.source, self.effect, self.alpha, self.mix, self.onset, self.player = source, effect, alpha, mix, onset, player
        self._onsets = 0
        self.applied = 0

    def poll(self):
        a = self.source.analysis
        value = a.value
        if self.alpha is not None:  # through the action: the effect may be wrapped (realtime.scale)
            low, high = self.alpha
            self.effect.action("alpha", low + (high - low) * value)
        if self.mix is not None:
            self.effect.action("mix", (self.mix, (1.0 - value, value)))
        if a.onset_count != self._onsets:
            new, self._onsets = a.onset_count - self._onsets, a.onset_count
            if self.onset == "next":
                for _ in range(min(new, 1)):  # several onsets between two frames: one step
                    if self.player is not None:
                        self.player.advance()
                    else:
                        self.effect.action("next")
        self.applied += 1
        return ()

    def stop(self):
        self.source.stop()
