import ArgumentParser
import Foundation
import SightlineCore
import SightlineGrounding
import SightlineMedia

/// CPU cost of the change detector against the decoding it rides on, in the same run: a
/// fixed-camera clip sampled at 2 fps is decoded to RGB (what ingest does for every stream),
/// then every sampled frame goes through `MotionDetector`. An idle stream must cost its
/// decoding and little more; the ratio says how much more.
struct MotionBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "motion",
        abstract: "CPU time of the change detector per frame, against decoding the same frames."
    )

    @Option(help: "A video file (default: the bundled fixed-camera clip).")
    var clip = "Tests/Fixtures/media/bottle-detection.mp4"

    @Option(help: "Frames per second sampled, as a stream's fps.")
    var sampleRate = 2.0

    @Option(help: "Measurements; the median is reported.")
    var rounds = 3

    @Flag(help: "Also print each frame's verdict: pts, global or the fraction in motion, and the boxes.")
    var each = false

    mutating func run() async throws {
        guard FileManager.default.fileExists(atPath: clip) else {
            throw ValidationError("no video at \(clip) (run from the source tree, or pass --clip)")
        }
        print(MachineDescription.line)
        print("clip: \(clip), sampled at \(sampleRate) fps; \(rounds) rounds, median")
        var decode: [Double] = []
        var detect: [Double] = []
        var frames: [Frame] = []
        var changed = 0
        for _ in 0..<rounds {
            let before = IngestBenchmark.selfCPU()
            frames = []
            for try await frame in readFrames(of: clip, sampleRate: sampleRate) { frames.append(frame) }
            decode.append((IngestBenchmark.selfCPU() - before) / Double(max(1, frames.count)))
            var detector = MotionDetector()
            changed = 0
            let start = IngestBenchmark.selfCPU()
            for frame in frames where detector.update(frame.image).changed { changed += 1 }
            detect.append((IngestBenchmark.selfCPU() - start) / Double(max(1, frames.count)))
        }
        let size = frames.first.map { "\($0.image.width)x\($0.image.height)" } ?? "-"
        let d = IngestBenchmark.median(decode), m = IngestBenchmark.median(detect)
        print("frames: \(frames.count) at \(size), \(changed) changed")
        if each {
            var detector = MotionDetector()
            for frame in frames {
                let r = detector.update(frame.image)
                let verdict = r.globalChange ? "global" : r.changed ? String(format: "%.3f", r.fraction) : "-"
                print(String(format: "%8.2f  ", frame.pts) + verdict + "  " + r.boxes.map { "\($0.x),\($0.y) \($0.width)x\($0.height)" }.joined(separator: "  "))
            }
        }
        print(String(format: "decode (peer): %.2f ms CPU per sampled frame", d * 1000))
        print(String(format: "change detector: %.3f ms CPU per frame, %.1f%% of decoding, %.3f%% of a core per stream at %.0f fps",
                     m * 1000, 100 * m / d, 100 * m * sampleRate, sampleRate))
    }
}
