import ArgumentParser
import Foundation
import SightlineMedia

/// CPU cost of ingest: a 1080p 30 fps H.264 file, sampled at 2 frames a second to a 224-pixel
/// short side, read by Sightline (`readFrames`: every sampled frame reaches Swift as RGB) and
/// by `gst-launch-1.0` running the same decode-and-sample pipeline into `fakesink`, for 1 and
/// for N concurrent streams, in the same run. Both run as fast as decoding allows, so CPU
/// seconds per stream-second is what a live stream of that kind costs.
struct IngestBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "CPU seconds per stream-second of 1080p H.264 ingest, Sightline against gst-launch-1.0."
    )

    @Option(help: "Length of the generated 1080p clip, in seconds.")
    var seconds = 20

    @Option(help: "Key-frame interval of the generated clip, in frames (30 = one a second).")
    var keyInterval = 30

    @Option(parsing: .upToNextOption, help: "Numbers of concurrent streams to measure.")
    var streams: [Int] = [1, 8]

    @Option(help: "Measurements of each configuration; the median is reported.")
    var rounds = 3

    @Option(help: "Folder for the generated clip (kept between runs).")
    var cache = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-bench").path

    static let sampleRate = 2.0
    static let shortSide = 224

    mutating func run() async throws {
        print(MachineDescription.line)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        let clip = "\(cache)/ingest-1080p30-moving-\(seconds)s-k\(keyInterval).mp4"
        if !FileManager.default.fileExists(atPath: clip) {
            print("encoding a \(seconds) s 1080p 30 fps H.264 clip to \(clip) ...")
            try await Self.encode(clip, seconds: seconds, keyInterval: keyInterval)
        }
        let streamSeconds = Double(seconds)
        print("clip: 1920x1080, 30 fps, H.264 baseline, \(seconds) s, key frame every \(keyInterval) frames")
        print("work: sample \(Self.sampleRate) fps, scale to a \(Self.shortSide)-pixel short side, RGB; \(rounds) rounds, median")
        print("")
        // A gst-launch process spends CPU loading GStreamer's registry before it decodes
        // anything; Sightline pays that once per process. Measured and taken off the peer.
        var startups: [Double] = []
        for _ in 0..<rounds {
            let before = Self.childCPU()
            try await Self.runProgram("/usr/bin/gst-launch-1.0", ["-q", "fakesrc", "num-buffers=1", "!", "fakesink"])
            startups.append(Self.childCPU() - before)
        }
        let startup = Self.median(startups)
        print(String(format: "gst-launch start-up: %.3f CPU s per process (taken off the peer's figures)", startup))
        print("")
        print("streams  peer: gst-launch (CPU s/stream-s)  sightline (CPU s/stream-s)  ratio  frames/stream")
        for count in streams {
            var peer: [Double] = []
            var ours: [Double] = []
            var frames = 0
            for _ in 0..<rounds {
                let peerCPU = try await Self.gstLaunch(clip, streams: count, pipeline: Self.earlySampling) - startup * Double(count)
                peer.append(peerCPU / (streamSeconds * Double(count)))
                let (cpu, delivered) = try await Self.sightline(clip, streams: count, keyframesOnly: false)
                ours.append(cpu / (streamSeconds * Double(count)))
                frames = delivered / count
            }
            let p = Self.median(peer), o = Self.median(ours)
            print(String(format: "%7d  %32.4f  %26.4f  %5.2f  %13d", count, p, o, o / p, frames))
        }

        print("")
        print("Sampling before scaling and conversion, against sampling after (gst-launch, 1 stream):")
        var early: [Double] = []
        var late: [Double] = []
        for _ in 0..<rounds {
            early.append((try await Self.gstLaunch(clip, streams: 1, pipeline: Self.earlySampling) - startup) / streamSeconds)
            late.append((try await Self.gstLaunch(clip, streams: 1, pipeline: Self.lateSampling) - startup) / streamSeconds)
        }
        print(String(format: "  sample first: %.4f CPU s/stream-s; convert and scale every frame, then sample: %.4f (%.2fx)",
                     Self.median(early), Self.median(late), Self.median(late) / Self.median(early)))

        print("")
        print("The demuxer in push mode (filesrc ! queue ! decodebin) against pull mode (uridecodebin), gst-launch, 1 stream:")
        var push: [Double] = []
        var pull: [Double] = []
        for _ in 0..<rounds {
            push.append((try await Self.gstLaunch(clip, streams: 1, pipeline: Self.earlySampling, front: .push) - startup) / streamSeconds)
            pull.append((try await Self.gstLaunch(clip, streams: 1, pipeline: Self.earlySampling, front: .uridecodebin) - startup) / streamSeconds)
        }
        print(String(format: "  push: %.4f CPU s/stream-s; pull: %.4f (push / pull %.2f)", Self.median(push), Self.median(pull), Self.median(push) / Self.median(pull)))

        print("")
        print("Key frames only (Sightline, 1 stream): the decoder sees only key frames")
        var full: [Double] = []
        var keys: [Double] = []
        var keyFrames = 0
        var pts: [Double] = []
        for _ in 0..<rounds {
            full.append(try await Self.sightline(clip, streams: 1, keyframesOnly: false).cpu / streamSeconds)
            let (cpu, delivered) = try await Self.sightline(clip, streams: 1, keyframesOnly: true)
            keys.append(cpu / streamSeconds)
            keyFrames = delivered
        }
        for try await frame in readFrames(of: clip, sampleRate: Self.sampleRate, shortSide: Self.shortSide, keyframesOnly: true) {
            pts.append(frame.pts)
        }
        let gaps = zip(pts, pts.dropFirst()).map { $1 - $0 }
        print(String(format: "  every frame decoded: %.4f CPU s/stream-s; key frames only: %.4f (%.1fx less)",
                     Self.median(full), Self.median(keys), Self.median(full) / Self.median(keys)))
        print(String(format: "  key frames only delivers %d frames for %d s (%.2f fps instead of %.0f); largest gap %.2f s",
                     keyFrames, seconds, Double(keyFrames) / streamSeconds, Self.sampleRate, gaps.max() ?? 0))
    }

    // MARK: the two sides

    /// The pipeline Sightline builds, as gst-launch syntax (the short side fixed for 1080p).
    static let earlySampling =
        "videorate drop-only=true ! video/x-raw,framerate=2/1 ! videoscale ! video/x-raw,width=398,height=224,pixel-aspect-ratio=1/1 ! videoconvert ! video/x-raw,format=RGB"
    static let lateSampling =
        "videoscale ! video/x-raw,width=398,height=224,pixel-aspect-ratio=1/1 ! videoconvert ! video/x-raw,format=RGB ! videorate drop-only=true ! video/x-raw,framerate=2/1"

    /// How gst-launch opens the file: `uridecodebin` (the demuxer in pull mode), or with a
    /// queue in front of decodebin (push mode). Sightline reads files in push mode without a
    /// queue (see `FileFront` in SightlineMedia), which gst-launch cannot express.
    enum Front { case uridecodebin, push }

    static func front(_ front: Front, _ clip: String) -> [String] {
        switch front {
        case .uridecodebin:
            ["uridecodebin", "uri=file://\(clip)", "caps=video/x-raw", "!"]
        case .push:
            ["filesrc", "location=\(clip)", "blocksize=65536", "!", "queue", "!", "decodebin", "caps=video/x-raw", "!"]
        }
    }

    /// CPU seconds used by `streams` gst-launch processes run at once.
    static func gstLaunch(_ clip: String, streams: Int, pipeline: String, front: Front = .uridecodebin) async throws -> Double {
        let before = childCPU()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<streams {
                group.addTask {
                    let arguments = ["-q"] + Self.front(front, clip)
                        + pipeline.split(separator: " ").map(String.init) + ["!", "fakesink", "sync=false"]
                    try await runProgram("/usr/bin/gst-launch-1.0", arguments)
                }
            }
            try await group.waitForAll()
        }
        return childCPU() - before
    }

    /// CPU seconds this process uses to read the clip `streams` times at once, and the frames delivered.
    static func sightline(_ clip: String, streams: Int, keyframesOnly: Bool) async throws -> (cpu: Double, frames: Int) {
        let before = selfCPU()
        let frames = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<streams {
                group.addTask {
                    var count = 0
                    for try await _ in readFrames(of: clip, sampleRate: sampleRate, shortSide: shortSide, keyframesOnly: keyframesOnly) {
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        return (selfCPU() - before, frames)
    }

    static func encode(_ path: String, seconds: Int, keyInterval: Int) async throws {
        let pipeline = "videotestsrc num-buffers=\(seconds * 30) pattern=smpte horizontal-speed=8 ! video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 "
            + "! timeoverlay font-desc=Sans,48 ! x264enc speed-preset=veryfast bitrate=6000 key-int-max=\(keyInterval) "
            + "! video/x-h264,profile=baseline ! h264parse ! mp4mux ! filesink location=\(path).part"
        try await runProgram("/usr/bin/gst-launch-1.0", ["-q"] + pipeline.split(separator: " ").map(String.init))
        try FileManager.default.moveItem(atPath: path + ".part", toPath: path)
    }

    // MARK: measuring

    static func selfCPU() -> Double { cpu(RUSAGE_SELF.rawValue) }
    static func childCPU() -> Double { cpu(RUSAGE_CHILDREN.rawValue) }

    private static func cpu(_ who: __rusage_who_t) -> Double {
        var usage = rusage()
        getrusage(who, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    struct ProgramFailed: Error, CustomStringConvertible { var description: String }

    /// Runs a program to its end without blocking a thread of the cooperative pool.
    static func runProgram(_ executable: String, _ arguments: [String]) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        guard status == 0 else {
            throw ProgramFailed(description: "\(executable) \(arguments.joined(separator: " ")) exited with \(status)")
        }
    }
}
