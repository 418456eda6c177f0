import Foundation
import SightlineHub
import SightlineTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `sightline` and `sightlined` as a user runs them from a build tree: a closed pipe, a
/// missing file, the configuration check, the model found without configuration.
@Suite(.serialized) struct CLIOutputTests {
    static let sourceRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let video = sourceRoot.appendingPathComponent("Tests/Fixtures/media/bikes.mp4").path

    static func temporaryDirectory(_ name: String) throws -> URL {
        let dir = URL(fileURLWithPath: "/tmp/sl-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// An environment that finds no configuration and no pulled model.
    static func isolated(_ dir: URL) -> [String: String] {
        ["HOME": dir.path, "XDG_CONFIG_HOME": dir.appendingPathComponent("config").path,
         "SIGHTLINE_MODEL_DIR": dir.appendingPathComponent("models").path, "PATH": "/usr/bin:/bin"]
    }

    /// A new empty file, open for writing: where a child's standard error goes.
    static func newFile(_ url: URL) throws -> FileHandle {
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        return try FileHandle(forWritingTo: url)
    }

    @Test func streamAddOfAMissingFileFailsBeforeAskingTheDaemon() async throws {
        let dir = try Self.temporaryDirectory("add")
        defer { try? FileManager.default.removeItem(at: dir) }
        let socket = dir.appendingPathComponent("none.sock").path
        for uri in [dir.path + "/missing.mp4", "file://" + dir.path + "/missing%20clip.mp4"] {
            let result = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["stream", "add", uri, "--socket", socket], environment: Self.isolated(dir))
            #expect(result.status == 1)
            #expect(result.stderr.contains("no such file"), "\(result.stderr)")
            #expect(!result.stderr.contains("none.sock"), "the daemon was asked: \(result.stderr)")
        }
        let directory = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["stream", "add", dir.path, "--socket", socket], environment: Self.isolated(dir))
        #expect(directory.status == 1 && directory.stderr.contains("is a directory"), "\(directory.stderr)")
        // A network URI is the daemon's to check.
        let remote = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["stream", "add", "rtsp://cam/live", "--socket", socket], environment: Self.isolated(dir))
        #expect(remote.status != 0 && !remote.stderr.contains("no such file"), "\(remote.stderr)")
    }

    @Test func checkConfigPrintsEverySettingWithCredentialsMasked() async throws {
        let dir = try Self.temporaryDirectory("check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("sightlined.toml")
        try "[streams]\ndefault_short_side = 360\n\n[stream.door]\nuri = \"rtsp://admin:s3cret@10.0.0.5/live\"\n\n[query.bikes]\ntext = \"a bike\"\nthreshold = 0.7\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let shown = try await ChildProcesses.run(BuiltProducts.path("sightlined"), ["--check-config", "--config", config.path], environment: Self.isolated(dir))
        #expect(shown.status == 0, "\(shown.stderr)")
        for line in ["streams.default_short_side = 360", "streams.default_fps = 2.0", "subscribers.stuck_after = 10.0",
                     "stream door = rtsp://***@10.0.0.5/live (\(config.path) line 4)",
                     "  fps = 2.0 (streams.default_fps), short_side = 360 (streams.default_short_side), loop = false",
                     "query bikes = \"a bike\" (\(config.path) line 7)",
                     "  streams = (every stream), threshold = 0.7, min_duration = 0.3 (queries.default_min_duration)"] {
            #expect(shown.stdout.contains(line + "\n"), "no \(line) in \(shown.stdout)")
        }
        #expect(!shown.stdout.contains("s3cret"))
    }

    /// A configuration error quotes the value it refuses; a password in it is masked there too,
    /// and in the CLI's errors, however the URI was mistyped.
    @Test func errorsThatQuoteAURIMaskItsPassword() async throws {
        let dir = try Self.temporaryDirectory("masked-errors")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("sightlined.toml")
        try "[stream.door]\nuri = \"rtsp:/admin:s3/cret@10.0.0.5/live\"\n".write(to: config, atomically: true, encoding: .utf8)
        let refused = try await ChildProcesses.run(BuiltProducts.path("sightlined"), ["--check-config", "--config", config.path], environment: Self.isolated(dir))
        #expect(refused.status == 1 && refused.stderr.contains("rtsp:/***@10.0.0.5/live"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("s3/cret") && !refused.stderr.contains("admin"), "\(refused.stderr)")

        let missing = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["stream", "add", "rtsp://admin:s3cret@cam/live", "--socket", dir.path + "/none.sock"],
                                                   environment: Self.isolated(dir))
        #expect(missing.status != 0 && !missing.stderr.contains("s3cret"), "\(missing.stderr)")
        // A command's error as ArgumentParser would print it, masked.
        let ground = try await ChildProcesses.run(BuiltProducts.path("sightline"), [
            "ground", "rtsp://admin:s3cret@127.0.0.1:1/x", "--query", "a bike", "--out", dir.path + "/out", "--model", "/nonexistent",
        ], environment: Self.isolated(dir))
        #expect(ground.status == 1 && ground.stderr.contains("rtsp://***@127.0.0.1:1/x") && !ground.stderr.contains("s3cret"), "\(ground.stderr)")
    }

    /// From a build tree with nothing configured the daemon runs the source tree's tiny test
    /// model and says so; `sightline tail | head -2` then ends quietly with status 0.
    @Test func tailIntoAClosedPipeEndsQuietly() async throws {
        let dir = try Self.temporaryDirectory("tail")
        defer { try? FileManager.default.removeItem(at: dir) }
        let socket = dir.appendingPathComponent("s.sock").path
        let environment = Self.isolated(dir)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: BuiltProducts.path("sightlined"))
        daemon.arguments = ["--socket", socket, "--state-dir", dir.appendingPathComponent("state").path]
        daemon.environment = environment
        let log = dir.appendingPathComponent("daemon.log")
        daemon.standardError = try Self.newFile(log)
        daemon.standardOutput = FileHandle.nullDevice
        try await ChildProcesses.start(daemon)
        defer {
            if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) }
        }
        let end = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: socket), daemon.isRunning, ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(50))
        }
        let daemonLog = { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        try #require(FileManager.default.fileExists(atPath: socket), "\(daemonLog())")
        #expect(daemonLog().contains("running the bundled tiny test model"), "\(daemonLog())")
        #expect(daemonLog().contains("Tests/Fixtures/clip/tiny-gelu-p14"))

        let add = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["stream", "add", Self.video, "--loop", "--fps", "5", "--socket", socket], environment: environment)
        #expect(add.status == 0, "\(add.stderr)")
        let query = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["query", "add", "a tree", "--socket", socket], environment: environment)
        #expect(query.status == 0, "\(query.stderr)")

        let tail = Process()
        tail.executableURL = URL(fileURLWithPath: BuiltProducts.path("sightline"))
        tail.arguments = ["tail", "--socket", socket]
        tail.environment = environment
        let pipe = Pipe()
        tail.standardOutput = pipe
        let tailErrors = dir.appendingPathComponent("tail.err")
        tail.standardError = try Self.newFile(tailErrors)
        tail.standardInput = FileHandle.nullDevice
        try await ChildProcesses.start(tail)
        // Our copy of the write end goes, so that the read end sees only the child's.
        try pipe.fileHandleForWriting.close()
        // Read two lines, as `head -2` does, then close the read end.
        let reader = pipe.fileHandleForReading
        let lines = await Task.detached { () -> Int in
            var seen = 0
            var buffer = [UInt8](repeating: 0, count: 4096)
            while seen < 2 {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(reader.fileDescriptor, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { break }
                seen += buffer[..<n].filter { $0 == UInt8(ascii: "\n") }.count
            }
            return seen
        }.value
        #expect(lines >= 2)
        try reader.close()
        let status = await ChildProcesses.waitForExit(tail, timeout: .seconds(60))
        let errors = (try? String(contentsOf: tailErrors, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(errors)")
        #expect(tail.terminationReason == .exit)
        #expect(errors.isEmpty, "\(errors)")
        kill(daemon.processIdentifier, SIGTERM)
        _ = await ChildProcesses.waitForExit(daemon, timeout: .seconds(20))
    }

    @Test func buildTreeExecutablesFindTheFixtureModel() throws {
        let fixtures = try #require(ModelResolver.buildTreeModels(executable: URL(fileURLWithPath: BuiltProducts.path("sightlined"))))
        #expect(fixtures.path == Self.sourceRoot.appendingPathComponent("Tests/Fixtures/clip").standardizedFileURL.path)
        let resolver = ModelResolver.standard(environment: ["HOME": "/nonexistent"], userID: 1000, executable: URL(fileURLWithPath: BuiltProducts.path("sightlined")))
        #expect(resolver.bundledTestModel()?.path == fixtures.appendingPathComponent("tiny-gelu-p14").path)
        #expect(try resolver.resolve("tiny-gelu-p14").path == fixtures.appendingPathComponent("tiny-gelu-p14").path)
        #expect(ModelResolver.buildTreeModels(executable: URL(fileURLWithPath: "/opt/sl/bin/sightlined")) == nil)
    }

    @Test func embedTakesARepositoryIdFromTheStore() async throws {
        let dir = try Self.temporaryDirectory("embed")
        defer { try? FileManager.default.removeItem(at: dir) }
        var environment = Self.isolated(dir)
        let store = dir.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: store.appendingPathComponent("acme"), withIntermediateDirectories: true)
        // A checkpoint placed by hand at `<store>/<owner>/<name>`.
        try FileManager.default.createSymbolicLink(at: store.appendingPathComponent("acme/tiny"),
                                                   withDestinationURL: Self.sourceRoot.appendingPathComponent("Tests/Fixtures/clip/tiny-gelu-p14"))
        environment["SIGHTLINE_MODEL_DIR"] = store.path
        let result = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["embed", "--model", "acme/tiny", "--text", "a bike", "--json"], environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"directory\":\"\(store.path)/acme/tiny\""), "\(result.stdout.prefix(300))")
        let missing = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["embed", "--model", "acme/absent", "--text", "a"], environment: environment)
        #expect(missing.status == 1 && missing.stderr.contains("sightline model pull acme/absent"), "\(missing.stderr)")
    }

    @Test func aFailedPullLeavesNothingBehind() async throws {
        let dir = try Self.temporaryDirectory("pull")
        defer { try? FileManager.default.removeItem(at: dir) }
        var environment = Self.isolated(dir)
        environment["HF_ENDPOINT"] = "http://127.0.0.1:1"
        let result = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["model", "pull", "acme/tiny"], environment: environment)
        #expect(result.status == 1 && result.stderr.contains("cannot reach"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("models").path))
    }

    @Test func helpTextsSayWhatTheCommandsDo() async throws {
        func help(_ arguments: [String]) async throws -> String {
            let result = try await ChildProcesses.run(BuiltProducts.path("sightline"), arguments + ["--help"], environment: ["PATH": "/usr/bin:/bin", "COLUMNS": "100"])
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout
        }
        let tail = try await help(["tail"])
        for word in ["match.start", "stream.status", "lagged", "score", "box"] { #expect(tail.contains(word), "tail --help lacks \(word)") }
        #expect(try await help(["ground"]).contains("<file> --query <query> ..."))
        let uninstall = try await help(["uninstall"])
        #expect(uninstall.contains("--user") && !uninstall.contains("Install a service"), "\(uninstall)")
        #expect(try await help(["query", "add"]).contains("queries.default_min_duration, 0.3"))
        let embed = try await help(["embed"])
        #expect(embed.contains("decodebin opens). By default an image") || embed.contains("decodebin opens).\nBy default an image"), "\(embed)")
    }

    @Test func installDryRunMarksOnlyWhatWouldChange() async throws {
        let dir = try Self.temporaryDirectory("dry")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["install", "--dry-run", "--destdir", dir.path], environment: Self.isolated(dir))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("would create \(dir.path)/usr/local/bin/sightlined"))
        #expect(result.stdout.contains("would mkdir "))
        for line in result.stdout.split(separator: "\n") where line.hasPrefix("would ") {
            let action = line.dropFirst(6).prefix { $0 != " " }
            #expect(["create", "update", "remove", "mkdir", "rmdir", "run"].contains(String(action)), "\(line)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { $0 == "config" || $0 == "models" })
    }
}
