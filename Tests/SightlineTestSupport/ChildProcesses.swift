import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Child processes that never outlive the tests that start them.
///
/// A test stops its daemon on every path it controls (a failed `#require` included: the
/// owning object kills it when released). What no test code can catch is the test process
/// itself dying (a crash, a time limit, an interrupted `swift test`): its children would run
/// on. So each child is started through `setpriv --pdeathsig KILL`, which makes the kernel
/// kill it when its parent goes. The kernel means the parent *thread*, so every child is
/// started from one thread that lives as long as the test process; children started from a
/// pool thread would be killed whenever that thread retired.
public enum ChildProcesses {
    /// Prepares `process` (its executable and arguments set) to die with the test process,
    /// and starts it.
    public static func start(_ process: Process) async throws {
        let executable = process.executableURL?.path ?? "/usr/bin/env"
        process.arguments = ["--pdeathsig", "KILL", "--", executable] + (process.arguments ?? [])
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        let box = UncheckedProcess(process)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            SpawningThread.shared.submit {
                continuation.resume(with: Result { try box.process.run() })
            }
        }
    }

    /// Runs a program to its end and returns its status and output; a program still running
    /// after `timeout` is killed (SIGKILL) so that a test waiting on it cannot hang.
    public static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil,
                           timeout: Duration = .seconds(120)) async throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("stdout"), err = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try await start(process)
        let status = await waitForExit(process, timeout: timeout)
        return (status, (try? String(contentsOf: out, encoding: .utf8)) ?? "", (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// Waits (polling, without holding a thread) for `process` to exit; kills it after `timeout`.
    public static func waitForExit(_ process: Process, timeout: Duration) async -> Int32 {
        let end = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(10)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        return process.terminationStatus
    }
}

/// `Process` is not `Sendable`; it is handed to the spawning thread and used there once.
private struct UncheckedProcess: @unchecked Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}

/// The one thread children are started from; it never exits.
private final class SpawningThread: @unchecked Sendable {
    static let shared = SpawningThread()
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []

    private init() {
        let thread = Thread { [self] in loop() }
        thread.name = "child-spawner"
        thread.start()
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
