import Foundation
import NIOCore
import NIOPosix
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import Testing

/// Streams added to the real daemon are opened with GStreamer and reported on; metrics are
/// served when asked for.
@Suite(.serialized) struct IngestTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test(.timeLimit(.minutes(2))) func aFileStreamGoesOnlineDeliversFramesAndEnds() async throws {
        let clip = Self.fixtures.appendingPathComponent("davis/bmx-trees-428x240.mp4").path
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        try Data("this is not a video".utf8).write(to: URL(fileURLWithPath: daemon.directory + "/not-a-video.mp4"))
        try await daemon.client { client in
            _ = try await client.request(.subscribe(Subscription(streams: ["bmx", "broken"])))
            _ = try await client.request(.streamAdd(StreamSpec(id: "broken", uri: daemon.directory + "/not-a-video.mp4")))
            _ = try await client.request(.streamAdd(StreamSpec(id: "bmx", uri: clip, fps: 6)))
            var states: [String: [String]] = [:]
            while states["bmx"]?.last != "ended" || !(states["broken"]?.last == "failed") {
                guard let event = try await client.nextEvent() else { break }
                #expect(event["event"] == "stream.status")
                states[event["stream"]!.stringValue!, default: []].append(event["state"]!.stringValue!)
            }
            #expect(states["bmx"]?.contains("online") == true)
            #expect(states["broken"]?.last == "failed")
            let status = try await client.request(.status)
            let streams = status["streams"]?.arrayValue ?? []
            let bmx = streams.first { $0["id"] == "bmx" }
            // 3.3 s of video sampled at 6 fps.
            #expect((bmx?["frames"]?.intValue ?? 0) >= 15)
            #expect(bmx?["state"] == "ended")
            let broken = streams.first { $0["id"] == "broken" }
            #expect(broken?["state"] == "failed" && broken?["error"] != nil)
        }
        #expect(await daemon.stop() == 0)
    }

    @Test func servesPrometheusMetricsWhenConfigured() async throws {
        let port = Int.random(in: 20_000...60_000)
        let daemon = try DaemonProcess(arguments: ["--metrics-address", "127.0.0.1:\(port)"])
        defer { daemon.cleanUp() }
        try await daemon.start()
        let clip = Self.fixtures.appendingPathComponent("davis/bmx-trees-428x240.mp4").path
        try await daemon.client { client in
            _ = try await client.request(.subscribe(Subscription(streams: ["bmx"])))
            _ = try await client.request(.streamAdd(StreamSpec(id: "bmx", uri: clip, fps: 6)))
            while let event = try await client.nextEvent(), event["state"] != "ended" {}
        }
        let (status, body) = try await Self.httpGet(port: port, path: "/metrics")
        #expect(status.contains("200"))
        // The names Docs/operations.md lists.
        #expect(body.contains("# TYPE sightline_uptime_seconds gauge"))
        #expect(body.contains("# TYPE sightline_subscribers gauge"))
        #expect(body.contains("# TYPE sightline_frames_total counter"))
        #expect(body.contains("sightline_frames_total{stream=\"bmx\"}"))
        #expect(body.contains("sightline_stream_sampled_fps{stream=\"bmx\"}"))
        let (missing, _) = try await Self.httpGet(port: port, path: "/")
        #expect(missing.contains("404"))
        #expect(await daemon.stop() == 0)
    }

    /// A plain HTTP/1.0 GET over a TCP connection to 127.0.0.1.
    static func httpGet(port: Int, path: String) async throws -> (statusLine: String, body: String) {
        var lastError: (any Error)?
        for _ in 0..<100 {
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connect(host: "127.0.0.1", port: port) { channel in
                        channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                    }
                return try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.0\r\nHost: localhost\r\n\r\n"))
                    var response = ""
                    for try await buffer in inbound { response += String(buffer: buffer) }
                    let parts = response.components(separatedBy: "\r\n\r\n")
                    return (parts.first?.components(separatedBy: "\r\n").first ?? "", parts.dropFirst().joined(separator: "\r\n\r\n"))
                }
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        throw lastError!
    }
}
