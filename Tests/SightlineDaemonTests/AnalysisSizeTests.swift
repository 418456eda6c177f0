import Foundation
import SightlineCore
import SightlineDaemon
import SightlineGrounding
import SightlineProtocol
import Testing

/// Streams are grounded at their analysis size (`short_side`): GStreamer scales the frames
/// down before anything else sees them, and masks, boxes, points and `frame_size` are in
/// pixels of the scaled frame. With the real daemon, on the 428x240 DAVIS clip.
@Suite(.serialized) struct AnalysisSizeTests {
    static let clip = DaemonProcess.fixtures.appendingPathComponent("davis/bmx-trees-428x240.mp4").path

    @Test(.timeLimit(.minutes(3))) func framesAreGroundedAtEachStreamsAnalysisSize() async throws {
        // Every frame of three short clips is needed for their matches: no latency bound, so a
        // busy debug build skips none.
        let daemon = try DaemonProcess(environment: ["SIGHTLINE_MAX_LATENCY": "0"])
        defer { daemon.cleanUp() }
        try await daemon.start()
        // Expected frame size per stream: scaled down to 120; the source's size (0); the
        // default 480, which never enlarges a 240-pixel frame.
        let expected: [String: (shortSide: Int, size: [Int])] = ["small": (120, [214, 120]), "full": (0, [428, 240]), "default": (480, [428, 240])]
        try await daemon.client { client in
            _ = try await client.request(.queryAdd(QuerySpec(text: "a person riding a bike", threshold: 0.05)))
            _ = try await client.request(.subscribe(Subscription(detail: .rle)))
            _ = try await client.request(.streamAdd(StreamSpec(id: "small", uri: Self.clip, fps: 4, shortSide: 120)))
            _ = try await client.request(.streamAdd(StreamSpec(id: "full", uri: Self.clip, fps: 4, shortSide: 0)))
            _ = try await client.request(.streamAdd(StreamSpec(id: "default", uri: Self.clip, fps: 4)))
            var ended = Set<String>()
            var frames: [String: [JSONValue]] = [:]
            while ended.count < 3, let event = try await client.nextEvent() {
                let stream = event["stream"]?.stringValue ?? ""
                if event["event"] == "stream.status", event["state"] == "ended" { ended.insert(stream) }
                frames[stream, default: []] += event["frames"]?.arrayValue ?? []
            }
            #expect(ended.count == 3)
            for (stream, want) in expected {
                let seen = frames[stream] ?? []
                #expect(!seen.isEmpty, "no match frames on \(stream)")
                for frame in seen {
                    #expect(frame["frame_size"] == JSONValue.array(want.size.map { JSONValue($0) }), "\(stream): \(frame)")
                    #expect(frame["mask"]?["size"] == JSONValue.array([JSONValue(want.size[1]), JSONValue(want.size[0])]))
                    let box = frame["box"]?.arrayValue?.compactMap(\.intValue) ?? []
                    #expect(box.count == 4 && box[0] + box[2] <= want.size[0] && box[1] + box[3] <= want.size[1])
                    let point = frame["point"]?.arrayValue?.compactMap(\.intValue) ?? []
                    #expect(point.count == 2 && point[0] < want.size[0] && point[1] < want.size[1])
                }
            }
            let status = try await client.request(.status)
            let listed = try await client.request(.streamList)
            for (stream, want) in expected {
                let s = status["streams"]?.arrayValue?.first { $0["id"] == .string(stream) }
                #expect(s?["frame_size"] == JSONValue.array(want.size.map { JSONValue($0) }), "\(stream)")
                #expect(s?["short_side"] == JSONValue(want.shortSide))
                let l = listed["streams"]?.arrayValue?.first { $0["id"] == .string(stream) }
                #expect(l?["short_side"] == JSONValue(want.shortSide))
            }
            // `ground` scales the same way.
            let result = try await client.request(.ground(GroundSpec(path: Self.clip, texts: ["a bike"], fps: 4, threshold: 0.05,
                                                                     detail: .box, stream: "once", shortSide: 120)))
            var received = 0
            while received < result["events"]?.intValue ?? 0, let event = try await client.nextEvent() {
                guard event["stream"] == "once" else { continue }
                for frame in event["frames"]?.arrayValue ?? [] { #expect(frame["frame_size"] == [214, 120]) }
                received += 1
            }
            #expect(received > 0)
        }
        #expect(await daemon.stop() == 0)
    }
}
