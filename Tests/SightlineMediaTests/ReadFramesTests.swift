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

    @Test func keyframesOnlyDecodesOnlyKeyFrames() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("gop.mp4")
        // 60 frames, a key frame every 10.
        try await TestMedia.mp4(path, width: 160, height: 120, fps: 30, seconds: 2, keyInterval: 10)
        var frames = readFrames(of: path, keyframesOnly: true).makeAsyncIterator()
        var pts: [Double] = []
        while let frame = try await frames.next() { pts.append(frame.pts) }
        // x264 may add a key frame at a scene cut; the test pattern has none.
        #expect(pts.count == 6)
        #expect(frames.statistics.decoded == pts.count)
        #expect(zip(pts, pts.dropFirst()).allSatisfy { abs(($1 - $0) - 1.0 / 3) < 0.01 })
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
    /// pixel arrays are reused however many more frames flow. `readFrames` paces decoding by
    /// the consumer, so at most 13 frames are alive at once (a window of 8, the frame being
    /// looked at, the hand-off queue of 2, one waiting to enter it, one being decoded); the
    /// pool grows to that, at two arrays per slot, and no further.
    @Test func pixelBuffersAreReusedOnALongFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("long.mp4")
        try await TestMedia.mp4(path, width: 160, height: 120, fps: 30, seconds: 24)
        var frames = readFrames(of: path).makeAsyncIterator()
        var window = try FrameWindow(size: 8, stride: 4)
        var windows = 0
        while let frame = try await frames.next() {
            guard let made = window.append(frame) else { continue }
            windows += 1
            // A consumer that reads the pixels, as grounding would.
            #expect(made.count == 8 && made[0].image.pixels.count == 160 * 120 * 3)
        }
        let statistics = frames.statistics
        #expect(statistics.delivered == 720)
        #expect(windows == 179)
        // Bounded by the frames alive at once, not by the length of the file.
        #expect(statistics.pixelAllocations <= 2 * 13)
    }

    /// The same for a live source, which drops frames for a slow consumer instead of waiting.
    /// A busy machine changes how many frames are dropped, so the bound is stated in drops
    /// rather than as a share of the frames. The pool (capacity `bufferedFrames + 32` = 36)
    /// copies only an array the consumer still holds when the ring comes round to it; this
    /// consumer holds at most about 20 (window, buffer, the frame in hand), so each such copy
    /// needs at least 16 of the 35 frames made after that frame to have been dropped, which
    /// bounds the copies by about 2.2 per dropped frame. Growing to capacity adds at most 36
    /// new slots and 35 copies. Hence at most 2 * 36 + 3 * dropped, whatever the load; without
    /// reuse every frame would be an allocation. (About 800 frames: 17 allocations on a quiet
    /// machine; 75-81 with 150-220 dropped with the whole suite running on two cores.)
    @Test func liveSourceReusesPixelBuffers() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("fast.mp4")
        try await TestMedia.mp4(path, width: 160, height: 120, fps: 100, seconds: 1)
        let options = SourceOptions(uri: path, sampleRate: nil, loop: true, bufferedFrames: 4)
        let source = try VideoSource(id: "long", options: options, logger: Logger(label: "test.long"))
        let task = Task { await source.run() }
        var window = try FrameWindow(size: 8, stride: 4)
        var windows = 0
        for await frame in source.frames {
            guard window.append(frame) != nil else { continue }
            windows += 1
            if windows == 150 { break }
        }
        task.cancel()
        await task.value
        let statistics = source.statistics
        #expect(statistics.delivered >= 600)
        #expect(statistics.pixelAllocations <= 2 * 36 + 3 * statistics.dropped, "\(statistics)")
        // Reuse happened at all: fewer arrays than frames handed out.
        #expect(statistics.pixelAllocations < statistics.delivered, "\(statistics)")
    }
}
