import Foundation
import SightlineClient
import SightlineGrounding
import SightlineProtocol
import Testing

/// `motion.carry`: frames in which nothing changed carry the last encoded result. The clip is
/// a fixed camera whose first five seconds are still (bottles on a table), then a hand moves
/// them; the query matches everywhere with the bundled tiny model, so every frame has a mask.
@Suite(.serialized) struct CarryTests {
    static let bottles = DaemonProcess.fixtures.appendingPathComponent("media/bottle-detection.mp4").path
    static let query = QuerySpec(text: "a bottle on a table", threshold: 0.05, minDuration: 0)

    struct Run {
        /// Per pts: the union of the query's masks on that frame, and whether it was carried.
        var frames: [Double: (mask: BinaryMask, carried: Bool)] = [:]
        var status: JSONObject = [:]
    }

    /// The daemon on the clip with `motion.carry = carry`, until the stream ends.
    static func run(carry: Bool) async throws -> Run {
        let directory = try DaemonProcess().directory
        let config = directory + "/sightlined.toml"
        try Data("[motion]\ncarry = \(carry)\n".utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", config])
        defer { daemon.cleanUp() }
        try await daemon.start()
        var run = Run()
        try await daemon.client { client in
            _ = try await client.request(.queryAdd(Self.query))
            _ = try await client.request(.subscribe(Subscription(detail: .rle)))
            _ = try await client.request(.streamAdd(StreamSpec(id: "bottles", uri: Self.bottles, fps: 2)))
            let deadline = ContinuousClock.now + .seconds(150)
            while ContinuousClock.now < deadline, let event = try await client.nextEvent() {
                if event["event"] == "stream.status", event["state"] == "ended" { break }
                guard let kind = event["event"]?.stringValue, kind.hasPrefix("match.") else { continue }
                let match = try MatchEvent(json: .object(event))
                for frame in match.frames {
                    guard let mask = frame.mask?.decoded() else { continue }
                    if var known = run.frames[frame.pts] {
                        known.mask = try known.mask.union(mask)
                        run.frames[frame.pts] = known
                    } else {
                        run.frames[frame.pts] = (mask, frame.carried)
                    }
                }
            }
            run.status = try #require(try await client.request(.status)["streams"]?.arrayValue?.first?.objectValue)
        }
        #expect(await daemon.stop() == 0)
        return run
    }

    @Test(.timeLimit(.minutes(6))) func stillFramesCarryAndAgreeWithAFreshEncoding() async throws {
        let carried = try await Self.run(carry: true)
        let computed = try await Self.run(carry: false)
        let processed = carried.status["processed"]?.intValue ?? 0
        let carriedCount = carried.status["carried"]?.intValue ?? 0
        #expect(processed >= 70, "\(carried.status)")
        // The still start and the stretches the detector finds still are carried; the rest is
        // encoded (at least every 10 s).
        #expect(carriedCount >= 4 && carriedCount < processed, "\(carried.status)")
        #expect(computed.status["carried"]?.intValue == 0, "\(computed.status)")
        #expect(computed.frames.values.allSatisfy { !$0.carried })

        let still = carried.frames.filter { $0.key > 0.2 && $0.key < 4.8 }
        #expect(still.values.filter(\.carried).count >= 4, "still frames carried: \(still.keys.sorted())")
        // Where the scene did not change, a carried result is what a fresh encoding gives:
        // mask IoU at least 0.9 on every still frame grounded in both runs.
        var compared = 0
        for (pts, frame) in still where frame.carried {
            guard let fresh = computed.frames[pts] else { continue }
            compared += 1
            let iou = try frame.mask.iou(with: fresh.mask)
            #expect(iou >= 0.9, "pts \(pts): IoU \(iou)")
        }
        #expect(compared >= 4, "\(compared) still frames compared")
    }
}

extension BinaryMask {
    func union(_ other: BinaryMask) throws -> BinaryMask {
        try BinaryMask(width: width, height: height, values: zip(bits, other.bits).map { $0 | $1 })
    }

    func iou(with other: BinaryMask) throws -> Double {
        let both = zip(bits, other.bits).filter { $0 == 1 && $1 == 1 }.count
        let either = zip(bits, other.bits).filter { $0 == 1 || $1 == 1 }.count
        return either == 0 ? 1 : Double(both) / Double(either)
    }
}
