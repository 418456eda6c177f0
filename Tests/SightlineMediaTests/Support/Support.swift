import Foundation

/// A fresh directory under the system's temporary folder, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-media-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// Committed test media (see Tests/Fixtures/davis/README.md).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let davisJPEG = root.appendingPathComponent("davis/bmx-trees/00000.jpg").path
    static let davisMP4 = root.appendingPathComponent("davis/bmx-trees-428x240.mp4").path
}

/// Runs a program to completion without blocking a thread of the cooperative pool.
@discardableResult
func runProgram(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do { try process.run() } catch { continuation.resume(throwing: error) }
    }
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return (status, output)
}

/// Test videos made by GStreamer's own tools, as a user's files would be.
enum TestMedia {
    struct LaunchFailed: Error, CustomStringConvertible {
        var description: String
    }

    static func launch(_ pipeline: String) async throws {
        let (status, output) = try await runProgram("/usr/bin/gst-launch-1.0", ["-q"] + pipeline.split(separator: " ").map(String.init))
        guard status == 0 else { throw LaunchFailed(description: "gst-launch-1.0 \(pipeline) failed: \(output)") }
    }

    /// An H.264 MP4 of the moving test pattern: `seconds` long at `fps`.
    static func mp4(_ path: String, width: Int = 320, height: Int = 240, fps: Int = 30, seconds: Double = 2, keyInterval: Int = 30) async throws {
        let frames = Int(Double(fps) * seconds)
        try await launch(
            "videotestsrc num-buffers=\(frames) pattern=ball ! video/x-raw,format=I420,width=\(width),height=\(height),framerate=\(fps)/1 "
                + "! x264enc speed-preset=ultrafast tune=zerolatency key-int-max=\(keyInterval) ! video/x-h264,profile=baseline "
                + "! h264parse ! mp4mux ! filesink location=\(path)"
        )
    }

    /// A raw H.264 stream whose picture size changes midway, as a camera's does when its
    /// resolution is reconfigured: two encodes, one after the other.
    static func resolutionChange(_ path: String, first: (Int, Int), second: (Int, Int), fps: Int = 30, framesEach: Int = 30) async throws {
        let a = path + ".a.h264"
        let b = path + ".b.h264"
        for (size, file) in [(first, a), (second, b)] {
            try await launch(
                "videotestsrc num-buffers=\(framesEach) ! video/x-raw,format=I420,width=\(size.0),height=\(size.1),framerate=\(fps)/1 "
                    + "! x264enc speed-preset=ultrafast key-int-max=15 ! video/x-h264,profile=baseline,stream-format=byte-stream "
                    + "! filesink location=\(file)"
            )
        }
        var joined = try Data(contentsOf: URL(fileURLWithPath: a))
        joined.append(try Data(contentsOf: URL(fileURLWithPath: b)))
        try joined.write(to: URL(fileURLWithPath: path))
    }

    /// A WAV file: a real media file with no video in it.
    static func wav(_ path: String) async throws {
        try await launch("audiotestsrc num-buffers=20 ! wavenc ! filesink location=\(path)")
    }

    static func truncate(_ source: String, to destination: String, keeping fraction: Double) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        try bytes.prefix(Int(Double(bytes.count) * fraction)).write(to: URL(fileURLWithPath: destination))
    }

    /// Overwrites the middle third with pseudo-random bytes (fixed seed), keeping the size.
    static func corrupt(_ source: String, to destination: String) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in (bytes.count / 3)..<(2 * bytes.count / 3) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes[i] = UInt8(truncatingIfNeeded: state >> 33)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: destination))
    }
}
