import Foundation
import SightlineCore
import SightlineGrounding
import SightlineMedia
import SightlineTestSupport
import Testing

/// The change detector on real fixed-camera footage at the daemon's default 2 fps: three
/// bottles on a table that stand still for five seconds, then a hand that takes them away and
/// puts them back (`Tests/Fixtures/media/bottle-detection.mp4`).
@Suite struct MotionOnCameraTests {
    static let bottles = Support.fixtures + "/media/bottle-detection.mp4"

    static func verdicts(_ path: String, transform: (Int, RGBImage) throws -> RGBImage = { $1 }) async throws -> [MotionDetector.Result] {
        var detector = MotionDetector()
        var out: [MotionDetector.Result] = []
        for try await frame in readFrames(of: path, sampleRate: 2, logger: Support.logger) {
            out.append(detector.update(try transform(out.count, frame.image)))
        }
        return out
    }

    static func describe(_ results: [MotionDetector.Result]) -> String {
        results.enumerated().map { "\($0): \($1.globalChange ? "global" : String(format: "%.3f", $1.fraction))\($1.changed ? "*" : "")" }
            .joined(separator: ", ")
    }

    /// Still at first (the first frame is the one global change; a one-frame flicker changes
    /// twice, as it comes and as it goes), then the hand differs from the usual scene in every
    /// frame from 6 s to 16 s, covering a part of the frame, not all of it, and changes since
    /// the last changed frame in most of them (it pauses now and then).
    @Test func stillBottlesAreNoMotionAndTheHandIs() async throws {
        let results = try await Self.verdicts(Self.bottles)
        try #require(results.count >= 70, "\(results.count) frames")
        #expect(results[0].globalChange)
        let still = results[1..<10]
        #expect(still.filter { $0.changed }.count <= 2 && still.allSatisfy { $0.fraction < 0.02 }, "\(Self.describe(Array(results.prefix(10))))")
        let hand = results[12..<32]
        #expect(hand.allSatisfy { $0.globalChange || !$0.boxes.isEmpty }, "\(Self.describe(Array(results[12..<32])))")
        #expect(hand.filter { $0.changed }.count >= 12, "\(Self.describe(Array(results[12..<32])))")
        #expect(hand.filter { $0.globalChange }.count <= 2, "\(Self.describe(Array(results[12..<32])))")
        #expect(hand.allSatisfy { $0.globalChange || ($0.fraction > 0.01 && $0.fraction < 0.5) }, "\(Self.describe(Array(results[12..<32])))")
    }

    /// The camera's exposure drops by 40 % during the still part: one refresh, then still.
    /// (A step up that clips the bright parts to white is not a linear change; it shows as a
    /// few percent of motion for a few frames after the refresh.)
    @Test func anExposureStepIsOneRefresh() async throws {
        let results = try await Self.verdicts(Self.bottles) { index, image in
            guard index >= 4 else { return image }
            return try RGBImage(width: image.width, height: image.height, pixels: image.pixels.map { UInt8(Double($0) * 0.6) })
        }
        #expect(results[4].globalChange, "\(Self.describe(Array(results.prefix(10))))")
        #expect(results[5..<10].filter { $0.changed }.count <= 1, "\(Self.describe(Array(results.prefix(10))))")
    }

    /// A still picture of the same camera encoded as video at a low bitrate: the compression
    /// noise of real frames (a new I-frame each second) is no motion.
    @Test func compressionNoiseOfAStillPictureIsNoMotion() async throws {
        let directory = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let still = directory + "/still.mp4"
        let made = try await ChildProcesses.run("/usr/bin/gst-launch-1.0", [
            "-q", "filesrc", "location=\(Self.bottles)", "!", "qtdemux", "!", "h264parse", "!", "avdec_h264", "!", "videoconvert", "!",
            "imagefreeze", "num-buffers=100", "!", "video/x-raw,framerate=10/1", "!", "videoconvert", "!",
            "x264enc", "bitrate=150", "key-int-max=10", "speed-preset=ultrafast", "!", "mp4mux", "!", "filesink", "location=\(still)",
        ])
        try #require(made.status == 0, "\(made.stderr)")
        let results = try await Self.verdicts(still)
        try #require(results.count >= 15, "\(results.count) frames")
        #expect(results[0].globalChange)
        #expect(results.dropFirst().allSatisfy { !$0.changed }, "\(Self.describe(results))")
    }

    /// A camera that sees noise everywhere (GStreamer's snow pattern) changes at every frame,
    /// so it is grounded at full rate.
    @Test func aCameraOfNoiseChangesAtEveryFrame() async throws {
        let directory = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let snow = directory + "/snow.mp4"
        let made = try await ChildProcesses.run("/usr/bin/gst-launch-1.0", [
            "-q", "videotestsrc", "pattern=snow", "num-buffers=50", "!", "video/x-raw,width=640,height=360,framerate=10/1", "!",
            "videoconvert", "!", "x264enc", "speed-preset=ultrafast", "!", "mp4mux", "!", "filesink", "location=\(snow)",
        ])
        try #require(made.status == 0, "\(made.stderr)")
        let results = try await Self.verdicts(snow)
        try #require(results.count >= 8, "\(results.count) frames")
        #expect(results.allSatisfy { $0.changed && $0.fraction > 0.3 }, "\(Self.describe(results))")
    }
}
