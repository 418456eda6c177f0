import Dispatch
import Foundation

/// Paths of the package under test.
enum Package {
    /// The source tree: this file is `<root>/Tests/SightlineSystemdTests/Tools.swift`.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Where SwiftPM put the executables: beside the test bundle.
    static let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    static let sightline = products.appendingPathComponent("sightline")
}

struct ToolResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion on a thread of its own (never the cooperative pool, nor
/// the global queues, whose few threads other tests share). Output goes through temporary
/// files, so a chatty program never waits for a reader.
func runTool(_ arguments: [String], environment: [String: String]? = nil) async throws -> ToolResult {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try runToolBlocking(arguments, environment: environment) })
        }
        thread.start()
    }
}

private func runToolBlocking(_ arguments: [String], environment: [String: String]?) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0].hasPrefix("/") ? arguments[0] : "/usr/bin/env")
    process.arguments = arguments[0].hasPrefix("/") ? Array(arguments.dropFirst()) : arguments
    if let environment { process.environment = environment }
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("tool-out-\(UUID().uuidString)")
    let err = FileManager.default.temporaryDirectory.appendingPathComponent("tool-err-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: out)
        try? FileManager.default.removeItem(at: err)
    }
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return ToolResult(status: process.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8), stderr: try String(contentsOf: err, encoding: .utf8))
}

/// A fresh directory under the temporary directory.
func temporaryDirectory(_ prefix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Every path under `dir`, relative, sorted.
func tree(_ dir: URL) -> [String] {
    let base = dir.resolvingSymlinksInPath().path
    var all: [String] = []
    let enumerator = FileManager.default.enumerator(atPath: base)
    while let path = enumerator?.nextObject() as? String { all.append(path) }
    return all.sorted()
}

/// Runs blocking work (copying binaries, running a program) on a thread of its own, so that
/// tests of other areas waiting on the two-thread cooperative pool are not held up.
func offPool<T: Sendable>(_ work: @escaping () throws -> T) async throws -> T {
    nonisolated(unsafe) let work = work
    return try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
