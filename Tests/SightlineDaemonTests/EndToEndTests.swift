import Foundation
import SightlineCore
import SightlineDaemon
import SightlineGrounding
import SightlineProtocol
import Testing

/// The whole path with real parts: the `sightlined` process with the bundled tiny CLIP model,
/// GStreamer decoding real DAVIS frames encoded as H.264, grounding, the event bus and a Unix
/// socket subscriber; then a restart.
@Suite(.serialized) struct EndToEndTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test(.timeLimit(.minutes(3))) func groundsAFileStreamAndKeepsItsSetupAcrossARestart() async throws {
        let clip = Self.fixtures.appendingPathComponent("davis/bmx-trees-428x240.mp4").path
        let model = Self.fixtures.appendingPathComponent("clip/tiny-gelu-p14").path
        let config = try String(contentsOfFile: model + "/config.json", encoding: .utf8)
        #expect(config.contains("\"sightline_test_model\": true"))
        let daemon = try DaemonProcess(arguments: ["--model", model])
        defer { daemon.cleanUp() }
        try await daemon.start()

        let (streams, queries) = try await daemon.client { client in
            let status = try await client.request(.status)
            #expect(status["model"]?["test_model"] == true)
            #expect(status["model"]?["note"]?.stringValue?.contains("sightline model pull openai/clip-vit-base-patch16") == true)
            // The tiny model's probabilities mean nothing; a low threshold makes sure it matches.
            let query = try await client.request(.queryAdd(QuerySpec(text: "a person riding a bike", threshold: 0.05, minDuration: 0)))
            let queryID = query["query"]!["id"]!.stringValue!
            // The same text with thresholds and minimum durations of their own: each query's
            // values govern its own tubes, whatever the other queries of the stream ask for.
            let strictQuery = try await client.request(.queryAdd(QuerySpec(text: "a person riding a bike", threshold: 0.99)))["query"]!
            let strict = strictQuery["id"]!
            // A query added without a minimum duration gets the configured default.
            #expect(strictQuery["min_duration"] == 0.3)
            let patient = try await client.request(.queryAdd(QuerySpec(text: "a person riding a bike", threshold: 0.05, minDuration: 1)))["query"]!["id"]!
            _ = try await client.request(.subscribe(Subscription(streams: ["bmx"], detail: .rle)))
            _ = try await client.request(.streamAdd(StreamSpec(id: "bmx", uri: clip, fps: 4)))
            var matches: [JSONObject] = []
            var ended = false
            while !ended, let event = try await client.nextEvent() {
                switch event["event"]?.stringValue {
                case "match.start", "match.update", "match.end": matches.append(event)
                case "stream.status": ended = event["state"] == "ended"
                default: break
                }
            }
            #expect(ended)
            #expect(!matches.contains { $0["query"] == strict }, "no probability of the tiny model reaches 0.99")
            let patientMatches = matches.filter { $0["query"] == patient }
            for start in patientMatches where start["event"] == "match.start" {
                let first = start["frames"]?.arrayValue?.first?["pts"]?.doubleValue ?? 0
                #expect(start["pts"]!.doubleValue! - first >= 1 - 1e-6, "\(start)")
            }
            matches.removeAll { $0["query"] == patient }
            // The first query's tubes start on their first frame (min_duration 0).
            #expect(matches.contains { $0["event"] == "match.start" && $0["pts"] == $0["frames"]?.arrayValue?.first?["pts"] })
            #expect(matches.contains { $0["event"] == "match.start" })
            // Every match.start has its match.end before the stream's end.
            let started = Set(matches.filter { $0["event"] == "match.start" }.compactMap { $0["track"]?.intValue })
            let finished = Set(matches.filter { $0["event"] == "match.end" }.compactMap { $0["track"]?.intValue })
            #expect(started == finished)
            var masks = 0
            for event in matches {
                #expect(event["query"] == .string(queryID) && event["stream"] == "bmx" && event["text"] == "a person riding a bike")
                for frame in event["frames"]?.arrayValue ?? [] {
                    guard let mask = frame["mask"], let size = mask["size"]?.arrayValue, let counts = mask["counts"]?.stringValue else { continue }
                    #expect(size == [240, 428])
                    let decoded = try RLEMask(height: size[0].intValue!, width: size[1].intValue!, compressed: counts).decoded()
                    #expect(decoded.width == 428 && decoded.height == 240)
                    let area = decoded.bits.reduce(0) { $0 + Int($1 > 0 ? 1 : 0) }
                    #expect(area > 0)
                    let box = frame["box"]!.arrayValue!.map { $0.intValue! }
                    #expect(box[0] >= 0 && box[1] >= 0 && box[0] + box[2] <= 428 && box[1] + box[3] <= 240)
                    masks += 1
                }
            }
            #expect(masks > 0)
            let status2 = try await client.request(.status)
            let bmx = status2["streams"]?.arrayValue?.first { $0["id"] == "bmx" }
            #expect((bmx?["processed"]?.intValue ?? 0) > 0)
            #expect(bmx?["latency_ms"]?["p50"] != nil)
            return (try await client.request(.streamList)["streams"], try await client.request(.queryList)["queries"])
        }
        #expect(await daemon.stop() == 0)

        try await daemon.start()
        try await daemon.client { client in
            let listedStreams = try await client.request(.streamList)
            let listedQueries = try await client.request(.queryList)
            #expect(listedStreams["streams"] == streams)
            #expect(listedQueries["queries"] == queries)
        }
        #expect(await daemon.stop() == 0)
    }

    @Test(.timeLimit(.minutes(3))) func groundsAFileOnRequest() async throws {
        let clip = Self.fixtures.appendingPathComponent("davis/bmx-trees-428x240.mp4").path
        let model = Self.fixtures.appendingPathComponent("clip/tiny-gelu-p14").path
        let daemon = try DaemonProcess(arguments: ["--model", model])
        defer { daemon.cleanUp() }
        try await daemon.start()
        try await daemon.client { client in
            let result = try await client.request(.ground(GroundSpec(path: clip, texts: ["a person riding a bike"], fps: 4, threshold: 0.05,
                                                                     detail: .rle, stream: "bmx-once")))
            // 80 frames at 24 fps sampled at 4 fps.
            #expect((12...15).contains(result["frames"]?.intValue ?? 0))
            var received = 0
            while received < result["events"]!.intValue! {
                // Events came before the reply; the client kept them in order.
                guard let event = try await client.nextEvent() else { break }
                #expect(event["stream"] == "bmx-once" && event["text"] == "a person riding a bike")
                if let mask = event["frames"]?.arrayValue?.first?["mask"] { #expect(mask["size"] == [240, 428]) }
                received += 1
            }
            #expect(received > 0)
            do {
                _ = try await client.request(.ground(GroundSpec(path: daemon.directory + "/missing.mp4", texts: ["a bike"])))
                Issue.record("grounding a missing file succeeded")
            } catch let error as SightlineError {
                #expect(error.code == .fileNotFound)
            }
            // Nothing was stored: ground is one-shot.
            #expect(try await client.request(.streamList)["streams"] == [])
        }
        #expect(await daemon.stop() == 0)
    }
}
