import Foundation
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import SightlineTestSupport
import Synchronization
import Testing

/// `ground` requests share the engine with the live streams, and nothing of theirs blocks the
/// daemon's cooperative pool (two threads on these machines): the real `sightlined` with the
/// tiny model, a live file stream, and grounds over the socket.
@Suite(.serialized) struct GroundWhileLiveTests {
    static let clip = DaemonProcess.fixtures.appendingPathComponent("media/bikes.mp4").path
    /// 40 small frames of the 10 s clip: a ground of several seconds in a debug build (most
    /// of it decoding at the clip's pace), long enough for the checks below to happen while
    /// it runs, short enough for a loaded machine.
    static let groundFPS = 4.0
    static let groundShortSide = 128
    static let groundFrames = 38...40

    /// What the test's tasks saw, in the order they saw it.
    final class Progress: Sendable {
        struct State {
            var groundsStarted = 0
            var groundsFinished = 0
            var groundFrames: [Int] = []
            var groundSeconds: [Double] = []
            /// For each status answered: its latency, whether every ground was in flight
            /// when it came back, and the live stream's processed count in it.
            var statuses: [(seconds: Double, duringGrounds: Bool, processed: Int)] = []
        }
        let state = Mutex(State())
        var snapshot: State { state.withLock { $0 } }
    }

    /// A daemon with a standing query and the clip as a looping live stream (small frames
    /// too) that is being grounded (its processed count has moved).
    static func startWithLiveStream() async throws -> DaemonProcess {
        let daemon = try DaemonProcess()
        try await daemon.start()
        try await daemon.client { client in
            _ = try await client.request(.queryAdd(QuerySpec(text: "a person riding a bike", threshold: 0.05, minDuration: 0)))
            _ = try await client.request(.streamAdd(StreamSpec(id: "live", uri: clip, fps: 4, loop: true, shortSide: groundShortSide)))
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while try await processed(daemon) == 0 {
            guard ContinuousClock.now < deadline else { throw SightlineError(.system, "the live stream processed nothing in 60 s: \(daemon.log())") }
            try await Task.sleep(for: .milliseconds(50))
        }
        return daemon
    }

    static func processed(_ daemon: DaemonProcess) async throws -> Int {
        try await daemon.client { try await processed(in: $0.request(.status)) }
    }

    static func processed(in status: JSONObject) -> Int {
        status["streams"]?.arrayValue?.first { $0["id"] == "live" }?["processed"]?.intValue ?? 0
    }

    /// One ground request on its own connection, read line by line: sending it marks it as in
    /// flight, its reply as finished. (Not its first event: which batch first matches depends
    /// on the model and the frames, and on a loaded machine that came only in the last one.)
    static func ground(_ daemon: DaemonProcess, stream: String, path: String = clip, shortSide: Int = groundShortSide,
                       progress: Progress) async throws {
        try await daemon.client { client in
            let request = Request(id: .integer(1), operation: .ground(GroundSpec(
                path: path, texts: ["a person riding a bike"], fps: groundFPS, threshold: 0.05, detail: .box, stream: stream,
                shortSide: shortSide)))
            try await client.send(raw: JSONWriter.line(request.json))
            progress.state.withLock { $0.groundsStarted += 1 }
            while let line = try await client.nextLine() {
                let message = try JSONParser().parse(line)
                if message["event"] != nil { continue }
                let result = try Reply(json: message).outcome.get()
                progress.state.withLock {
                    $0.groundsFinished += 1
                    $0.groundFrames.append(result["frames"]?.intValue ?? -1)
                    $0.groundSeconds.append(result["seconds"]?.doubleValue ?? 0)
                }
                return
            }
            throw SightlineError(.system, "the daemon closed the ground connection")
        }
    }

    /// Status requests one after another on one connection, from when every ground is in
    /// flight until every ground has finished.
    static func pollStatus(_ daemon: DaemonProcess, grounds: Int, progress: Progress) async throws {
        let waitUntil = ContinuousClock.now + .seconds(120)
        while progress.snapshot.groundsStarted < grounds, progress.snapshot.groundsFinished == 0, ContinuousClock.now < waitUntil {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await daemon.client { client in
            while progress.snapshot.groundsFinished < grounds {
                let sent = ContinuousClock.now
                let status = try await client.request(.status)
                let seconds = (ContinuousClock.now - sent) / .seconds(1)
                progress.state.withLock {
                    $0.statuses.append((seconds, $0.groundsFinished == 0, processed(in: status)))
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// The live stream keeps producing while a ground request runs, and the request gets
    /// every frame of its file: the engine's lock serves the two in turn.
    @Test(.timeLimit(.minutes(5))) func aGroundRequestAndTheLiveStreamBothMakeProgress() async throws {
        let daemon = try await Self.startWithLiveStream()
        defer { daemon.cleanUp() }
        let before = try await Self.processed(daemon)
        let progress = Progress()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await Self.ground(daemon, stream: "once", progress: progress) }
            group.addTask { try await Self.pollStatus(daemon, grounds: 1, progress: progress) }
            try await group.waitForAll()
        }
        let seen = progress.snapshot
        #expect(seen.groundFrames.count == 1 && Self.groundFrames.contains(seen.groundFrames[0]), "\(seen.groundFrames)")
        let during = seen.statuses.filter(\.duringGrounds)
        #expect(!during.isEmpty, "no status came back while the ground ran")
        // Live frames were grounded between the engine's turns for the request.
        #expect((during.map(\.processed).max() ?? 0) > before, "live processed \(before) before, \(during.map(\.processed)) during the ground")
        #expect(await daemon.stop() == 0)
    }

    /// Two ground requests run at once (as many as the cooperative pool has threads) and a
    /// status request still answers promptly, again and again, while both are in flight.
    /// Were a ground's batches (or its engine waits, or its text encoding) run on the pool,
    /// the two grounds would hold both of its threads for a batch at a time and a status
    /// would wait up to a batch for one to come free. The bound is that, halved: a batch of
    /// four full-HD frames takes seconds in a debug build, a status milliseconds; both slow
    /// down together on a loaded machine, so their ratio does not depend on its speed.
    @Test(.timeLimit(.minutes(5))) func statusAnswersWhileGroundRequestsRun() async throws {
        let daemon = try await Self.startWithLiveStream()
        defer { daemon.cleanUp() }
        let big = daemon.directory + "/full-hd.mp4"
        let made = try await ChildProcesses.run("/usr/bin/gst-launch-1.0", ["-q"] + (
            "videotestsrc num-buffers=100 pattern=smpte ! video/x-raw,format=I420,width=1920,height=1080,framerate=25/1 "
                + "! x264enc speed-preset=ultrafast key-int-max=25 ! video/x-h264,profile=baseline ! h264parse ! mp4mux "
                + "! filesink location=\(big)").split(separator: " ").map(String.init))
        try #require(made.status == 0, "gst-launch-1.0: \(made.stderr)")
        let progress = Progress()
        try await withThrowingTaskGroup(of: Void.self) { group in
            // 4 s at 4 fps: 16 frames each, four batches, at the file's own size.
            group.addTask { try await Self.ground(daemon, stream: "first", path: big, shortSide: 0, progress: progress) }
            group.addTask { try await Self.ground(daemon, stream: "second", path: big, shortSide: 0, progress: progress) }
            group.addTask { try await Self.pollStatus(daemon, grounds: 2, progress: progress) }
            try await group.waitForAll()
        }
        let seen = progress.snapshot
        #expect(seen.groundsStarted == 2 && seen.groundsFinished == 2)
        #expect(seen.groundFrames.allSatisfy { (15...16).contains($0) }, "\(seen.groundFrames)")
        let during = seen.statuses.filter(\.duringGrounds)
        #expect(during.count >= 3, "\(during.count) statuses came back while both grounds ran: \(seen.statuses)")
        let batchSeconds = zip(seen.groundSeconds, seen.groundFrames).map { seconds, frames in seconds / Double(max(1, (frames + 3) / 4)) }
        let bound = (batchSeconds.min() ?? 0) / 2
        let slowest = during.map(\.seconds).max() ?? .infinity
        #expect(slowest < bound, "a status took \(slowest) s while grounds ran; a ground's batch took \(batchSeconds) s")
        #expect(await daemon.stop() == 0)
    }
}
