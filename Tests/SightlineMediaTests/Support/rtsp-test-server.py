#!/usr/bin/python3
"""RTSP server for Sightline's media tests, on 127.0.0.1 only.

Run with Debian's /usr/bin/python3 (python3-gi, gir1.2-gst-rtsp-server-1.0):

    rtsp-test-server.py PORT MOUNT [MOUNT...]

Serves the moving test pattern as H.264 (320x240, 15 fps, a key frame every second) on
rtsp://127.0.0.1:PORT/MOUNT for each MOUNT. PORT 0 picks a free port. Prints "ready PORT"
once serving. Commands, one per line on standard input:
    stall   stop sending frames but keep every session open (a camera that hangs)
    resume  send again
    quit    exit
"""
import signal
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true pattern=ball "
    "! video/x-raw,format=I420,width=320,height=240,framerate=15/1 "
    "! valve name=gate drop=false "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "
    "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def main():
    # A parent may have blocked or ignored SIGTERM (the test runner does); a server that
    # cannot be terminated would outlive its test.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    Gst.init(None)
    port, mounts = sys.argv[1], sys.argv[2:]
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    gates = []
    stalled = [False]

    def configured(_factory, media):
        gate = media.get_element().get_by_name("gate")
        gate.set_property("drop", stalled[0])
        gates.append(gate)

    for mount in mounts:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(PIPELINE)
        factory.set_shared(True)
        factory.connect("media-configure", configured)
        server.get_mount_points().add_factory("/" + mount, factory)
    if server.attach(None) == 0:
        print("error could not listen on port", port, flush=True)
        sys.exit(1)
    print("ready", server.get_bound_port(), flush=True)

    loop = GLib.MainLoop()

    def command(line):
        if line == "stall" or line == "resume":
            stalled[0] = line == "stall"
            for gate in gates:
                gate.set_property("drop", stalled[0])
            print("ok", line, flush=True)
        elif line == "quit":
            loop.quit()
        return False

    def read_commands():
        for line in sys.stdin:
            GLib.idle_add(command, line.strip())
        GLib.idle_add(command, "quit")

    threading.Thread(target=read_commands, daemon=True).start()
    loop.run()


if __name__ == "__main__":
    main()
