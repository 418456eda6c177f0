import Foundation
import SightlineClient
import SightlineGrounding
import SightlineProtocol
import SightlineTestSupport
import Testing

/// `status` shows the change detector's verdict on each stream's last frame, and
/// `sightline status` whether the stream is active. The clip is a fixed camera: bottles that
/// stand still for five seconds, then a hand that moves them (from 6 s to the end).
@Suite struct MotionStatusTests {
    static let bottles = DaemonProcess.fixtures.appendingPathComponent("media/bottle-detection.mp4").path

    @Test(.timeLimit(.minutes(2))) func statusShowsMotionWithBoxesInsideTheFrame() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let seen = try await daemon.client { client -> JSONObject? in
            _ = try await client.request(.streamAdd(StreamSpec(id: "bottles", uri: Self.bottles, fps: 2)))
            // The file plays in real time; by 8 s into it the hand has moved.
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let stream = try await client.request(.status)["streams"]?.arrayValue?.first
                if let motion = stream?["motion"]?.objectValue, motion["active"] == .bool(true), motion["global"] == .bool(false),
                   motion["boxes"]?.arrayValue?.isEmpty == false {
                    var found = motion
                    found["frame_size"] = stream?["frame_size"]
                    found["carried"] = stream?["carried"]
                    found["processed"] = stream?["processed"]
                    return found
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            return nil
        }
        let motion = try #require(seen, "no frame with motion boxes in status\n\(daemon.log())")
        let size = try #require(motion["frame_size"]?.arrayValue?.compactMap { $0.intValue })
        #expect(size == [640, 360])
        // Status counts the frames that carried a result instead of being encoded.
        let carried = try #require(motion["carried"]?.intValue, "\(motion)")
        #expect(carried >= 0 && carried <= (motion["processed"]?.intValue ?? 0), "\(motion)")
        let fraction = try #require(motion["fraction"]?.doubleValue)
        #expect(fraction > 0 && fraction < 0.5, "\(motion)")
        for box in motion["boxes"]?.arrayValue ?? [] {
            let b = box.arrayValue?.compactMap { $0.intValue } ?? []
            #expect(b.count == 4 && b[0] >= 0 && b[1] >= 0 && b[2] > 0 && b[3] > 0 && b[0] + b[2] <= 640 && b[1] + b[3] <= 360, "\(box)")
        }
        #expect(motion["last_change"]?.stringValue.flatMap { WireTime.parse($0) } != nil, "\(motion)")

        // The scheduler's view of the engine, learnt from the frames grounded so far.
        // (Published at the engine's first turn after a batch: a loaded machine may still be
        // grounding the first one.)
        var status = try await daemon.client { try await $0.request(.status) }
        let deadline = ContinuousClock.now + .seconds(60)
        while status["engine"]?["encode_ms"]?.doubleValue == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            status = try await daemon.client { try await $0.request(.status) }
        }
        let engine = try #require(status["engine"]?.objectValue, "\(status)")
        #expect((engine["encode_ms"]?.doubleValue ?? 0) > 0, "\(engine)")
        #expect((1...8).contains(engine["encoded_per_batch"]?.intValue ?? 0), "\(engine)")
        #expect(status["streams"]?.arrayValue?.first?["stale"]?.intValue.map { $0 >= 0 } == true, "\(status)")

        let table = try await ChildProcesses.run(DaemonProcess.executable("sightline"), ["status", "--socket", daemon.socket])
        #expect(table.status == 0 && table.stdout.contains("MOTION"), "\(table.stdout)")
        #expect(table.stdout.contains("ms per encoded frame"), "\(table.stdout)")
        let row = table.stdout.split(separator: "\n").first { $0.hasPrefix("bottles") } ?? ""
        #expect(row.contains("active") || row.contains("idle"), "\(table.stdout)")
        #expect(await daemon.stop() == 0)
    }
}
