import Foundation
import SightlineClient
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import SightlineTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The real `sightlined` executable, run as a child process on a socket in a temporary
/// directory. The directory is 0711 so that another uid can reach the socket inside it.
final class DaemonProcess: @unchecked Sendable {
    let directory: String
    var socket: String { directory + "/sightline.sock" }
    var stateDirectory: String { directory + "/state" }
    let logFile: String
    private(set) var process: Process?
    let extraArguments: [String]
    let executablePath: String
    let extraEnvironment: [String: String]

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    /// The bundled tiny test model: the daemon does not start without a model, and this one
    /// loads in an instant.
    static let tinyModel = fixtures.appendingPathComponent("clip/tiny-gelu-p14").path

    static func executable(_ name: String) -> String { BuiltProducts.path(name) }

    /// Directories of runs that were killed before they could clean up (their daemons died
    /// with them): removed once per test process when older than an hour, which no run is.
    static let sweptLeftovers: Void = {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: "/tmp")) ?? [] where name.hasPrefix("sightline-test-") {
            let path = "/tmp/" + name
            if let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date, modified.timeIntervalSinceNow < -3600 {
                try? fm.removeItem(atPath: path)
            }
        }
    }()

    /// `model` is passed as `--model` unless `arguments` name one; nil passes none.
    /// `executable` runs another copy of `sightlined` (e.g. in an installed layout).
    init(directory: String? = nil, arguments: [String] = [], model: String? = DaemonProcess.tinyModel,
         executable: String? = nil, environment: [String: String] = [:]) throws {
        _ = Self.sweptLeftovers
        if let directory {
            self.directory = directory
        } else {
            var template = Array("/tmp/sightline-test-XXXXXX".utf8CString)
            guard mkdtemp(&template) != nil else { throw SightlineError(.system, "mkdtemp failed") }
            self.directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            chmod(self.directory, 0o711)
        }
        logFile = self.directory + "/daemon.log"
        if let model, !arguments.contains("--model") {
            extraArguments = ["--model", model] + arguments
        } else {
            extraArguments = arguments
        }
        executablePath = executable ?? Self.executable("sightlined")
        extraEnvironment = environment
    }

    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executablePath)
        process.arguments = ["--socket", socket, "--state-dir", stateDirectory, "--log-level", "debug"] + extraArguments
        var environment = ProcessInfo.processInfo.environment
        environment["SIGHTLINE_CONFIG"] = "/dev/null"
        // A generous latency bound: the default (1.5 s) would make a debug build on a busy
        // machine skip frames that these tests count on, and none would let its batches grow
        // long enough to delay the engine's turns (query changes, the watchdog) by seconds.
        // EvenDegradationTests sets its own.
        environment["SIGHTLINE_MAX_LATENCY"] = "5"
        environment.merge(extraEnvironment) { _, new in new }
        process.environment = environment
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let output = FileHandle(forWritingAtPath: logFile)!
        output.seekToEndOfFile()
        process.standardError = output
        process.standardOutput = output
        try await ChildProcesses.start(process)
        self.process = process
        for _ in 0..<400 {
            if FileManager.default.fileExists(atPath: socket),
               (try? await DaemonClient.withConnection(socketPath: socket) { _ in true }) == true { return }
            guard process.isRunning else { throw SightlineError(.system, "sightlined exited: \(log())") }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw SightlineError(.system, "sightlined did not start listening: \(log())")
    }

    func log() -> String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// SIGTERM, and waits for the exit status.
    @discardableResult
    func stop() async -> Int32 {
        guard let process else { return -1 }
        if process.isRunning { process.terminate() }
        return await wait()
    }

    func kill9() async {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        _ = await wait()
    }

    /// Up to 8 s for a graceful exit, then SIGKILL.
    private func wait() async -> Int32 {
        guard let process else { return -1 }
        let status = await ChildProcesses.waitForExit(process, timeout: .seconds(8))
        self.process = nil
        return status
    }

    func client<T>(_ body: (DaemonClient) async throws -> T) async throws -> T {
        try await DaemonClient.withConnection(socketPath: socket, body)
    }

    /// Kills the daemon if a test left it running (an expectation failed before `stop()`),
    /// then removes the directory.
    func cleanUp() {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Whatever way a test ends (a failed `#require` throws past its `stop()`), its daemon
    /// does not outlive it.
    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
