import Foundation
import SightlineClient
import SightlineCore
import SightlineProtocol
import SightlineTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every `match.start` a subscriber hears is followed by one `match.end`, whichever way the
/// match goes: its stream ends, fails, is removed or reconfigured, its query is removed or
/// changed, or the daemon stops. Each path on the real daemon with the tiny model, GStreamer
/// on the DAVIS clip and a subscriber on the Unix socket.
///
/// The tiny model's probabilities mean nothing; with a threshold of 0.05 and no minimum
/// duration its masks cover most of every frame, so a match starts at the first frame
/// grounded and stays open (a looping stream ends it only as each pass begins again). Each
/// test waits for one to start, takes the path, and fails if a match it heard start is still
/// open when the path's end has been announced (or the connection closed), or if one ended
/// twice.
@Suite(.serialized) struct MatchEndTests {
    static let clip = DaemonProcess.fixtures.appendingPathComponent("davis/bmx-trees-428x240.mp4").path
    static let matching = QuerySpec(text: "a person riding a bike", threshold: 0.05, minDuration: 0)
    /// Generous: the debug daemon grounds a few frames a second on a busy machine.
    static let patience: Duration = .seconds(90)

    /// A daemon with the matching query, a subscriber without masks, and `stream` added.
    func withStream<T>(_ stream: StreamSpec, daemon: DaemonProcess,
                       _ body: (DaemonClient, String) async throws -> T) async throws -> T {
        try await daemon.client { client in
            let query = try await client.request(.queryAdd(Self.matching))["query"]!["id"]!.stringValue!
            _ = try await client.request(.subscribe(Subscription(detail: .none)))
            _ = try await client.request(.streamAdd(stream))
            return try await body(client, query)
        }
    }

    @Test(.timeLimit(.minutes(3))) func aFileThatEndsEndsItsMatchesBeforeItsEndedStatus() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        try await withStream(StreamSpec(id: "bmx", uri: Self.clip, fps: 4), daemon: daemon) { client, _ in
            var ledger = MatchLedger()
            let ended = try await client.read(into: &ledger, deadline: .now + Self.patience) { event, _ in
                event.isStatus(of: "bmx", "ended")
            }
            #expect(ended != nil, "no ended status: \(ledger.summary)")
            #expect(!ledger.starts.isEmpty, "no match started: \(ledger.summary)")
            #expect(ledger.open.isEmpty, "open after the stream's end: \(ledger.open.keys.sorted())\n\(ledger.summary)")
            #expect(ledger.problems.isEmpty, "\(ledger.problems)")
            // The match open at the last frame ends with the file.
            #expect(ledger.ends.last?.reason == "stream_ended", "\(ledger.summary)")
            #expect(ledger.ends.allSatisfy { ["stream_ended", "not_seen"].contains($0.reason) }, "\(ledger.summary)")
        }
        #expect(await daemon.stop() == 0)
    }

    @Test(.timeLimit(.minutes(3))) func aStreamThatFailsEndsItsMatchesBeforeItsFailedStatus() async throws {
        // Frames, then none: a file that stalls fails.
        try await withHeldBackStream { client, _, _ in
            var ledger = MatchLedger()
            try await client.waitForAMatch(into: &ledger, within: Self.patience)
            let failed = try await client.read(into: &ledger, deadline: .now + Self.patience) { event, _ in
                event.isStatus(of: "held", "failed")
            }
            #expect(failed != nil, "no failed status: \(ledger.summary)")
            #expect(ledger.open.isEmpty, "open after the stream failed: \(ledger.open.keys.sorted())\n\(ledger.summary)")
            #expect(ledger.problems.isEmpty, "\(ledger.problems)")
            #expect(ledger.ends.last?.reason == "stream_failed", "\(ledger.summary)")
        }
    }

    /// The first two thirds of the clip as MPEG-TS (read as it arrives, unlike an MP4 with its
    /// index at the end) in a file that then stops answering: frames, then none, and after
    /// the stall timeout (10 s) a stall.
    func heldBackClip(in daemon: DaemonProcess) async throws -> HeldBackFile {
        let ts = daemon.directory + "/bmx.ts"
        let made = try await ChildProcesses.run("/usr/bin/gst-launch-1.0", [
            "-q", "filesrc", "location=\(Self.clip)", "!", "qtdemux", "!", "h264parse", "!", "mpegtsmux", "!", "filesink", "location=\(ts)",
        ])
        try #require(made.status == 0, "\(made.stderr)")
        let whole = try Data(contentsOf: URL(fileURLWithPath: ts))
        return try HeldBackFile(path: daemon.directory + "/held-\(UUID().uuidString).ts", contents: whole.prefix(whole.count * 2 / 3))
    }

    /// A daemon with the matching query and the held-back clip as stream `held` (`loop`: a
    /// source that restarts, as a camera does). The file is let go before the daemon stops:
    /// a pipeline blocked reading the silent file takes up to 10 s to stop, and the end of
    /// the file frees it at once.
    func withHeldBackStream(loop: Bool = false, _ body: (DaemonClient, String, HeldBackFile) async throws -> Void) async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let file = try await heldBackClip(in: daemon)
        defer { file.release() }
        try await withStream(StreamSpec(id: "held", uri: file.path, fps: 4, loop: loop), daemon: daemon) { try await body($0, $1, file) }
        file.release()
        #expect(await daemon.stop() == 0)
    }

    /// Waits until the held-back file has given all its frames and the engine has taken
    /// them: the stream's frame counts in `status` stay the same for a second (frames come
    /// every 0.25 s while there are any). The stall follows 10 s after the last frame.
    func waitForTheLastFrame(of stream: String, client: DaemonClient) async throws {
        var last: [Int] = []
        var since = ContinuousClock.now
        let deadline = ContinuousClock.now + Self.patience
        while ContinuousClock.now < deadline {
            let entry = try await client.request(.status)["streams"]?.arrayValue?.first { $0["id"] == .string(stream) }
            let counts = ["frames", "processed", "drops"].map { entry?[$0]?.intValue ?? 0 }
            if counts != last {
                (last, since) = (counts, .now)
            } else if counts[0] > 0, since.duration(to: .now) >= .seconds(1) {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the frames of \(stream) kept coming: \(last)")
    }

    /// A source that can be restarted (here a looping file; a camera likewise) stalls and
    /// reconnects: nothing is seen until it is back, if ever, so its matches end then.
    @Test(.timeLimit(.minutes(3))) func aStreamThatStallsAndReconnectsEndsItsMatches() async throws {
        try await withHeldBackStream(loop: true) { client, _, _ in
            var ledger = MatchLedger()
            try await client.waitForAMatch(into: &ledger, within: Self.patience)
            let stalled = try await client.read(into: &ledger, deadline: .now + Self.patience) { event, _ in
                event.isStatus(of: "held", "stalled")
            }
            try #require(stalled != nil, "no stall: \(ledger.summary)")
            // The source stalls again every 10 s or so while the file stays silent, so events
            // keep coming for the deadline to be checked.
            let since = ledger.ends.count
            _ = try await client.read(into: &ledger, deadline: .now + .seconds(60)) { _, ledger in ledger.open.isEmpty }
            #expect(ledger.open.isEmpty, "open after the stream stalled: \(ledger.open.keys.sorted())\n\(ledger.summary)")
            #expect(!ledger.ends[since...].isEmpty && ledger.ends[since...].allSatisfy { $0.reason == "stream_failed" }, "\(ledger.summary)")
            #expect(ledger.problems.isEmpty, "\(ledger.problems)")
        }
    }

    /// The matches of a query removed while its stream sends no frame end at once, not at the
    /// stream's next frame (which may never come).
    @Test(.timeLimit(.minutes(3))) func removingAQueryWhileItsStreamIsSilentEndsItsMatchesAtOnce() async throws {
        try await withHeldBackStream { client, query, _ in
            var ledger = MatchLedger()
            try await client.waitForAMatch(into: &ledger, within: Self.patience)
            try await waitForTheLastFrame(of: "held", client: client)
            _ = try await client.request(.queryRemove(id: query))
            let stalledOrEnded = try await client.read(into: &ledger, deadline: .now + Self.patience) { event, ledger in
                ledger.open.isEmpty || event.isStatus(of: "held", "stalled")
            }
            #expect(stalledOrEnded?["event"] != "stream.status", "the matches did not end before the stall: \(ledger.summary)")
            #expect(ledger.open.isEmpty, "\(ledger.open.keys.sorted())\n\(ledger.summary)")
            #expect(ledger.ends.last?.reason == "query_removed", "\(ledger.summary)")
            #expect(ledger.problems.isEmpty, "\(ledger.problems)")
        }
    }

    @Test(.timeLimit(.minutes(3))) func removingAStreamEndsItsMatchesBeforeItsEndedStatus() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        try await withStream(StreamSpec(id: "bmx", uri: Self.clip, fps: 4, loop: true), daemon: daemon) { client, _ in
            var ledger = MatchLedger()
            try await client.waitForAMatch(into: &ledger, within: Self.patience)
            _ = try await client.request(.streamRemove(id: "bmx"))
            let removed = try await client.read(into: &ledger, deadline: .now + Self.patience) { event, _ in
                event.isStatus(of: "bmx", "ended")
            }
            #expect(removed?["error"] == "removed", "\(ledger.summary)")
            #expect(ledger.open.isEmpty, "open after the stream was removed: \(ledger.open.keys.sorted())\n\(ledger.summary)")
            #expect(ledger.problems.isEmpty, "\(ledger.problems)")
            #expect(ledger.ends.last?.reason == "stream_removed", "\(ledger.summary)")
        }
        #expect(await daemon.stop() == 0)
    }

    @Test(.timeLimit(.minutes(3))) func removingAQueryEndsItsMatchesAndOnlyThose() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        // A clip long enough (40 s) that no loop restart ends the matches before the removal does.
        let long = DaemonProcess.fixtures.appendingPathComponent("media/bottle-detection.mp4").path
        try await withStream(StreamSpec(id: "bmx", uri: long, fps: 4, loop: true), daemon: daemon) { client, removed in
            let kept = try await client.request(.queryAdd(QuerySpec(text: "a tree", threshold: 0.05, minDuration: 0)))["query"]!["id"]!
            var ledger = MatchLedger()
            let started = try await client.read(into: &ledger, deadline: .now + Self.patience) { event, _ in
                event.isMatchStart && event["query"] == .string(removed)
            }
            try #require(started != nil, "no match of the query started: \(ledger.summary)")
            _ = try await client.request(.queryRemove(id: removed))
            let openThen = Set(ledger.open.filter { $0.value["query"] == .string(removed) }.keys)
            let since = ledger.ends.count
            // The stream goes on, and the other query's events keep coming while this waits.
            _ = try await client.read(into: &ledger, deadline: .now + Self.patience) { _, ledger in
                ledger.reasons(of: openThen, since: since).count == openThen.count
            }
            let reasons = ledger.reasons(of: openThen, since: since)
            #expect(reasons.count == openThen.count, "matches of the removed query still open: \(openThen) \(ledger.summary)")
            #expect(reasons.values.contains("query_removed"), "\(reasons) \(ledger.summary)")
            // Then it starts no match again, while the other query goes on.
            let endsNow = ledger.ends.count
            var keptEvents = 0
            _ = try await client.read(into: &ledger, deadline: .now + Self.patience) { event, _ in
                if event["query"] == kept { keptEvents += 1 }
                return keptEvents >= 5
            }
            #expect(keptEvents >= 5, "the stream stopped: \(ledger.summary)")
            #expect(ledger.open.filter { $0.value["query"] == .string(removed) }.isEmpty, "\(ledger.summary)")
            #expect(!ledger.ends[endsNow...].contains { $0.query == removed }, "\(ledger.summary)")
            #expect(ledger.problems.isEmpty, "\(ledger.problems)")
            // The other query's matches were left alone.
            #expect(!ledger.ends.contains { $0.query == kept.stringValue && $0.reason == "query_removed" })
        }
        #expect(await daemon.stop() == 0)
    }

    /// A reload that changes a stream's definition restarts it; one that changes a query's
    /// ends its matches, which start afresh.
    @Test(.timeLimit(.minutes(3))) func reconfiguringAStreamOrAQueryEndsTheirMatches() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-matchend-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("sightlined.toml").path
        func write(fps: Int, threshold: Double) throws {
            try """
                [stream.cam]
                uri = "\(Self.clip)"
                fps = \(fps)
                loop = true

                [query.bikes]
                text = "a person riding a bike"
                threshold = \(threshold)
                min_duration = 0
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        try write(fps: 4, threshold: 0.05)
        let daemon = try DaemonProcess(environment: ["SIGHTLINE_CONFIG": config])
        defer { daemon.cleanUp() }
        try await daemon.start()
        let pid = try #require(daemon.process?.processIdentifier)
        try await daemon.client { client in
            _ = try await client.request(.subscribe(Subscription(detail: .none)))
            var ledger = MatchLedger()
            try await client.waitForAMatch(into: &ledger, within: Self.patience)

            try write(fps: 3, threshold: 0.05)
            kill(pid, SIGHUP)
            let restarted = try await client.read(into: &ledger, deadline: .now + Self.patience) { event, _ in
                event.isStatus(of: "cam", "ended")
            }
            #expect(restarted?["error"] == "reconfigured", "\(ledger.summary)")
            #expect(ledger.open.isEmpty, "open after the stream was reconfigured: \(ledger.open.keys.sorted())\n\(ledger.summary)")
            #expect(ledger.ends.last?.reason == "stream_reconfigured", "\(ledger.summary)")

            // The restarted stream matches again; then the query changes.
            try await client.waitForAMatch(into: &ledger, within: Self.patience, " after the restart")
            try write(fps: 3, threshold: 0.06)
            let openThen = Set(ledger.open.keys)
            let since = ledger.ends.count
            kill(pid, SIGHUP)
            _ = try await client.read(into: &ledger, deadline: .now + Self.patience) { _, ledger in
                ledger.reasons(of: openThen, since: since).count == openThen.count
            }
            let reasons = ledger.reasons(of: openThen, since: since)
            #expect(reasons.count == openThen.count, "still open after the query changed: \(openThen) \(ledger.summary)")
            #expect(reasons.values.contains("query_reconfigured"), "\(reasons) \(ledger.summary)")
            #expect(ledger.problems.isEmpty, "\(ledger.problems)")
        }
        #expect(await daemon.stop() == 0)
    }

    /// SIGTERM: the ends come before the daemon closes the connection.
    @Test(.timeLimit(.minutes(3))) func stoppingTheDaemonEndsEveryOpenMatchBeforeTheSocketCloses() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let process = try #require(daemon.process)
        try await withStream(StreamSpec(id: "bmx", uri: Self.clip, fps: 4, loop: true), daemon: daemon) { client, _ in
            var ledger = MatchLedger()
            try await client.waitForAMatch(into: &ledger, within: Self.patience)
            let endsBefore = ledger.ends.count
            process.terminate()
            // Reads to the end of the connection.
            let last = try await client.read(into: &ledger, deadline: .now + Self.patience) { _, _ in false }
            #expect(last == nil)
            #expect(ledger.open.isEmpty, "open when the daemon closed the connection: \(ledger.open.keys.sorted())\n\(ledger.summary)")
            #expect(ledger.problems.isEmpty, "\(ledger.problems)")
            #expect(ledger.ends.dropFirst(endsBefore).contains { $0.reason == "shutdown" }, "\(ledger.summary)")
        }
        #expect(await ChildProcesses.waitForExit(process, timeout: .seconds(30)) == 0, "\(daemon.log().suffix(3000))")
    }

    /// A stream removed just as it reaches its end: the file's end (the held-back file let go)
    /// and `stream.remove` race; each match ends once, by whichever came first.
    @Test(.timeLimit(.minutes(3))) func aStreamRemovedWhileItEndsEndsEachMatchOnce() async throws {
        try await withHeldBackStream { client, _, file in
            var ledger = MatchLedger()
            try await client.waitForAMatch(into: &ledger, within: Self.patience)
            // The file's frames are in; its end comes as the stream is removed.
            try await waitForTheLastFrame(of: "held", client: client)
            file.release()
            _ = try await client.request(.streamRemove(id: "held"))
            let removed = try await client.read(into: &ledger, deadline: .now + Self.patience) { event, _ in
                event.isStatus(of: "held", "ended") && event["error"] == "removed"
            }
            #expect(removed != nil, "\(ledger.summary)")
            #expect(ledger.open.isEmpty, "open after the stream was removed: \(ledger.open.keys.sorted())\n\(ledger.summary)")
            #expect(ledger.problems.isEmpty, "\(ledger.problems)\n\(ledger.summary)")
            #expect(ledger.ends.allSatisfy { ["stream_ended", "stream_removed", "not_seen"].contains($0.reason) }, "\(ledger.summary)")
        }
    }

    /// Two paths at once (the stream and its query removed together over two connections,
    /// then the daemon stopped) end each match once.
    @Test(.timeLimit(.minutes(3))) func pathsThatRaceEndEachMatchOnce() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let process = try #require(daemon.process)
        try await withStream(StreamSpec(id: "bmx", uri: Self.clip, fps: 4, loop: true), daemon: daemon) { client, query in
            _ = try await client.request(.streamAdd(StreamSpec(id: "other", uri: Self.clip, fps: 4, loop: true)))
            var ledger = MatchLedger()
            var streams: Set<String> = []
            _ = try await client.read(into: &ledger, deadline: .now + Self.patience) { event, _ in
                if event.isMatchStart, let stream = event["stream"]?.stringValue { streams.insert(stream) }
                return streams.count == 2
            }
            try #require(streams.count == 2, "no match started on both streams: \(ledger.summary)")
            let socket = daemon.socket
            async let removeStream: Void = DaemonClient.withConnection(socketPath: socket) { _ = try await $0.request(.streamRemove(id: "bmx")) }
            async let removeQuery: Void = DaemonClient.withConnection(socketPath: socket) { _ = try await $0.request(.queryRemove(id: query)) }
            _ = try await (removeStream, removeQuery)
            process.terminate()
            let last = try await client.read(into: &ledger, deadline: .now + Self.patience) { _, _ in false }
            #expect(last == nil)
            #expect(ledger.open.isEmpty, "open when the daemon closed the connection: \(ledger.open.keys.sorted())\n\(ledger.summary)")
            #expect(ledger.problems.isEmpty, "\(ledger.problems)\n\(ledger.summary)")
        }
        #expect(await ChildProcesses.waitForExit(process, timeout: .seconds(30)) == 0, "\(daemon.log().suffix(3000))")
    }
}
