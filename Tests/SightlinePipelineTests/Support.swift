import Foundation
import Logging

/// Fixture paths and a way to run the built `sightline` binary.
enum Support {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static let tinyModel = fixtures + "/clip/tiny-quickgelu-p8"
    static let davisSubset = fixtures + "/davis-subset"
    static let clip = fixtures + "/davis/bmx-trees-428x240.mp4"

    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// Built products live next to the test binary.
    static var sightline: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        while !dir.isEmpty, dir != "/", !FileManager.default.fileExists(atPath: dir + "/sightline") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir + "/sightline"
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    /// Runs `sightline` with `arguments` to completion.
    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: sightline)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes while the process runs, so neither fills up and blocks it.
        let group = DispatchGroup()
        nonisolated(unsafe) var stdout = Data(), stderr = Data()
        group.enter()
        DispatchQueue.global().async { stdout = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { stderr = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        process.waitUntilExit()
        group.wait()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "sightline-pipeline-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
