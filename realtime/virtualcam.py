"""The show as a webcam other apps can pick (``realtime run --virtual-camera``): Zoom, Teams, OBS,
a browser. pyvirtualcam (an optional extra: ``pip install '.[live]'``) drives v4l2loopback on
Linux and OBS's virtual camera on Windows and macOS; the device opens at the first frame's size."""

import logging

from offline.errors import UserError

log = logging.getLogger("realtime")

INSTALL = {
    "linux": "sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback exclusive_caps=1",
    "win32": "install OBS Studio 26+ and start its virtual camera once",
    "darwin": "install OBS Studio 26+ and start its virtual camera once",
}


def _pyvirtualcam():
    try:
        import pyvirtualcam
    except ImportError:
        raise UserError("--virtual-camera needs pyvirtualcam: pip install 'neural-studio[live]' "
                        "(or pip install pyvirtualcam)") from None
    return pyvirtualcam


class VirtualCamera:
    """A publisher for the loop: ``publish(frame, state)`` sends each output frame (RGB uint8)."""

    def __init__(self, fps=30.0, device=None):
        self.pyvirtualcam = _pyvirtualcam()
        self.fps, self.device = float(fps), device
        self.camera = None

    def open(self, size):
        import sys

        try:
            self.camera = self.pyvirtualcam.Camera(width=size[0], height=size[1], fps=self.fps, device=self.device)
        except RuntimeError as e:
            platform = "linux" if sys.platform.startswith("linux") else sys.platform
            raise UserError(f"--virtual-camera: no virtual camera backend ({str(e).splitlines()[0]}); "
                            f"{INSTALL.get(platform, 'install OBS Studio 26+')}") from None
        log.info("virtual camera %s at %dx%d", self.camera.device, *size)
        return self

    def publish(self, frame, state=None):
        if self.camera is None:
            self.open((frame.shape[1], frame.shape[0]))
        if (frame.shape[1], frame.shape[0]) != (self.camera.width, self.camera.height):
            return  # the effect changed the frame size: the device keeps its own
        self.camera.send(frame)

    def stop(self):
        if self.camera is not None:
            self.camera.close()
            self.camera = None

    def poll(self):
        return []
