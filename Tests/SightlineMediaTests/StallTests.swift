import Foundation
import SightlineCore
@testable import SightlineMedia
import Testing

/// A file whose reads never return, as on a network mount that stopped answering: a named
/// pipe. Opening it blocks until a writer comes; reading it blocks while the writer holds it
/// open and writes nothing. `release()` lets every blocked reader go (end of file).
final class StuckFile: @unchecked Sendable {
    let path: String
    private var writer: Int32 = -1

    /// `contents` nil: no writer at all, so opening the file blocks.
    init(in directory: TemporaryDirectory, contents: Data?) throws {
        path = directory.path("stuck-\(UUID().uuidString).mp4")
        guard mkfifo(path, 0o600) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        if let contents {
            // Read and write: opening does not wait for a reader, and the pipe stays open.
            writer = open(path, O_RDWR)
            guard writer >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            let written = contents.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
            guard written == contents.count else { throw POSIXError(.EIO) }
        }
    }

    func release() {
        if writer < 0 {
            // A reader blocked in open() is waiting: a writer that opens and leaves lets it
            // through to an immediate end of file.
            writer = open(path, O_WRONLY | O_NONBLOCK)
        }
        if writer >= 0 { close(writer) }
        writer = -1
    }

    deinit { release() }
}

@Suite struct StallTests {
    /// Part of an MP4 whose index comes last: the demuxer waits for the rest forever.
    static func partOfAClip() throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: Fixtures.davisMP4)).prefix(40_000)
    }

    @Test(.timeLimit(.minutes(1)), arguments: [false, true])
    func readingAFileThatStopsAnsweringEndsWithAClearError(opens: Bool) async throws {
        let directory = try TemporaryDirectory()
        let file = try StuckFile(in: directory, contents: opens ? Self.partOfAClip() : nil)
        defer { file.release() }
        await #expect {
            for try await _ in readFrames(of: file.path, stallTimeout: 1) {}
        } throws: { error in
            let error = error as? SightlineError
            return error?.code == .media && error?.message.contains("no progress for 1.0 s") == true && error?.context["file"] == file.path
        }
    }

    /// Time the consumer spends on a frame is not a stall: the decoder waits for it.
    @Test func aSlowConsumerIsNotAStall() async throws {
        var frames = 0
        // The stall timeout leaves room for a slow start on a busy machine (a start counts as
        // no progress); the consumer holds the first frame for well over that.
        for try await _ in readFrames(of: Fixtures.davisMP4, stallTimeout: 8) {
            frames += 1
            if frames == 1 { try await Task.sleep(for: .seconds(12)) }
        }
        #expect(frames == 80)
    }

    @Test func stallTimeoutMustBePositive() async {
        await #expect {
            for try await _ in readFrames(of: Fixtures.davisMP4, stallTimeout: 0) {}
        } throws: { ($0 as? SightlineError)?.code == .invalidArgument }
    }

    /// A file source stuck in opening its file stalls and then fails (starting a file again
    /// would repeat its frames), and `run()` returns although the open never does.
    @Test(.timeLimit(.minutes(1))) func aFileSourceThatStopsAnsweringFails() async throws {
        let directory = try TemporaryDirectory()
        let file = try StuckFile(in: directory, contents: nil)
        defer { file.release() }
        let run = try SourceRun("stuck", SourceOptions(uri: file.path, sampleRate: nil, realtime: false, stallTimeout: 1))
        #expect(await run.finished(timeout: 30))
        #expect(await run.states == [.starting, .stalled, .failed("no frame for 1.0 s")])
        await run.stop()
    }

    /// A looping file plays as a camera would: a stall restarts it, on a fresh thread, while
    /// the stuck one is left behind.
    @Test(.timeLimit(.minutes(1))) func aLoopingFileSourceThatStallsIsRestarted() async throws {
        let directory = try TemporaryDirectory()
        let file = try StuckFile(in: directory, contents: nil)
        defer { file.release() }
        let options = SourceOptions(uri: file.path, sampleRate: nil, loop: true, realtime: false, stallTimeout: 1,
                                    reconnect: try Backoff(initial: 0.1, maximum: 0.1, resetAfter: 60))
        let run = try SourceRun("stuck-loop", options)
        #expect(await run.wait(timeout: 45) { await $0.states.filter { $0 == .stalled }.count >= 2 })
        await run.stop()
        let states = await run.states
        #expect(states.first == .starting && states.last == .ended)
        #expect(states.contains(.reconnecting(attempt: 2)))
    }

    @Test func controlThreadRunGivesUpAtItsDeadline() async {
        let control = WorkerThread(name: "test-control")
        defer { control.close() }
        let gate = DispatchSemaphore(value: 0)
        let stuck = await control.run(timeout: .milliseconds(200)) { gate.wait(); return 1 }
        #expect(stuck == nil)
        gate.signal()
        // The thread is free again once the job ends; the next one runs.
        #expect(await control.run(timeout: .seconds(30)) { 2 } == 2)
    }
}
