import Foundation
import Logging
import SightlineTestSupport

/// Fixture paths and a way to run the built `sightline` binary.
enum Support {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static let tinyModel = fixtures + "/clip/tiny-quickgelu-p8"
    static let davisSubset = fixtures + "/davis-subset"
    static let clip = fixtures + "/davis/bmx-trees-428x240.mp4"

    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    static let sightline = BuiltProducts.path("sightline")

    /// Runs `sightline` with `arguments` to completion.
    static func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await ChildProcesses.run(sightline, arguments)
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "sightline-pipeline-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
