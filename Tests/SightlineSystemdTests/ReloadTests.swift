#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// SIGHUP on the real daemon, as `systemctl reload` sends it: the configuration file is read
/// again and its streams and queries reconciled with the running ones between `RELOADING=1`
/// and `READY=1`, while those added over the socket stay; run-time settings take effect and
/// the others wait for a restart; a broken file changes nothing.
@Suite(.serialized) struct ReloadTests {
    static let bikes = Package.root.appendingPathComponent("Tests/Fixtures/media/bikes.mp4").path

    /// One request line on a fresh connection; the reply's JSON.
    func call(_ daemon: DaemonUnderTest, _ line: String) async throws -> [String: Any] {
        let reply = try await daemon.request(line)
        return try #require(try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any], "\(reply)")
    }

    func list(_ daemon: DaemonUnderTest, _ kind: String) async throws -> [String: [String: Any]] {
        let reply = try await call(daemon, #"{"id":1,"op":"\#(kind).list"}"#)
        let items = (reply["result"] as? [String: Any])?[kind == "stream" ? "streams" : "queries"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: items.map { ($0["id"] as? String ?? "", $0) })
    }

    /// SIGHUP; the notifications up to the `READY=1` that ends the reload.
    func reload(_ daemon: DaemonUnderTest) async throws -> [String] {
        daemon.signal(SIGHUP)
        return try #require(await daemon.waitFor { $0 == "READY=1\n" }, "no READY=1 after SIGHUP: \(daemon.log)")
    }

    @Test(.timeLimit(.minutes(3))) func reloadReconcilesTheFilesStreamsAndQueriesAndLeavesTheOthers() async throws {
        let directory = try temporaryDirectory("reload")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("sightlined.toml")
        try """
            [log]
            level = "info"

            [stream.cam1]
            uri = "\(Self.bikes)"
            loop = true
            fps = 1

            [stream.cam2]
            uri = "rtsp://127.0.0.1:1/cam2"

            [query.bikes]
            text = "a person riding a bike"
            streams = ["cam1"]

            [query.cars]
            text = "a white car"
            """.write(to: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonUnderTest(watchdogUSec: nil, environment: ["SIGHTLINE_CONFIG": config.path], logLevel: nil)
        try await daemon.start()
        _ = try #require(await daemon.waitFor { $0.contains("READY=1") }, "\(daemon.log)")

        var streams = try await list(daemon, "stream")
        var queries = try await list(daemon, "query")
        #expect(Set(streams.keys) == ["cam1", "cam2"] && streams.values.allSatisfy { $0["origin"] as? String == "config" })
        #expect(Set(queries.keys) == ["bikes", "cars"] && queries.values.allSatisfy { $0["origin"] as? String == "config" })
        // Added over the socket: a stream and a query, which no reload touches.
        let mine = try await call(daemon, #"{"id":2,"op":"stream.add","params":{"id":"mine","uri":"rtsp://127.0.0.1:1/mine","fps":0.5}}"#)
        #expect(mine["ok"] as? Bool == true, "\(mine)")
        let myQuery = try await call(daemon, #"{"id":3,"op":"query.add","params":{"text":"a dog","streams":["cam2"]}}"#)
        let myQueryID = try #require(((myQuery["result"] as? [String: Any])?["query"] as? [String: Any])?["id"] as? String)
        let refused = try await call(daemon, #"{"id":4,"op":"stream.remove","params":{"id":"cam1"}}"#)
        #expect((refused["error"] as? [String: Any])?["code"] as? String == "defined_in_config", "\(refused)")
        #expect(!daemon.log.contains(" debug "), "log.level info from the file")
        let mineBefore = try await list(daemon, "stream")["mine"] as? NSDictionary
        let myQueryBefore = try await list(daemon, "query")[myQueryID] as? NSDictionary

        // The file changes: cam1 changed, cam2 gone, cam3 new; bikes changed, cars gone, dogs
        // new; a new default and log level (run time); a deeper frame queue (restart only).
        try """
            [log]
            level = "debug"

            [scheduler]
            frames_per_stream = 9

            [streams]
            default_fps = 5

            [stream.cam1]
            uri = "\(Self.bikes)"
            loop = true
            fps = 2

            [stream.cam3]
            uri = "rtsp://127.0.0.1:1/cam3"

            [query.bikes]
            text = "a person riding a bike"
            streams = ["cam1"]
            threshold = 0.7

            [query.dogs]
            text = "a dog on a leash"
            """.write(to: config, atomically: true, encoding: .utf8)
        let notes = try await reload(daemon)
        let reloading = try #require(notes.firstIndex { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") }, "\(notes)")
        #expect(reloading < notes.count - 1)
        // READY=1 came after the reconciliation: what the file says is already in force.
        streams = try await list(daemon, "stream")
        queries = try await list(daemon, "query")
        #expect(Set(streams.keys) == ["cam1", "cam3", "mine"])
        #expect(streams["cam1"]?["fps"] as? Double == 2 && streams["cam3"]?["fps"] as? Double == 5)
        #expect(streams["cam3"]?["origin"] as? String == "config")
        #expect(Set(queries.keys) == ["bikes", "dogs", myQueryID])
        #expect(queries["bikes"]?["threshold"] as? Double == 0.7 && queries["dogs"]?["text"] as? String == "a dog on a leash")
        #expect(streams["mine"] as? NSDictionary == mineBefore && queries[myQueryID] as? NSDictionary == myQueryBefore)
        let status = try #require(await daemon.waitFor { $0.hasPrefix("STATUS=") }, "\(daemon.log)")
        #expect(status.last?.hasPrefix("STATUS=3 streams, 3 queries") == true, "\(status)")

        // Run-time settings took effect; the frame queue waits for a restart.
        let later = try await call(daemon, #"{"id":5,"op":"stream.add","params":{"id":"later","uri":"rtsp://127.0.0.1:1/later"}}"#)
        #expect(((later["result"] as? [String: Any])?["stream"] as? [String: Any])?["fps"] as? Double == 5, "\(later)")
        #expect(daemon.log.contains(" debug "), "log.level debug after the reload")
        #expect(daemon.log.contains("scheduler.frames_per_stream changed in the configuration; it takes effect at the next restart configured=9"),
                "\(daemon.log)")
        #expect(daemon.log.contains("configuration reloaded: streams +cam3 ~cam1 -cam2, queries +dogs ~bikes -cars"))

        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit() == 0, "\(daemon.log)")
    }

    @Test(.timeLimit(.minutes(2))) func aBrokenFileOnReloadChangesNothingAndTheLogNamesTheLine() async throws {
        let directory = try temporaryDirectory("reload-broken")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("sightlined.toml")
        let good = """
            [streams]
            default_fps = 3

            [stream.cam1]
            uri = "rtsp://127.0.0.1:1/cam1"

            [query.bikes]
            text = "a person riding a bike"
            """
        try good.write(to: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonUnderTest(watchdogUSec: nil, environment: ["SIGHTLINE_CONFIG": config.path])
        try await daemon.start()
        _ = try #require(await daemon.waitFor { $0.contains("READY=1") }, "\(daemon.log)")
        _ = try await call(daemon, #"{"id":1,"op":"stream.add","params":{"id":"mine","uri":"rtsp://127.0.0.1:1/mine"}}"#)
        let streams = try await list(daemon, "stream")
        let queries = try await list(daemon, "query")
        #expect(Set(streams.keys) == ["cam1", "mine"] && Set(queries.keys) == ["bikes"])

        let broken: [(text: String, line: Int, words: String)] = [
            // Not TOML: a value missing on line 5.
            (good.replacingOccurrences(of: "uri = \"rtsp://127.0.0.1:1/cam1\"", with: "uri ="), 5, "missing value"),
            // TOML, but a key no one knows.
            (good + "\n\n[stream.cam2]\nuri = \"rtsp://127.0.0.1:1/cam2\"\nfsp = 2\n", 12, "stream.cam2.fsp: unknown parameter"),
            // Valid on its own, but the id is a client's.
            (good + "\n\n[stream.mine]\nuri = \"rtsp://127.0.0.1:1/other\"\n", 10, "stream mine is defined here, but a stream with that id was added over the socket"),
        ]
        for (text, line, words) in broken {
            try (text.replacingOccurrences(of: "default_fps = 3", with: "default_fps = 7")).write(to: config, atomically: true, encoding: .utf8)
            let notes = try await reload(daemon)
            #expect(notes.contains { $0.hasPrefix("RELOADING=1") })
            #expect(daemon.log.contains("reload failed, nothing changed: \(config.path) line \(line): \(words)"), "\(daemon.log.suffix(2000))")
            #expect(Set(try await list(daemon, "stream").keys) == ["cam1", "mine"])
            #expect(Set(try await list(daemon, "query").keys) == ["bikes"])
            // Nor did the settings in the broken file take effect.
            let probe = try await call(daemon, #"{"id":2,"op":"stream.add","params":{"id":"probe","uri":"rtsp://127.0.0.1:1/probe"}}"#)
            #expect(((probe["result"] as? [String: Any])?["stream"] as? [String: Any])?["fps"] as? Double == 3, "\(probe)")
            _ = try await call(daemon, #"{"id":3,"op":"stream.remove","params":{"id":"probe"}}"#)
        }
        // Fixed, it applies.
        try (good + "\n\n[stream.cam2]\nuri = \"rtsp://127.0.0.1:1/cam2\"\n").write(to: config, atomically: true, encoding: .utf8)
        _ = try await reload(daemon)
        #expect(Set(try await list(daemon, "stream").keys) == ["cam1", "mine", "cam2"])

        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit() == 0, "\(daemon.log)")
    }

    /// A SIGHUP while the daemon starts, before its signal service has taken SIGHUP over,
    /// does not end it: the reload happens once the socket serves, with the file as it is
    /// then, after the first `READY=1`. The test holds the daemon at that point through its
    /// log: stderr is a pipe the test has filled, so the daemon stops at its first log line
    /// ("loading the model") until the test reads the pipe.
    @Test(.timeLimit(.minutes(2))) func aSIGHUPWhileTheDaemonStartsIsReloadedOnceTheSocketServes() async throws {
        let directory = try temporaryDirectory("reload-early")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("sightlined.toml")
        let before = "[stream.cam1]\nuri = \"rtsp://127.0.0.1:1/cam1\"\n"
        try before.write(to: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonUnderTest(watchdogUSec: nil, environment: ["SIGHTLINE_CONFIG": config.path], logLevel: "info")
        let logPipe = Pipe()
        let writer = logPipe.fileHandleForWriting.fileDescriptor
        let flags = fcntl(writer, F_GETFL)
        _ = fcntl(writer, F_SETFL, flags | O_NONBLOCK)
        let filler = [UInt8](repeating: UInt8(ascii: "."), count: 4096)
        while filler.withUnsafeBytes({ Glibc.write(writer, $0.baseAddress, $0.count) }) > 0 {}
        // Whatever room a page-sized write could not take, byte by byte: the pipe is full.
        while filler.withUnsafeBytes({ Glibc.write(writer, $0.baseAddress, 1) }) > 0 {}
        _ = fcntl(writer, F_SETFL, flags)
        daemon.process.standardError = logPipe.fileHandleForWriting
        try await daemon.start()
        let end = ContinuousClock.now + .seconds(60)
        while !Self.isWritingToAFullPipe(daemon.process.processIdentifier), daemon.process.isRunning, ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(Self.isWritingToAFullPipe(daemon.process.processIdentifier), "the daemon never blocked on its log")

        // The file changes and SIGHUP comes while the daemon is held.
        try (before + "\n[stream.cam2]\nuri = \"rtsp://127.0.0.1:1/cam2\"\n").write(to: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(300))
        #expect(daemon.process.isRunning, "SIGHUP while the daemon started ended it")
        // Let it go on: from now on its log is copied to the usual file.
        let reader = logPipe.fileHandleForReading
        let logFile = try FileHandle(forWritingTo: daemon.logFile)
        Thread {
            while case let data = reader.availableData, !data.isEmpty { logFile.write(data) }
        }.start()

        let notes = try #require(await daemon.waitFor { $0 == "READY=1\n" }, "\(daemon.log)")
        #expect(!notes.contains { $0.hasPrefix("RELOADING=1") }, "a reload before the first READY=1: \(notes)")
        let reload = try #require(await daemon.waitFor { $0 == "READY=1\n" }, "no reload after the first READY=1: \(daemon.log)")
        #expect(reload.contains { $0.hasPrefix("RELOADING=1") }, "\(reload)")
        #expect(daemon.log.contains("SIGHUP came while the daemon started: reloading the configuration now"), "\(daemon.log)")
        #expect(Set(try await list(daemon, "stream").keys) == ["cam1", "cam2"])

        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit() == 0, "\(daemon.log)")
        try logPipe.fileHandleForWriting.close()
    }

    /// Whether a thread of `pid` sleeps in the kernel writing to a pipe: its `wchan` is
    /// `pipe_write` (`anon_pipe_write` on newer kernels), or, where the kernel hides `wchan`
    /// ("0"), the thread is asleep in a `write` or `writev` to standard error.
    static func isWritingToAFullPipe(_ pid: Int32) -> Bool {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.contains { task in
            let base = "/proc/\(pid)/task/\(task)/"
            if ((try? String(contentsOfFile: base + "wchan", encoding: .utf8)) ?? "").hasSuffix("pipe_write") { return true }
            // "number fd ...": write and writev are 1 and 20 on x86_64, 64 and 66 on arm64.
            #if arch(x86_64)
            let writes: Set<Substring> = ["1", "20"]
            #else
            let writes: Set<Substring> = ["64", "66"]
            #endif
            let syscall = ((try? String(contentsOfFile: base + "syscall", encoding: .utf8)) ?? "").split(separator: " ")
            let stat = (try? String(contentsOfFile: base + "stat", encoding: .utf8)) ?? ""
            let sleeping = stat.split(separator: ")").last?.split(separator: " ").first == "S"
            return sleeping && syscall.count > 1 && writes.contains(syscall[0]) && syscall[1] == "0x2"
        }
    }

    /// At start the file's definitions are checked the same way, and an error stops the
    /// daemon; `--check-config` shows them.
    @Test func definitionsAreCheckedAtStartToo() async throws {
        let directory = try temporaryDirectory("reload-start")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("sightlined.toml")
        try "[stream.mine]\nuri = \"rtsp://127.0.0.1:1/x\"\n\n[query.bikes]\ntext = \"a bike\"\n".write(to: config, atomically: true, encoding: .utf8)
        let shown = try await runTool([Package.products.appendingPathComponent("sightlined").path, "--check-config", "--config", config.path])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.contains("stream mine = rtsp://127.0.0.1:1/x (\(config.path) line 1)"), "\(shown.stdout)")
        #expect(shown.stdout.contains("query bikes = \"a bike\" (\(config.path) line 4)"))

        // A client added a stream "mine" over the socket before the file defined one.
        let daemon = try DaemonUnderTest(watchdogUSec: nil, environment: ["SIGHTLINE_CONFIG": config.path])
        let state = daemon.directory.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        try #"{"version":1,"streams":[{"id":"mine","uri":"rtsp://127.0.0.1:1/mine","fps":2,"loop":false,"origin":"socket","created":"2026-11-22T10:15:03.120Z"}],"queries":[]}"#
            .write(to: state.appendingPathComponent("state.json"), atomically: true, encoding: .utf8)
        try await daemon.start()
        #expect(await daemon.waitForExit() == 1)
        #expect(daemon.log.contains("\(config.path) line 1: stream mine is defined here, but a stream with that id was added over the socket"), "\(daemon.log)")
    }
}
