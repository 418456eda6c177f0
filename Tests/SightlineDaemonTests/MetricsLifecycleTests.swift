import Foundation
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import Testing

/// Series of streams and queries that are removed leave the metrics endpoint with them,
/// instead of staying at their last value forever.
@Suite(.serialized) struct MetricsLifecycleTests {
    @Test func removedStreamsAndQueriesLoseTheirSeries() async throws {
        let port = Int.random(in: 20_000...60_000)
        let daemon = try DaemonProcess(arguments: ["--metrics-address", "127.0.0.1:\(port)"])
        defer { daemon.cleanUp() }
        try await daemon.start()
        let clip = DaemonProcess.fixtures.appendingPathComponent("davis/bmx-trees-428x240.mp4").path
        let (gone, kept) = try await daemon.client { client in
            // The tiny model's probabilities mean nothing; a low threshold makes sure it matches.
            let gone = try await client.request(.queryAdd(QuerySpec(text: "a bike", threshold: 0.05, minDuration: 0)))["query"]!["id"]!.stringValue!
            let kept = try await client.request(.queryAdd(QuerySpec(text: "a tree", threshold: 0.05, minDuration: 0)))["query"]!["id"]!.stringValue!
            _ = try await client.request(.subscribe(Subscription()))
            _ = try await client.request(.streamAdd(StreamSpec(id: "bmx", uri: clip, fps: 4)))
            _ = try await client.request(.streamAdd(StreamSpec(id: "keep", uri: clip, fps: 4)))
            var ended: Set<String> = []
            while ended.count < 2, let event = try await client.nextEvent() {
                if event["event"] == "stream.status", event["state"] == "ended", let stream = event["stream"]?.stringValue { ended.insert(stream) }
            }
            return (gone, kept)
        }
        let (_, before) = try await IngestTests.httpGet(port: port, path: "/metrics")
        for stream in ["bmx", "keep"] {
            #expect(before.contains("sightline_frames_total{stream=\"\(stream)\"}"), "\(before)")
            #expect(before.contains("sightline_stream_sampled_fps{stream=\"\(stream)\"}"))
            for query in [gone, kept] {
                #expect(before.contains("sightline_matches_total{stream=\"\(stream)\",query=\"\(query)\"}"), "\(before)")
            }
        }

        try await daemon.client { client in
            _ = try await client.request(.streamRemove(id: "bmx"))
            _ = try await client.request(.queryRemove(id: gone))
        }
        // Removal reaches the metrics through the registry's observers, right after the
        // state is stored; a few scrapes allow for that.
        var after = ""
        for _ in 0..<100 {
            (_, after) = try await IngestTests.httpGet(port: port, path: "/metrics")
            if !after.contains("stream=\"bmx\"") && !after.contains("query=\"\(gone)\"") { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!after.contains("stream=\"bmx\""), "\(after)")
        #expect(!after.contains("query=\"\(gone)\""), "\(after)")
        #expect(after.contains("sightline_frames_total{stream=\"keep\"}"))
        #expect(after.contains("sightline_grounding_latency_seconds_count{stream=\"keep\"}"), "\(after)")
        #expect(after.contains("sightline_matches_total{stream=\"keep\",query=\"\(kept)\"}"))

        // A stream added again under the same id starts new series.
        try await daemon.client { client in
            _ = try await client.request(.subscribe(Subscription(streams: ["bmx"])))
            _ = try await client.request(.streamAdd(StreamSpec(id: "bmx", uri: clip, fps: 4)))
            while let event = try await client.nextEvent(), event["state"] != "ended" {}
        }
        let (_, again) = try await IngestTests.httpGet(port: port, path: "/metrics")
        #expect(again.contains("sightline_frames_total{stream=\"bmx\"}"))
        #expect(!again.contains("query=\"\(gone)\""))
        #expect(await daemon.stop() == 0)
    }
}
