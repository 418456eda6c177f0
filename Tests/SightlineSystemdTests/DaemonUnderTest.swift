#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SightlineCore
import SightlineTestSupport

/// The real `sightlined` of this build, run as a child process the way systemd runs it:
/// with `NOTIFY_SOCKET`, `WATCHDOG_USEC`, and optionally behind `systemd-socket-activate`.
final class DaemonUnderTest: @unchecked Sendable {
    let directory: URL
    let notify: DatagramReceiver
    let process = Process()
    var socket: String { directory.appendingPathComponent("sightline.sock").path }
    var logFile: URL { directory.appendingPathComponent("daemon.log") }

    /// `prefix` runs sightlined through another program (systemd-socket-activate), which then
    /// gets the environment through `-E` options.
    /// `logLevel` nil passes no `--log-level`, so that the configuration file's `log.level` rules.
    init(watchdogUSec: Int?, environment extra: [String: String] = [:], model: Bool = true, prefix: [String] = [],
         logLevel: String? = "debug") throws {
        directory = try temporaryDirectory("sightlined")
        notify = try DatagramReceiver(address: directory.appendingPathComponent("notify").path)
        // A generous latency bound: see DaemonProcess.
        var environment = ["SIGHTLINE_CONFIG": "/dev/null", "SIGHTLINE_MAX_LATENCY": "5", "HOME": directory.path, "PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": notify.address]
        if let watchdogUSec { environment["WATCHDOG_USEC"] = "\(watchdogUSec)" }
        environment.merge(extra) { _, new in new }
        var arguments = [Package.products.appendingPathComponent("sightlined").path, "--socket", socket,
                         "--state-dir", directory.appendingPathComponent("state").path]
        if let logLevel { arguments += ["--log-level", logLevel] }
        if model {
            arguments += ["--model", Package.root.appendingPathComponent("Tests/Fixtures/clip/tiny-quickgelu-p8").path]
        }
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        if prefix.isEmpty {
            process.executableURL = URL(fileURLWithPath: arguments[0])
            process.arguments = Array(arguments.dropFirst())
            process.environment = environment
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = prefix + environment.sorted { $0.key < $1.key }.flatMap { ["-E", "\($0.key)=\($0.value)"] } + ["--"] + arguments
            process.environment = ["PATH": "/usr/bin:/bin"]
        }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
    }

    func start() async throws { try await ChildProcesses.start(process) }

    /// Whatever way a test ends, its daemon does not outlive it.
    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Notifications until one satisfies `until`, or nil when `timeout` passes first.
    func waitFor(_ timeout: Duration = .seconds(60), until: (String) -> Bool) async -> [String]? {
        let end = ContinuousClock.now + timeout
        var seen: [String] = []
        while ContinuousClock.now < end {
            guard let message = await notify.next(timeout: end - ContinuousClock.now) else { break }
            seen.append(message)
            if until(message) { return seen }
        }
        return nil
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// The exit status, waiting up to `timeout`; a daemon still running then is killed and
    /// -1 returned, so that a test expecting an exit fails instead of hanging.
    func waitForExit(_ timeout: Duration = .seconds(60)) async -> Int32 {
        let end = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(50)) }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
            return -1
        }
        return process.terminationStatus
    }

    func finish() async {
        if process.isRunning {
            signal(SIGKILL)
            _ = await waitForExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// One request line on a fresh connection, its reply line back.
    func request(_ line: String, path: String? = nil) async throws -> String {
        let path = path ?? socket
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try Self.exchange(line, path: path) })
            }.start()
        }
    }

    private static func exchange(_ line: String, path: String) throws -> String {
        let fd = try UnixSocketAddress(path).connect()
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // The server greets first ({"event":"hello",...}); the reply is the line with an id.
        while true {
            var reply: [UInt8] = []
            var byte: UInt8 = 0
            while recv(fd, &byte, 1, 0) == 1 {
                if byte == UInt8(ascii: "\n") { break }
                reply.append(byte)
            }
            let text = String(decoding: reply, as: UTF8.self)
            if text.isEmpty || text.contains("\"id\":") { return text }
        }
    }
}
