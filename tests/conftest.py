import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED = Path(os.environ.get("STUDIO_SHARED_DATA", SHARED))


def pytest_collection_modifyitems(config, items):
    backend = keras.backend.backend()
    for item in items:
        if "tf_only" in item.keywords and backend != "tensorflow":
            item.add_marker(pytest.mark.skip(reason=f"needs the TensorFlow backend, running {backend}"))
        if "shared_data" in item.keywords and not SHARED.is_dir():
            item.add_marker(pytest.mark.skip(reason=f"no shared data at {SHARED}: the genuine weights, photos and "
                                                    "videos these tests read (STUDIO_SHARED_DATA to point elsewhere)"))


@pytest.fixture
def shared():
    """../shared/data (tests that use it are marked shared_data)."""
    return SHARED


@pytest.fixture(autouse=True)
def _no_weights_dir(monkeypatch):
    """Tests choose their weights explicitly; a developer's STUDIO_WEIGHTS_DIR must not leak in."""
    monkeypatch.delenv("STUDIO_WEIGHTS_DIR", raising=False)
    keras.utils.set_random_seed(0)
