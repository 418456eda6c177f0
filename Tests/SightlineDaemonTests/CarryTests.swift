import Foundation
import Logging
import SightlineCore
import SightlineDaemon
import SightlineGrounding
import SightlineMedia
import SightlineModel
import SightlinePipeline
import SightlineProtocol
import SightlineTestSupport
import Testing

/// `motion.carry` in the daemon's grounder: frames in which nothing changed carry the last
/// encoded result. Every frame of a fixed camera (bottles that stand still for five seconds,
/// then a hand that moves them) goes through the change detector and the grounder in order,
/// none dropped, with capture times at the stream's own pace, once with carry and once
/// without; the query matches everywhere with the bundled tiny model, so every frame has a mask.
@Suite struct CarryTests {
    static let bottles = DaemonProcess.fixtures.appendingPathComponent("media/bottle-detection.mp4").path
    static let model = DaemonProcess.fixtures.appendingPathComponent("clip/tiny-gelu-p14").path

    struct Run: Sendable {
        /// Per pts: the union of the query's masks on that frame, and whether it was carried.
        var frames: [Double: (mask: BinaryMask, carried: Bool)] = [:]
        var carried = 0
        var grounded = 0
    }

    static func frames() async throws -> [Frame] {
        var frames: [Frame] = []
        var detector = MotionDetector()
        let start = Date()
        for try await var frame in readFrames(of: bottles, sampleRate: 2, stream: "bottles", logger: Logger(label: "test")) {
            frame.changed = detector.update(frame.image).changed
            // As a camera delivers them: the refresh interval counts capture time.
            frame.captureTime = start.addingTimeInterval(frame.pts)
            frames.append(frame)
        }
        return frames
    }

    static func ground(_ frames: [Frame], carry: Bool) async throws -> Run {
        try await WorkerThread.shared.run {
            let logger = Logger(label: "test")
            // Refinement at a small size: the debug build's mask refinement dominates otherwise,
            // and carrying is about the encoder's input, not the masks' resolution.
            var settings = GroundingSettings()
            settings.masks.refineMaxSide = 64
            let grounder = try PipelineGrounder(model: try CLIPModel(directory: Self.model, logger: logger), settings: settings,
                                                carry: .init(enabled: carry, refresh: 10), logger: logger)
            let query = QueryRecord(id: "q", text: "a bottle on a table", streams: [], threshold: 0.05, minDuration: 0, created: Date())
            var run = Run()
            var events: [MatchEvent] = []
            for start in stride(from: 0, to: frames.count, by: 4) {
                let batch = Array(frames[start..<min(frames.count, start + 4)])
                events += try grounder.ground(batch, queries: batch.map { _ in [query] })
                run.carried += grounder.carriedInLastBatch["bottles"] ?? 0
                run.grounded += batch.count
            }
            events += grounder.finish(stream: "bottles", reason: .streamEnded)
            for frame in events.flatMap(\.frames) {
                guard let mask = frame.mask?.decoded() else { continue }
                if let known = run.frames[frame.pts] {
                    run.frames[frame.pts] = (try known.mask.union(mask), known.carried)
                } else {
                    run.frames[frame.pts] = (mask, frame.carried)
                }
            }
            return run
        }
    }

    @Test func stillFramesCarryAndAgreeWithAFreshEncoding() async throws {
        let frames = try await Self.frames()
        try #require(frames.count >= 70, "\(frames.count) frames")
        let carried = try await Self.ground(frames, carry: true)
        let computed = try await Self.ground(frames, carry: false)
        // Carried: the unchanged frames after an encoded one, within 10 s of it; never the first.
        let unchanged = frames.dropFirst().filter { !$0.changed }.count
        #expect(carried.carried >= 4 && carried.carried <= unchanged, "\(carried.carried) carried, \(unchanged) unchanged")
        #expect(computed.carried == 0 && computed.frames.values.allSatisfy { !$0.carried })
        #expect(carried.frames.values.filter(\.carried).count == carried.frames.count - carried.frames.values.filter { !$0.carried }.count)
        #expect(carried.frames[frames[0].pts]?.carried == false)

        // Where the scene did not change, a carried result is what a fresh encoding gives:
        // mask IoU at least 0.9 on every carried frame.
        var compared = 0
        for (pts, frame) in carried.frames where frame.carried {
            let fresh = try #require(computed.frames[pts], "pts \(pts) has no mask without carry")
            compared += 1
            let iou = try frame.mask.iou(with: fresh.mask)
            #expect(iou >= 0.9, "pts \(pts): IoU \(iou)")
        }
        #expect(compared >= 4, "\(compared) carried frames compared")
    }

    /// At least every refresh interval a stream is encoded, however still: a camera whose
    /// every frame is unchanged is encoded once per 10 s of capture time.
    @Test func aStillStreamIsEncodedAgainAtTheRefreshInterval() async throws {
        var frames = try await Self.frames()
        for i in frames.indices { frames[i].changed = i == 0 }
        let run = try await Self.ground(frames, carry: true)
        let seconds = frames.last!.pts - frames.first!.pts
        let encoded = run.grounded - run.carried
        #expect(encoded == Int(seconds / 10) + 1 || encoded == Int(seconds / 10) + 2, "\(encoded) encoded over \(seconds) s")
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
