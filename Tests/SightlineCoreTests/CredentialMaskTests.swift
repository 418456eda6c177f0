import SightlineCore
import Testing

@Suite struct CredentialMaskTests {
    @Test(arguments: [
        ("rtsp://admin:secret@10.0.0.2:554/live", "rtsp://***@10.0.0.2:554/live"),
        ("rtsps://user@cam.local/stream?x=1", "rtsps://***@cam.local/stream?x=1"),
        ("rtsp://u:p@ss@host/a", "rtsp://***@host/a"),
        ("http://a:b@host", "http://***@host"),
        ("Could not open resource \"rtsp://a:b@h/x\" twice: rtsp://c:d@k", "Could not open resource \"rtsp://***@h/x\" twice: rtsp://***@k"),
        ("rtsp://camera/live", "rtsp://camera/live"),
        ("file:///tmp/clip.mp4", "file:///tmp/clip.mp4"),
        ("mail me at someone@example.com", "mail me at someone@example.com"),
        ("rtsp://host/path/with@sign", "rtsp://host/path/with@sign"),
        ("rtsp://cam:554/live@main", "rtsp://cam:554/live@main"),
        // Passwords as people type them: an unencoded "/", "/" and "@" together, one slash.
        ("rtsp://admin:pa/ss@10.0.0.2/live", "rtsp://***@10.0.0.2/live"),
        ("rtsp://admin:p/a@ss@cam/live x", "rtsp://***@cam/live x"),
        ("rtsp:/admin:pw@cam/live", "rtsp:/***@cam/live"),
        ("uri=rtsp://u:p@h/a,next", "uri=rtsp://***@h/a,next"),
        ("", ""),
    ])
    func masksUserInfo(text: String, expected: String) {
        #expect(maskingCredentials(text) == expected)
    }

    @Test(arguments: [
        "error in rtsp://operator:hunter2@192.0.2.7/h264 after 3 tries",
        "error in rtsp://operator:hun/ter2@192.0.2.7/h264 after 3 tries",
        "error in rtsp:/operator:hunter2@192.0.2.7/h264",
        "\"rtsp://operator:hunter2@cam\" and 'rtsps://operator:hunter2@cam2/x'",
    ])
    func maskedTextNeverContainsThePassword(text: String) {
        #expect(!maskingCredentials(text).contains("hunter2"))
        #expect(!maskingCredentials(text).contains("operator"))
    }
}

@Suite struct SourceStateTests {
    @Test func namesAreTheWireNames() {
        let states: [SourceState] = [.starting, .online, .stalled, .reconnecting(attempt: 2), .ended, .failed("x")]
        #expect(states.map(\.name) == ["starting", "online", "stalled", "reconnecting", "ended", "failed"])
        #expect(states.map(\.isTerminal) == [false, false, false, false, true, true])
    }
}
