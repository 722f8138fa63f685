"""Rendering on a local Ray (the [cluster] extra): the same frames as the single-process render,
a killed worker's chunk redone, resumable; skipped where Ray is not installed."""

import os
from pathlib import Path

import numpy as np
import pytest

from offline import video
from offline.render import RenderSettings, build_render_effect, memory_frames, render
from tests.test_render import make_clip, run

ray = pytest.importorskip("ray")

from offline import cluster  # noqa: E402

pytestmark = pytest.mark.slow  # Ray clusters


@pytest.fixture(scope="module")
def local_ray():
    cluster.connect(num_cpus=2)
    yield ray
    ray.shutdown()


def frames(path):
    return [f.rgb.astype(int) for f in video.decode(path)]


def same_frames(a_path, b_path):
    """The same frames, in order, up to x264's noise: inside a Ray worker x264 does not always make
    the same bits from the same frames (a P-frame of 140 or 160 bytes, measured with threads=1 too;
    never outside Ray), so a frame may differ by a fraction of a grey level, while a dropped, doubled
    or shifted frame differs from its counterpart by far more than from itself."""
    a, b = frames(a_path), frames(b_path)
    assert len(a) == len(b)
    errors = [np.abs(x - y).mean() for x, y in zip(a, b)]
    assert max(errors) < 0.5, errors
    assert all(np.abs(a[i] - b[i + 1]).mean() > 4 * max(errors) + 1 for i in range(len(a) - 1))
    return True


def test_next_chunk_keeps_workers_on_runs_and_splits_the_longest():
    todo = set(range(10))
    assert cluster._next_chunk(todo, set(), None) == 0  # the start: nobody works before it
    assert cluster._next_chunk(todo, {0}, None) == 5  # the middle of 1..9: chunk 0 is still running
    assert cluster._next_chunk(todo - {0}, {0, 5}, 0) == 1  # a worker carries on into the next chunk
    assert cluster._next_chunk({7, 8, 9}, set(), None) == 7  # resumed: chunks 0..6 finished
    assert cluster._next_chunk({1}, {1}, 0) is None


def test_memory_frames_bring_the_state_under_half_a_grey_level():
    assert memory_frames("stylize", {"smooth": 0.7}) == 18  # 0.7 ** 18 < 0.5 / 255 < 0.7 ** 17
    assert memory_frames("stylize", {"smooth": 0.0}) == 0 and memory_frames("none", {}) == 0
    assert memory_frames("dream", {"carry": 0.5}) == 9


@pytest.mark.tf_only  # effect none: no Keras model, once is enough
def test_two_workers_render_the_single_process_frames(local_ray, tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=30, fps=12)
    settings = RenderSettings(input=str(src), effect="none", chunk_frames=8)
    plain = render(settings, build_render_effect("none", {}), tmp_path / "plain.mp4", progress=False)
    report = cluster.render_on_ray(settings, tmp_path / "ray.mp4", workers=2, progress=False)
    assert report.frames == plain.frames == 30 and report.workers == 2
    assert same_frames(tmp_path / "ray.mp4", tmp_path / "plain.mp4")
    assert video.probe(tmp_path / "ray.mp4").audio == "aac"
    assert not (tmp_path / "ray.chunks").exists()  # the work folder goes once the output is written


def test_stylize_with_smoothing_matches_within_a_grey_level(local_ray, tmp_path):
    """Workers warm the smoothing up on the frames before a chunk they did not lead into."""
    src = make_clip(tmp_path / "in.mp4", n=24, fps=12)
    style = tmp_path / "style.png"
    from offline.media import write_image

    write_image(style, np.random.default_rng(0).integers(0, 255, (32, 32, 3)).astype(np.uint8))
    effect = {"effect": "stylize", "model": "random:fast", "style": [str(style)], "weights": "none", "smooth": 0.7}
    from offline.effects import EffectSettings

    effect_settings = {k: v for k, v in vars(EffectSettings(**{**effect, "style": tuple(effect["style"])})).items()}
    effect_settings["style"] = list(effect_settings["style"])
    settings = RenderSettings(input=str(src), effect="stylize", chunk_frames=6, effect_settings=effect_settings)
    render(settings, build_render_effect("stylize", effect_settings), tmp_path / "plain.mp4", progress=False)
    report = cluster.render_on_ray(settings, tmp_path / "ray.mp4", workers=2, progress=False)
    assert report.warmup_frames > 0
    a, b = frames(tmp_path / "ray.mp4"), frames(tmp_path / "plain.mp4")
    assert len(a) == len(b) == 24
    assert max(np.abs(x - y).mean() for x, y in zip(a, b)) < 1.0


class DiesOnce(cluster.ChunkRenderer):
    """Kills its own process in the middle of chunk 1, the first time (a marker file remembers)."""

    def render(self, k, work, times, overlap):
        marker = Path(work).parent / "died"
        if k == 1 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)
        return super().render(k, work, times, overlap)


@pytest.mark.tf_only  # effect none: no Keras model, once is enough
def test_a_killed_worker_has_its_chunk_redone(local_ray, tmp_path):
    ray.cloudpickle.register_pickle_by_value(__import__(__name__))
    src = make_clip(tmp_path / "in.mp4", n=30, fps=12)
    settings = RenderSettings(input=str(src), effect="none", chunk_frames=8)
    report = cluster.render_on_ray(settings, tmp_path / "ray.mp4", workers=2, progress=False, actor_class=DiesOnce)
    assert (tmp_path / "died").exists()  # a worker did die
    assert report.frames == 30 and len(frames(tmp_path / "ray.mp4")) == 30


class FailsOnChunk2(cluster.ChunkRenderer):
    def render(self, k, work, times, overlap):
        if k == 2:
            raise RuntimeError("disk full")
        return super().render(k, work, times, overlap)


@pytest.mark.tf_only  # effect none: no Keras model, once is enough
def test_a_failed_render_keeps_its_chunks_and_resumes_with_the_missing_ones(local_ray, tmp_path):
    ray.cloudpickle.register_pickle_by_value(__import__(__name__))
    src = make_clip(tmp_path / "in.mp4", n=30, fps=12)
    settings = RenderSettings(input=str(src), effect="none", chunk_frames=8)
    with pytest.raises(Exception, match="a Ray worker failed"):
        cluster.render_on_ray(settings, tmp_path / "ray.mp4", workers=1, progress=False, actor_class=FailsOnChunk2)
    assert sorted(p.name for p in (tmp_path / "ray.chunks").glob("chunk_*.mp4")) == ["chunk_00000.mp4",
                                                                                   "chunk_00001.mp4"]
    with pytest.raises(Exception, match="--resume"):  # never silently redone or mixed
        cluster.render_on_ray(settings, tmp_path / "ray.mp4", workers=1, progress=False)
    report = cluster.render_on_ray(settings, tmp_path / "ray.mp4", resume=True, workers=2, progress=False)
    assert report.frames == 30 and report.rendered_now == 30 - 16  # chunks 2 and 3 only
    plain = render(settings, build_render_effect("none", {}), tmp_path / "plain.mp4", progress=False)
    assert plain.frames == 30
    assert same_frames(tmp_path / "ray.mp4", tmp_path / "plain.mp4")


@pytest.mark.tf_only  # effect none: no Keras model, once is enough
def test_cli_render_on_ray_and_its_mistakes(local_ray, tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=130, fps=24)  # two chunks of the default 120 frames
    res = run("render", src, "-o", tmp_path / "o.mp4", "--effect", "none", "--ray", "--workers", 2)
    assert res.exit_code == 0, res.output
    assert "2 Ray worker(s)" in res.output and len(frames(tmp_path / "o.mp4")) == 130
    res = run("render", src, "-o", tmp_path / "p.mp4", "--effect", "none", "--workers", 2)
    assert res.exit_code == 2 and "--workers and --overlap are for --ray" in res.output


def test_stylize_a_folder_on_ray_matches_one_process_and_resumes(local_ray, tmp_path):
    from offline.media import read_image, write_image

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        write_image(photos / f"p{i}.png", rng.integers(0, 255, (40, 48, 3)).astype(np.uint8))
    style = tmp_path / "style.png"
    write_image(style, rng.integers(0, 255, (32, 32, 3)).astype(np.uint8))
    common = ["adain", "stylize", photos, "--style", style, "--model", "random:fast", "--weights", "none"]
    res = run(*common, "-o", tmp_path / "one")
    assert res.exit_code == 0, res.output
    res = run(*common, "-o", tmp_path / "ray", "--ray", "--workers", 2)
    assert res.exit_code == 0, res.output
    assert "5 images" in res.output
    for i in range(5):
        a, b = read_image(tmp_path / "one" / f"p{i}_stylized.png"), read_image(tmp_path / "ray" / f"p{i}_stylized.png")
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    (tmp_path / "ray" / "p3_stylized.png").unlink()
    res = run(*common, "-o", tmp_path / "ray", "--ray", "--resume")
    assert res.exit_code == 0 and "1 images" in res.output, res.output
    assert (tmp_path / "ray" / "p3_stylized.png").exists()
