import Foundation
import SightlineCore
import SightlineDaemon
import SightlineProtocol

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

    /// Built products live next to the test bundle.
    static var productsDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        while !dir.isEmpty, dir != "/", !FileManager.default.fileExists(atPath: dir + "/sightlined") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }

    static func executable(_ name: String) -> String { productsDirectory + "/" + name }

    /// `model` is passed as `--model` unless `arguments` name one; nil passes none.
    /// `executable` runs another copy of `sightlined` (e.g. in an installed layout).
    init(directory: String? = nil, arguments: [String] = [], model: String? = DaemonProcess.tinyModel,
         executable: String? = nil, environment: [String: String] = [:]) throws {
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
        environment.merge(extraEnvironment) { _, new in new }
        process.environment = environment
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let output = FileHandle(forWritingAtPath: logFile)!
        output.seekToEndOfFile()
        process.standardError = output
        process.standardOutput = output
        try process.run()
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

    private func wait() async -> Int32 {
        guard let process else { return -1 }
        for _ in 0..<800 where process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    func client<T>(_ body: (DaemonClient) async throws -> T) async throws -> T {
        try await DaemonClient.withConnection(socketPath: socket, body)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Runs a program to its end (on its own thread: waiting for it must not hold a thread of the
/// cooperative pool) and returns its status and output.
func runProgram(_ path: String, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try runProgramBlocking(path, arguments) }) }.start()
    }
}

private func runProgramBlocking(_ path: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}
