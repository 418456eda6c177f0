import Foundation
import Logging
import SightlineCore
@testable import SightlineMedia
import Testing

@Suite struct ReadFramesTests {
    @Test func everyFrameInOrderEvenForASlowConsumer() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("clip.mp4")
        try await TestMedia.mp4(path, width: 160, height: 120, fps: 30, seconds: 2)
        var seqs: [UInt64] = []
        var pts: [Double] = []
        for try await frame in readFrames(of: path) {
            seqs.append(frame.seq)
            pts.append(frame.pts)
            #expect(frame.image.width == 160 && frame.image.height == 120)
            // A consumer slower than decoding: nothing may be dropped.
            if seqs.count % 10 == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(seqs == Array(0..<60))
        #expect(zip(pts, pts.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func samplesAndScales() async throws {
        var count = 0
        for try await frame in readFrames(of: Fixtures.davisMP4, sampleRate: 2, shortSide: 60, stream: "davis") {
            #expect(frame.image.width == 106 && frame.image.height == 60 && frame.stream == "davis")
            count += 1
        }
        // 3.3 s at 2 frames a second.
        #expect((6...8).contains(count))
    }

    @Test func leavingEarlyStopsTheDecoder() async throws {
        var taken = 0
        for try await _ in readFrames(of: Fixtures.davisMP4) {
            taken += 1
            if taken == 3 { break }
        }
        #expect(taken == 3)
        // The same file again, right away: a decoder left blocked would not stop this.
        var again = 0
        for try await _ in readFrames(of: Fixtures.davisMP4) { again += 1 }
        #expect(again == 80)
    }

    @Test func missingFileThrowsFileNotFound() async {
        await #expect {
            for try await _ in readFrames(of: "/nonexistent/sightline/clip.mp4") {}
        } throws: { ($0 as? SightlineError)?.code == .fileNotFound }
    }

    @Test func truncatedFileThrowsInvalidFile() async throws {
        let directory = try TemporaryDirectory()
        let cut = directory.path("cut.mp4")
        try TestMedia.truncate(Fixtures.davisMP4, to: cut, keeping: 0.7)
        await #expect {
            for try await _ in readFrames(of: cut) {}
        } throws: { error in
            let error = error as? SightlineError
            return error?.code == .invalidFile && error?.context["file"] == cut
        }
    }

    @Test func textFileThrowsInvalidFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("notes.mp4")
        try Data("hello".utf8).write(to: URL(fileURLWithPath: path))
        await #expect {
            for try await _ in readFrames(of: path) {}
        } throws: { ($0 as? SightlineError)?.code == .invalidFile }
    }
}

@Suite struct FrameReuseTests {
    /// A day-long stream must allocate no more than a minute-long one: once warmed up, the
    /// pixel arrays are reused however many more frames flow. The source runs at its own pace
    /// (a 100 fps clip, looping), which a consumer keeps up with, as on a live camera.
    @Test func pixelBuffersAreReusedOnALongRun() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("fast.mp4")
        try await TestMedia.mp4(path, width: 160, height: 120, fps: 100, seconds: 1)
        let options = SourceOptions(uri: path, sampleRate: nil, loop: true, bufferedFrames: 4)
        let source = try VideoSource(id: "long", options: options, logger: Logger(label: "test.long"))
        let task = Task { await source.run() }
        var window = try FrameWindow(size: 8, stride: 4)
        var windows = 0
        var afterWarmUp = 0
        for await frame in source.frames {
            guard let made = window.append(frame) else { continue }
            windows += 1
            // A consumer that reads the pixels, as grounding would.
            #expect(made.count == 8 && made[0].image.pixels.count == 160 * 120 * 3)
            if windows == 20 { afterWarmUp = source.statistics.pixelAllocations }
            if windows == 150 { break }
        }
        task.cancel()
        await task.value
        let statistics = source.statistics
        // 600 frames, six passes over the file.
        #expect(statistics.delivered >= 600)
        // Bounded by the frames alive at once (buffer + window + in flight; a new slot costs
        // at most two arrays while the pool grows), not by the run's length.
        #expect(statistics.pixelAllocations <= 2 * (options.bufferedFrames + 8 + 4))
        #expect(statistics.pixelAllocations - afterWarmUp <= 2)
    }
}
