"""Realtime half of the neural studio: source -> effect -> sinks at camera rate."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
