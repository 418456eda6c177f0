import Foundation
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import SightlineTestSupport
import Testing

/// A camera's password goes in with `stream.add` (and the configuration file) and never
/// comes out: not in a reply, an event, an error, the status, the metrics or the log.
@Suite(.serialized) struct CredentialMaskingTests {
    static let password = "s3cr3t-pa55"

    @Test func aPasswordInAURIAppearsNowhere() async throws {
        let secret = Self.password
        let port = Int.random(in: 20_000...60_000)
        let directory = try DaemonProcess().directory
        let config = directory + "/sightlined.toml"
        try Data("""
            [stream.fromfile]
            uri = "rtsp://operator:\(secret)@127.0.0.1:1/file"

            """.utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", config, "--metrics-address", "127.0.0.1:\(port)"])
        defer { daemon.cleanUp() }
        try await daemon.start()

        var seen: [String] = []
        try await daemon.client { client in
            let subscribed = try await client.request(.subscribe(Subscription()))
            seen.append(JSONWriter.string(.object(subscribed)))
            // Refused by the camera (nothing listens on port 1): reconnects, with error texts.
            let cam = try await client.request(.streamAdd(StreamSpec(id: "cam", uri: "rtsp://admin:\(secret)@127.0.0.1:1/live")))
            // Not openable at all: fails for good, with GStreamer's error text.
            let odd = try await client.request(.streamAdd(StreamSpec(id: "odd", uri: "nosuchscheme://admin:\(secret)@camera.invalid/live")))
            for reply in [cam, odd] { seen.append(JSONWriter.string(.object(reply))) }
            #expect(cam["stream"]?["uri"] == "rtsp://***@127.0.0.1:1/live")

            // Errors that quote the URI: the id is taken; a second stream.add of the same id.
            for spec in [StreamSpec(id: "cam", uri: "rtsp://admin:\(secret)@127.0.0.1:1/live"),
                         StreamSpec(id: "fromfile", uri: "rtsp://admin:\(secret)@127.0.0.1:1/other")] {
                do {
                    _ = try await client.request(.streamAdd(spec))
                    Issue.record("stream.add of a taken id succeeded")
                } catch let error as SightlineError {
                    seen.append("\(error.code.rawValue) \(error.message) \(error.context)")
                }
            }
            try await client.send(raw: Array("{\"id\":9,\"op\":\"stream.add\",\"params\":{\"uri\":\"rtsp://admin:\(secret)@cam\",\"fps\":\"fast\"}}\n".utf8))
            if case .failure(let error) = try await client.nextReply().outcome { seen.append(error.message) }

            // Events until the failing stream has said why, and the live one has retried.
            var failed = false, reconnecting = false
            while !(failed && reconnecting), let event = try await client.nextEvent() {
                seen.append(JSONWriter.string(.object(event)))
                if event["stream"] == "odd" && event["state"] == "failed" { failed = true }
                if event["stream"] == "cam" && event["state"] == "reconnecting" && event["error"] != nil { reconnecting = true }
            }
            _ = try await client.request(.unsubscribe)
            let list = try await client.request(.streamList)
            let status = try await client.request(.status)
            let queries = try await client.request(.queryList)
            for reply in [list, status, queries] { seen.append(JSONWriter.string(.object(reply))) }
            let listed = list["streams"]?.arrayValue ?? []
            #expect(listed.count == 3)
            #expect(listed.allSatisfy { $0["uri"]?.stringValue?.contains("***@") == true }, "\(listed)")
            let odd2 = (status["streams"]?.arrayValue ?? []).first { $0["id"] == "odd" }
            #expect(odd2?["state"] == "failed" && odd2?["error"] != nil, "\(String(describing: odd2))")
            let removed = try await client.request(.streamRemove(id: "cam"))
            seen.append(JSONWriter.string(.object(removed)))
        }
        let (_, metrics) = try await IngestTests.httpGet(port: port, path: "/metrics")
        seen.append(metrics)
        // The CLI's view too.
        let cli = try await ChildProcesses.run(DaemonProcess.executable("sightline"), ["stream", "ls", "--socket", daemon.socket])
        seen.append(cli.stdout + cli.stderr)
        #expect(await daemon.stop() == 0)
        let log = daemon.log()
        #expect(log.contains("rtsp://***@127.0.0.1:1/live"), "the log names the stream's URI, masked")
        seen.append(log)
        for text in seen {
            #expect(!text.contains(secret), "\(text)")
        }
        // The daemon still has the password: it is needed to connect.
        let state = try String(contentsOfFile: daemon.stateDirectory + "/state.json", encoding: .utf8)
        #expect(state.contains(secret))
    }
}
