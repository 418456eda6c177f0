import Foundation
import Logging
import SightlineCore
import SightlineDaemon
import SightlineGrounding
import SightlineMedia
import SightlineModel
import SightlinePipeline
import SightlineProtocol
import Testing

/// What carrying must never hide: a scene that changes is seen. The camera is the bottle clip:
/// three bottles on a table (its first frame) until two are taken away (its frame at 20 s,
/// with no hand in view), fading in over three seconds as the change detector sees
/// it, or not seen by the detector at all (the worst case). However the change comes, from the
/// refresh interval after it on, every frame's result with carrying is a fresh encoding's:
/// the same matches, masks and scores. (With the bundled tiny model no query's match ends when
/// the bottles go: its scores on the two scenes lie close together and every threshold that
/// starts a match on the first lets the second continue it. So the test asserts the stronger
/// property, which a match that a fresh encoding ends follows from.)
@Suite struct SceneChangeTests {
    static let refresh = 10.0
    static let texts = ["a bottle", "an empty table"]
    static let thresholds = [0.75, 0.8]
    static let queries = texts.enumerated().flatMap { t in
        thresholds.enumerated().map { h in
            QueryRecord(id: "q\(t.offset)-\(h.offset)", text: t.element, streams: [], threshold: h.element, minDuration: 0, created: Date())
        }
    }

    static func scenes() async throws -> (before: RGBImage, after: RGBImage) {
        var before: RGBImage?
        for try await frame in readFrames(of: CarryTests.bottles, sampleRate: 2, stream: "bottles", logger: Logger(label: "test")) {
            if before == nil { before = frame.image }
            if abs(frame.pts - 20) < 0.26 { return (before!, frame.image) }
        }
        throw SightlineError(.media, "the bottle clip has no frame at 20 s")
    }

    static func blend(_ a: RGBImage, _ b: RGBImage, _ t: Double) throws -> RGBImage {
        try RGBImage(width: a.width, height: a.height,
                     pixels: zip(a.pixels, b.pixels).map { UInt8((Double($0) * (1 - t) + Double($1) * t).rounded()) })
    }

    /// 4 s of the first scene, `fade` frames that blend into the second, 14 s of the second,
    /// at 2 fps, each frame judged by a change detector as ingest does. Returns the frames and
    /// the pts from which the second scene shows in full.
    static func camera(_ scenes: (before: RGBImage, after: RGBImage), fade: Int) throws -> (frames: [Frame], gone: Double) {
        var images = Array(repeating: scenes.before, count: 8)
        for k in 0..<fade { images.append(try blend(scenes.before, scenes.after, Double(k + 1) / Double(fade + 1))) }
        let gone = Double(images.count) / 2
        images += Array(repeating: scenes.after, count: 28)
        var detector = MotionDetector()
        let start = Date()
        let frames = images.enumerated().map { i, image -> Frame in
            var frame = Frame(stream: "table", seq: UInt64(i), pts: Double(i) / 2, captureTime: start.addingTimeInterval(Double(i) / 2), image: image)
            frame.changed = detector.update(image).changed
            return frame
        }
        return (frames, gone)
    }

    static func ground(_ frames: [Frame], carry: Bool) async throws -> [MatchEvent] {
        try await WorkerThread.shared.run {
            let logger = Logger(label: "test")
            // Without refinement: this is about what the encoder is given, and the debug
            // build's refinement of twelve queries' masks would dominate the test.
            var settings = GroundingSettings()
            settings.masks.refine = false
            // Frame by frame: no hysteresis, so that a frame's match depends on that frame's
            // result only, not on how the tube came to be.
            settings.tubes.startScore = settings.tubes.continueScore
            let grounder = try PipelineGrounder(model: try CLIPModel(directory: CarryTests.model, logger: logger), settings: settings,
                                                carry: .init(enabled: carry, refresh: Self.refresh), logger: logger)
            var events: [MatchEvent] = []
            for start in stride(from: 0, to: frames.count, by: 4) {
                let batch = Array(frames[start..<min(frames.count, start + 4)])
                events += try grounder.ground(batch, queries: batch.map { _ in Self.queries })
            }
            return events + grounder.finish(stream: "table", reason: .streamEnded)
        }
    }

    /// Per query and pts: the best score of the frame's matches and the union of their masks.
    static func results(_ events: [MatchEvent]) throws -> [String: [Double: (score: Double, mask: BinaryMask)]] {
        var out: [String: [Double: (score: Double, mask: BinaryMask)]] = [:]
        for event in events {
            for frame in event.frames {
                let mask = try #require(frame.mask?.decoded())
                if let known = out[event.query]?[frame.pts] {
                    out[event.query]![frame.pts] = (max(known.score, frame.score), try known.mask.union(mask))
                } else {
                    out[event.query, default: [:]][frame.pts] = (frame.score, mask)
                }
            }
        }
        return out
    }

    struct Change: Sendable, CustomTestStringConvertible {
        /// Frames over which the second scene fades in.
        var fade: Int
        /// Whether the change detector judges the frames; if not, no change is ever seen after
        /// the first frame: the worst case, a change no detector notices.
        var detected: Bool
        var testDescription: String { detected ? "a fade over \(fade) frames" : "a change that is never detected" }
    }

    @Test(arguments: [Change(fade: 6, detected: true), Change(fade: 6, detected: false)])
    func bottlesTakenAwayAreSeenWithinTheRefreshInterval(_ change: Change) async throws {
        var (frames, gone) = try Self.camera(try await Self.scenes(), fade: change.fade)
        if !change.detected { for i in frames.indices.dropFirst() { frames[i].changed = false } }
        let fresh = try Self.results(try await Self.ground(frames, carry: false))
        let carried = try Self.results(try await Self.ground(frames, carry: true))
        let seen = frames.filter { $0.pts >= 4 && $0.changed }.map(\.pts)
        // From the refresh interval after the change, and a frame for the smoothing window.
        let since = gone + Self.refresh + 0.5
        var compared = 0, differedBefore = 0
        for query in Self.queries {
            let mine = fresh[query.id] ?? [:]
            for (pts, expected) in mine {
                let got = carried[query.id]?[pts]
                if pts < since {
                    if pts >= gone, let got, abs(got.score - expected.score) > 0.01 { differedBefore += 1 }
                    continue
                }
                guard let got else {
                    Issue.record("\(query.id) at \(pts) s: matched by a fresh encoding, not with carrying (change seen at \(seen))")
                    continue
                }
                compared += 1
                #expect(abs(got.score - expected.score) <= 0.01, "\(query.id) at \(pts) s: score \(got.score), fresh \(expected.score)")
                let iou = try got.mask.iou(with: expected.mask)
                #expect(iou >= 0.9, "\(query.id) at \(pts) s: mask IoU \(iou) with a fresh encoding")
            }
            for pts in (carried[query.id] ?? [:]).keys where pts >= since && mine[pts] == nil {
                Issue.record("\(query.id) at \(pts) s: matched with carrying, not by a fresh encoding")
            }
        }
        #expect(compared >= 4, "\(compared) frames compared after the refresh interval")
        // The check has teeth: where the detector missed the change, the carried results
        // were the first scene's until the refresh.
        if !change.detected { #expect(differedBefore > 0, "carried results never differed from fresh ones before the refresh") }
    }
}
