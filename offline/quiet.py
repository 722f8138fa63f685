"""TensorFlow's start-up chatter off the terminal, real errors kept.

Importing TensorFlow prints lines like ``WARNING: All log messages before absl::InitializeLog()
...``, ``I0000 ... cudart_stub.cc:31] Could not find cuda drivers`` and the oneDNN/CPU-feature
notes, from C++ straight to file descriptor 2 and before ``TF_CPP_MIN_LOG_LEVEL`` is read by
absl, so Python's logging cannot stop them. The command-line entry points route fd 2 through a
filter thread that drops exactly those lines and passes everything else (our one-line errors,
tracebacks, TensorFlow's real errors) unchanged and at once. Library use and tests are untouched.
"""

import atexit
import os
import re
import sys
import threading

CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]0000 [^\n]*(cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor|cuda_dnn|cuda_blas|cuda_fft"
    r"|port\.cc|computation_placer|oneDNN)"
    r"|To enable the following instructions:[^\n]*rebuild TensorFlow"
    r"|This TensorFlow binary is optimized to use available CPU instructions)")
_PREFIXES = ("WARNING: All log", "I0000", "W0000", "E0000", "To enable", "This TensorFlow")


def is_chatter(line):
    return bool(CHATTER.match(line))


def filter_stderr():
    """Route fd 2 through the filter for the rest of the process (idempotent; a no-op when fd 2
    cannot be duplicated)."""
    if getattr(filter_stderr, "installed", False):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own INFO/WARNING off, errors kept
    # OpenCV's likewise: a missing camera is our one-line error, not 68 lines of probing backends
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    os.environ.setdefault("OPENCV_VIDEOIO_DEBUG", "0")
    try:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except (ImportError, AttributeError):
        pass
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return
    filter_stderr.installed = True

    def pump():
        pending = b""
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            out = b"".join(line + b"\n" for line in lines if not is_chatter(line.decode("utf-8", "replace")))
            # a partial line (a progress bar's \r updates) goes out at once unless it may be chatter
            if pending and not pending.decode("utf-8", "replace").startswith(_PREFIXES):
                out, pending = out + pending, b""
            if out:
                os.write(real, out)
        if pending and not is_chatter(pending.decode("utf-8", "replace")):
            os.write(real, pending)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(real, 2)  # closes the pipe's last write end: the pump drains and stops
        thread.join(timeout=2)

    atexit.register(restore)
