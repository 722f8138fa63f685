"""Offline half of the neural studio: training and rendering (everything that may take minutes)."""

import os

# Keep TensorFlow's C++ start-up chatter out of the user's terminal; real errors still surface.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Testing data-parallel training on a CPU: STUDIO_CPU_DEVICES=N shows the CPU as N devices. JAX
# reads the XLA flag when it starts (so it is set here, before it can); TensorFlow's split is made
# by offline.backend before its runtime starts.
_split = os.environ.get("STUDIO_CPU_DEVICES", "")
if _split.isdigit() and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={_split}".strip()

__version__ = "0.1.0"
