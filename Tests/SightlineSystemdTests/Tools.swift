import Foundation
import SightlineTestSupport

/// Paths of the package under test.
enum Package {
    /// The source tree: this file is `<root>/Tests/SightlineSystemdTests/Tools.swift`.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Where SwiftPM put the executables.
    static let products = URL(fileURLWithPath: BuiltProducts.directory)
    static let sightline = URL(fileURLWithPath: BuiltProducts.path("sightline"))
}

struct ToolResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion (a bare name is looked up on PATH), with the runner every
/// test target shares: off the cooperative pool, output through files, killed if it hangs.
func runTool(_ arguments: [String], environment: [String: String]? = nil) async throws -> ToolResult {
    let absolute = arguments[0].hasPrefix("/")
    let r = try await ChildProcesses.run(absolute ? arguments[0] : "/usr/bin/env", absolute ? Array(arguments.dropFirst()) : arguments,
                                         environment: environment)
    return ToolResult(status: r.status, stdout: r.stdout, stderr: r.stderr)
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
