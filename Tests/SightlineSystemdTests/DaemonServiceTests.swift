#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// `sightlined` under the protocol systemd speaks: notifications on a datagram socket named by
/// `NOTIFY_SOCKET`, the watchdog, SIGHUP, SIGTERM, socket activation, and the journal's log
/// format.
@Suite(.serialized) struct DaemonServiceTests {
    @Test func notifiesReadyStatusWatchdogReloadAndStopping() async throws {
        // WATCHDOG_USEC leaves room for a batch that a busy machine grounds slowly: the daemon
        // vouches only between batches, and a debug build on a loaded core takes seconds.
        let daemon = try DaemonUnderTest(watchdogUSec: 12_000_000)
        try await daemon.start()

        let startup = try #require(await daemon.waitFor { $0.contains("READY=1") }, "\(daemon.log)")
        #expect(startup.last == "READY=1\n")
        // READY=1 comes once the socket serves.
        #expect(try await daemon.request(#"{"id":1,"op":"status"}"#).contains(#""ok":true"#))
        let status = try #require(await daemon.waitFor { $0.hasPrefix("STATUS=") }, "\(daemon.log)")
        #expect(status.last?.contains("0 streams, 0 queries") == true, "\(status)")

        // A stream changes the status line.
        let add = try await daemon.request(#"{"id":2,"op":"stream.add","params":{"id":"bikes","uri":"\#(Package.root.path)/Tests/Fixtures/media/bikes.mp4","loop":true}}"#)
        #expect(add.contains(#""ok":true"#), "\(add)")
        #expect(await daemon.waitFor { $0.hasPrefix("STATUS=1 streams") } != nil)

        // Keep-alives from the scheduler's loop while it grounds frames: a few per
        // WATCHDOG_USEC, never as far apart as WATCHDOG_USEC itself.
        var times: [ContinuousClock.Instant] = []
        let window = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < window, times.count < 4 {
            if let (message, at) = await daemon.notify.nextStamped(timeout: window - ContinuousClock.now), message == "WATCHDOG=1\n" { times.append(at) }
        }
        #expect(times.count >= 4, "\(times.count) keep-alives in 30 s")
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 < .seconds(12) }, "\(gaps)")

        daemon.signal(SIGHUP)
        let reload = try #require(await daemon.waitFor { $0 == "READY=1\n" }, "\(daemon.log)")
        #expect(reload.contains { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") })

        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit() == 0, "\(daemon.log)")
        let rest = await daemon.notify.collect(for: .milliseconds(500))
        #expect(rest.contains { $0.contains("STOPPING=1") }, "\(rest) \(daemon.log.suffix(3000))")
    }

    /// With the engine call made to hang, the keep-alives stop while the process lives on:
    /// exactly what makes systemd's WatchdogSec= kill and restart it.
    @Test func keepAlivesStopWhenTheEngineHangs() async throws {
        let daemon = try DaemonUnderTest(watchdogUSec: 2_000_000, environment: ["SIGHTLINE_DEBUG_HANG_ENGINE": "1"])
        try await daemon.start()
        _ = try #require(await daemon.waitFor { $0.contains("READY=1") }, "\(daemon.log)")
        #expect(await daemon.waitFor(.seconds(10)) { $0 == "WATCHDOG=1\n" } != nil, "alive before frames arrive")

        let add = try await daemon.request(#"{"id":1,"op":"stream.add","params":{"id":"bikes","uri":"\#(Package.root.path)/Tests/Fixtures/media/bikes.mp4","loop":true}}"#)
        #expect(add.contains(#""ok":true"#), "\(add)")
        // Frames reach the engine, which never returns: within a while the keep-alives stop
        // for longer than WATCHDOG_USEC, and the process is still there.
        var last = ContinuousClock.now
        let end = ContinuousClock.now + .seconds(60)
        var silentFor = Duration.zero
        while ContinuousClock.now < end, silentFor < .seconds(5) {
            if let message = await daemon.notify.next(timeout: .milliseconds(500)), message == "WATCHDOG=1\n" { last = .now }
            silentFor = ContinuousClock.now - last
        }
        #expect(silentFor >= .seconds(5), "keep-alives went on: \(daemon.log)")
        #expect(daemon.process.isRunning)
        #expect(daemon.log.contains("SIGHTLINE_DEBUG_HANG_ENGINE=1"))
    }

    /// systemd-socket-activate holds the socket and starts sightlined on the first
    /// connection, passing it as LISTEN_FDS; the daemon serves it instead of binding its own.
    @Test func servesTheSocketPassedBySocketActivation() async throws {
        let directory = try temporaryDirectory("activation")
        defer { try? FileManager.default.removeItem(at: directory) }
        let socketPath = directory.appendingPathComponent("activated.sock").path
        let daemon = try DaemonUnderTest(watchdogUSec: nil, prefix: ["systemd-socket-activate", "-l", socketPath, "--fdname=sightlined.socket"])
        try await daemon.start()
        var present = false
        for _ in 0..<200 where !present {
            present = FileManager.default.fileExists(atPath: socketPath)
            if !present { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(present, "\(daemon.log)")
        // The daemon starts with this connection; it answers on the passed socket.
        let reply = try await requestOn(socketPath, #"{"id":1,"op":"status"}"#)
        #expect(reply.contains(#""ok":true"#), "\(reply) \(daemon.log)")
        #expect(daemon.log.contains("using the socket passed by the service manager"))
        #expect(daemon.log.contains("name=sightlined.socket"))
        #expect(!FileManager.default.fileExists(atPath: daemon.socket), "bound its own socket too")
        #expect(await daemon.waitFor(.seconds(10)) { $0.contains("READY=1") } != nil)
    }

    /// With standard error connected to "the journal" (JOURNAL_STREAM names it), every line
    /// starts with its syslog priority.
    @Test func logsWithPrioritiesWhenStandardErrorIsTheJournal() async throws {
        let daemon = try DaemonUnderTest(watchdogUSec: nil)
        var st = stat()
        stat(daemon.logFile.path, &st)
        daemon.process.environment?["JOURNAL_STREAM"] = "\(st.st_dev):\(st.st_ino)"
        try await daemon.start()
        _ = try #require(await daemon.waitFor { $0.contains("READY=1") }, "\(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit() == 0)
        let lines = daemon.log.split(separator: "\n")
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.wholeMatch(of: /<[0-7]>.*/) != nil }, "\(daemon.log)")
        #expect(lines.contains { $0.hasPrefix("<6>") })
    }

    /// `model.repository` names a model in the store, laid out as `sightline model pull`
    /// leaves it; a repository that is not there stops the daemon with the command to fix it.
    @Test func findsTheConfiguredRepositoryInTheModelStore() async throws {
        let store = try temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(at: store) }
        let snapshot = store.appendingPathComponent("acme/tiny-clip/snapshots/0123456789abcdef0123456789abcdef01234567")
        try FileManager.default.createDirectory(at: snapshot, withIntermediateDirectories: true)
        let fixture = Package.root.appendingPathComponent("Tests/Fixtures/clip/tiny-quickgelu-p8")
        for name in try FileManager.default.contentsOfDirectory(atPath: fixture.path) {
            try FileManager.default.copyItem(at: fixture.appendingPathComponent(name).resolvingSymlinksInPath(), to: snapshot.appendingPathComponent(name))
        }
        try FileManager.default.createSymbolicLink(atPath: store.appendingPathComponent("acme/tiny-clip/current").path, withDestinationPath: "snapshots/0123456789abcdef0123456789abcdef01234567")
        for (repository, found) in [("acme/tiny-clip", true), ("acme/absent", false)] {
            let config = store.appendingPathComponent("sightlined-\(found).toml")
            try "[model]\nrepository = \"\(repository)\"\n".write(to: config, atomically: true, encoding: .utf8)
            let daemon = try DaemonUnderTest(watchdogUSec: nil, environment: ["SIGHTLINE_CONFIG": config.path, "SIGHTLINE_MODEL_DIR": store.path], model: false)
            try await daemon.start()
            if found {
                _ = try #require(await daemon.waitFor { $0.contains("READY=1") }, "\(daemon.log)")
                #expect(daemon.log.contains(snapshot.path), "\(daemon.log)")
                daemon.signal(SIGTERM)
                #expect(await daemon.waitForExit() == 0)
            } else {
                #expect(await daemon.waitForExit() == 1)
                #expect(daemon.log.contains("sightline model pull acme/absent"), "\(daemon.log)")
            }
            await daemon.finish()
        }
    }

    private func requestOn(_ path: String, _ line: String) async throws -> String {
        let probe = try DaemonUnderTest(watchdogUSec: nil, model: false)
        defer { try? FileManager.default.removeItem(at: probe.directory) }
        return try await probe.request(line, path: path)
    }
}
