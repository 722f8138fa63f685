"""Offline half of the neural studio: training and rendering (everything that may take minutes)."""

import os

# Keep TensorFlow's C++ start-up chatter out of the user's terminal; real errors still surface.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
