import Foundation
import SightlineCore

/// The video files `sightline-bench cameras` plays as fixed cameras, one per stream, made once
/// per run with `gst-launch-1.0`: each clip's active stretches (`stretch` seconds each) in
/// turn, each after an idle stretch `idleRatio` times as long made from its own first frame
/// (held with `imagefreeze` and encoded again with x264, so it carries real compression noise,
/// and continuous with the stretch before it, whose last frame precedes it in the clip).
///
/// Streams start at different points so that their active stretches do not coincide: stream
/// `s` plays clip `s % clips`, starts at stretch `(s / clips) % stretches` and begins part way
/// into that stretch's idle time (a golden-ratio share of it, different for every stream); the
/// idle time it skips closes the file, so that the loop is seamless.
///
/// How: each clip is encoded once as an H.264 byte stream at `fps` with a key frame every
/// second (and none at scene cuts), so that it can be cut at the sequence parameter sets that
/// start each group of pictures, and every piece is encoded with the same settings (x264's `stitchable`), so that
/// pieces put end to end make one valid stream. A stream's pieces are concatenated and put in
/// AVI, whose frames need no time stamps (a raw byte stream has none, and MP4 needs them).
struct CameraFiles {
    static let fps = 10
    var stretch = 5
    var idleRatio: Double
    var directory: String
    var progress: (String) -> Void = { _ in }

    /// One clip cut into active stretches: the byte stream of each, and its frame count.
    struct Clip {
        var path: String
        var stretches: [(file: String, frames: Int)]
    }

    private static let encoder = [
        "x264enc", "speed-preset=veryfast", "key-int-max=\(fps)", "bitrate=300", "option-string=stitchable=1:scenecut=0", "!",
        // Baseline and 4:2:0 or x264 may pick what common decoders reject.
        "video/x-h264,profile=baseline,stream-format=byte-stream,alignment=au",
    ]

    /// The files, one per stream.
    func make(clips paths: [String], streams: Int) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var clips: [Clip] = []
        for (c, path) in paths.enumerated() {
            progress("cutting \(path) into \(stretch) s stretches")
            clips.append(try cut(path, name: "clip\(c)"))
        }
        var idles: [String: String] = [:]
        func idle(_ clip: Int, _ index: Int, frames: Int) throws -> String? {
            guard frames > 0 else { return nil }
            let key = "clip\(clip)-idle\(index)-\(frames)"
            if let file = idles[key] { return file }
            let file = directory + "/\(key).h264"
            try Self.gstLaunch(["filesrc", Self.location(clips[clip].stretches[index].file), "!", "h264parse", "!", "avdec_h264", "!",
                                "videoconvert", "!", "imagefreeze", "num-buffers=\(frames)", "!",
                                "video/x-raw,format=I420,framerate=\(Self.fps)/1", "!"] + Self.encoder + ["!", "filesink", Self.location(file)])
            idles[key] = file
            return file
        }
        var files: [String] = []
        for s in 0..<streams {
            progress("camera file \(s + 1) of \(streams)")
            let c = s % clips.count
            let stretches = clips[c].stretches
            let first = (s / clips.count) % stretches.count
            let golden = 0.618_033_988_749_895
            let share = (Double(s) * golden).truncatingRemainder(dividingBy: 1)
            func idleFrames(_ j: Int) -> Int { Int((idleRatio * Double(stretches[j].frames)).rounded()) }
            let skipped = Int((share * Double(idleFrames(first))).rounded())
            var pieces: [String] = []
            for k in 0..<stretches.count {
                let j = (first + k) % stretches.count
                if let file = try idle(c, j, frames: idleFrames(j) - (k == 0 ? skipped : 0)) { pieces.append(file) }
                pieces.append(stretches[j].file)
            }
            if let file = try idle(c, first, frames: skipped) { pieces.append(file) }
            let stream = directory + "/camera\(s).h264"
            var bytes = Data()
            for piece in pieces { bytes.append(try Data(contentsOf: URL(fileURLWithPath: piece))) }
            try bytes.write(to: URL(fileURLWithPath: stream))
            let file = directory + "/camera\(s).avi"
            try Self.gstLaunch(["filesrc", Self.location(stream), "!", "h264parse", "!", "avimux", "!", "filesink", Self.location(file)])
            try? FileManager.default.removeItem(atPath: stream)
            files.append(file)
        }
        return files
    }

    /// Encodes the clip at `fps`, a key frame every second, and cuts it into stretches.
    func cut(_ path: String, name: String) throws -> Clip {
        let whole = directory + "/\(name).h264"
        try Self.gstLaunch(["filesrc", Self.location(path), "!", "decodebin", "!", "videoconvert", "!", "videorate", "!",
                            "video/x-raw,format=I420,framerate=\(Self.fps)/1", "!"] + Self.encoder + ["!", "filesink", Self.location(whole)])
        let data = try Data(contentsOf: URL(fileURLWithPath: whole))
        let groups = Self.groupStarts(data)
        guard groups.count >= 2 else {
            throw SightlineError(.media, "the clip is shorter than two seconds, or its encoding has no key frames", context: ["clip": path])
        }
        var stretches: [(file: String, frames: Int)] = []
        var g = 0
        while g < groups.count {
            var end = min(g + stretch, groups.count)
            // A last stretch of under two seconds would only add a cut: it joins the one before.
            if groups.count - end < 2 { end = groups.count }
            let piece = data[groups[g]..<(end == groups.count ? data.count : groups[end])]
            let file = directory + "/\(name)-active\(stretches.count).h264"
            try piece.write(to: URL(fileURLWithPath: file))
            stretches.append((file, Self.frameCount(piece)))
            g = end
        }
        try? FileManager.default.removeItem(atPath: whole)
        return Clip(path: path, stretches: stretches)
    }

    /// Byte offsets of the sequence parameter sets (NAL type 7) of an H.264 byte stream, each
    /// from its start code; with x264 each starts a group of pictures.
    static func groupStarts(_ data: Data) -> [Int] {
        nalStarts(data).filter { $0.type == 7 }.map(\.offset)
    }

    /// Frames (coded slices that start a picture, types 1 and 5 with first_mb_in_slice 0) in a
    /// piece of byte stream.
    static func frameCount(_ data: Data) -> Int {
        nalStarts(data).filter { ($0.type == 1 || $0.type == 5) && $0.firstByte & 0x80 != 0 }.count
    }

    private static func nalStarts(_ data: Data) -> [(offset: Int, type: UInt8, firstByte: UInt8)] {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            var starts: [(Int, UInt8, UInt8)] = []
            var i = 0
            while i + 4 < b.count {
                if b[i] == 0, b[i + 1] == 0, b[i + 2] == 1 {
                    let offset = i > 0 && b[i - 1] == 0 ? i - 1 : i
                    // The slice header's first_mb_in_slice is Exp-Golomb: 0 is a single 1 bit.
                    starts.append((offset, b[i + 3] & 0x1F, b[i + 4]))
                    i += 3
                } else {
                    i += 1
                }
            }
            return starts
        }
    }

    /// `location="..."` for gst-launch, which joins its arguments and parses them again.
    static func location(_ path: String) -> String {
        "location=\"" + path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Runs one `gst-launch-1.0` pipeline to its end; its error output names what failed.
    static func gstLaunch(_ pipeline: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gst-launch-1.0", "-q"] + pipeline
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message, as: UTF8.self).split(separator: "\n").prefix(4).joined(separator: " ")
            throw SightlineError(.media, "gst-launch-1.0 failed: \(text)", context: ["pipeline": pipeline.joined(separator: " ")])
        }
    }

    /// Whether `gst-launch-1.0` is on PATH.
    static var gstLaunchAvailable: Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/gst-launch-1.0")
        }
    }
}
