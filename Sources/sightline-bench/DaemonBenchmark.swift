import ArgumentParser
import Foundation
import Logging
import SightlineClient
import SightlineCore
import SightlineDaemon
import SightlineGrounding
import SightlineMedia
import SightlineModel
import SightlineProtocol

/// `sightline-bench daemon`: the real `sightlined` process with N looping file streams at
/// `fps` and `queries` standing queries, N rising until frames are dropped. Measures the
/// frames per second it sustains, the latency from frame capture to the event line read by a
/// subscriber, drops, and the daemon's resident memory. The peer, measured in the same run, is
/// the same engine and grounding called directly in this process on the same frames (no
/// ingest, scheduler, bus or socket): the ratio says what the daemon's machinery costs.
struct DaemonBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "End to end: N file streams at 2 fps with 10 standing queries, against the engine called directly."
    )

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tests/Fixtures")

    @Option(help: "Stream counts to try, in order; stops after the first that drops frames.")
    var streams: String = "1,2,4,8,16"

    @Option(help: "Seconds measured at each stream count (after a warm-up of 5 s).")
    var seconds: Double = 30

    @Option(help: "Sampled frames per second of each stream.")
    var fps: Double = 2

    @Option(help: "Standing queries.")
    var queries: Int = 10

    @Option(help: "CLIP checkpoint directory, or one of \(RandomCheckpoint.names) for the real shapes with random weights (default: the bundled tiny test model).")
    var model: String = fixtures.appendingPathComponent("clip/tiny-gelu-p14").path

    @Option(help: "Video file each stream loops over.")
    var clip: String = fixtures.appendingPathComponent("media/bikes.mp4").path

    @Option(help: "Frames dropped, as a fraction of frames offered, above which a stream count counts as dropping.")
    var dropLimit: Double = 0.01

    @Option(help: "model.precision of the daemon and of the engine it is measured against: auto, fp32, int8 or bf16.")
    var precision: String = "auto"

    static let texts = [
        "a person riding a bike", "a white car", "a taxi", "a man in a suit", "a parked bicycle", "a tree",
        "a traffic light", "a woman walking", "a dog", "a red bus", "a shop window", "a street sign",
    ]

    mutating func run() async throws {
        print(MachineDescription.line)
        DaemonProcess.cleanUpOnInterrupt()
        guard let setting = PrecisionSetting(precision) else { throw ValidationError("--precision: \(PrecisionSetting.choices), not \(precision)") }
        model = try RandomCheckpoint.resolve(model)
        _ = try DaemonProcess.executable()
        let counts = streams.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else { throw ValidationError("--streams: a list of positive counts, e.g. 1,2,4") }
        let texts = DaemonProcess.queryTexts(queries, from: Self.texts)
        print("sightline-bench daemon: model \(model), model.precision \(precision), clip \(clip), \(queries) queries, \(fps) fps per stream, \(Int(seconds)) s per step")

        let ceiling = try await engineCeiling(texts: texts, precision: setting)
        print(String(format: "peer (engine and grounding called directly, batches of 8): %.2f frames/s", ceiling))
        print("")
        print("latency: capture to grounded (the daemon's status), and capture to event line read by a subscriber")
        print("streams  offered/s  sustained/s  of peer  dropped  grounded p50 ms  p99 ms  event p50 ms  p99 ms  events  rss start MiB  end  max")
        var lastWithoutDrops: Int?
        for n in counts {
            let r = try await measure(streams: n, texts: texts)
            let offered = Double(n) * fps
            print(String(format: "%7d  %9.1f  %11.2f  %6.0f%%  %7d  %15.0f  %6.0f  %12.0f  %6.0f  %6d  %13.0f  %4.0f  %4.0f",
                         n, offered, r.sustained, 100 * r.sustained / ceiling, r.dropped, r.groundedP50 * 1000, r.groundedP99 * 1000,
                         r.p50 * 1000, r.p99 * 1000, r.events, r.rssStart, r.rssEnd, r.rssMax))
            if Double(r.dropped) > dropLimit * offered * seconds { break }
            lastWithoutDrops = n
        }
        print("")
        print("most streams without drops: \(lastWithoutDrops.map(String.init) ?? "none")")
    }

    struct StepResult {
        var sustained: Double
        var dropped: Int
        var p50: Double
        var p99: Double
        var groundedP50: Double
        var groundedP99: Double
        var events: Int
        var rssStart: Double
        var rssEnd: Double
        var rssMax: Double
    }

    /// Frames per second of the engine and grounding on this clip's frames, in process.
    func engineCeiling(texts: [String], precision: PrecisionSetting) async throws -> Double {
        let logger = Logger(label: "bench")
        var frames: [Frame] = []
        for try await frame in readFrames(of: clip, sampleRate: fps * 2, stream: "peer", logger: logger) {
            frames.append(frame)
            if frames.count == 16 { break }
        }
        guard !frames.isEmpty else { throw SightlineError(.media, "no frames in \(clip)") }
        let model = self.model
        let sample = frames
        let fps = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Double, any Error>) in
            Thread {
                continuation.resume(with: Result {
                    // The same precision as the daemon's (its self-check inputs are bundled with it).
                    let engine = try CLIPModel(directory: model, threads: nil, precision: precision, check: try PrecisionCheck.bundled(), logger: logger)
                    let grounder = try PipelineGrounder(model: engine, logger: logger)
                    let records = texts.enumerated().map {
                        QueryRecord(id: "q-\($0.offset)", text: $0.element, streams: [], threshold: QuerySpec.defaultThreshold, minDuration: 0, created: Date())
                    }
                    // Warm-up, then at least three seconds.
                    _ = try grounder.ground(Array(sample.prefix(8)), queries: Array(repeating: records, count: min(8, sample.count)))
                    var done = 0
                    let start = Date()
                    var pts = 100.0
                    while Date().timeIntervalSince(start) < 3 || done < 16 {
                        let batch = sample.prefix(8).map { f -> Frame in
                            var g = f
                            pts += 0.5
                            g.pts = pts
                            return g
                        }
                        _ = try grounder.ground(batch, queries: Array(repeating: records, count: batch.count))
                        done += batch.count
                    }
                    return Double(done) / Date().timeIntervalSince(start)
                })
            }.start()
        }
        return fps
    }

    func measure(streams n: Int, texts: [String]) async throws -> StepResult {
        let daemon = try await DaemonProcess(model: model, precision: precision)
        defer { daemon.stop() }
        let latencies = LatencyLog()
        let subscriber = daemon.subscribe(into: latencies)
        defer { subscriber.cancel() }
        try await daemon.add(queries: texts, streams: (0..<n).map { StreamSpec(id: "s\($0)", uri: clip, fps: fps, loop: true) })
        try await Task.sleep(for: .seconds(5))
        let before = try await daemon.totals()
        latencies.reset()
        let rssStart = daemon.residentMiB
        var rssMax = rssStart
        let start = Date()
        var timeline: [String] = []
        while Date().timeIntervalSince(start) < seconds {
            try await Task.sleep(for: .seconds(1))
            let rss = daemon.residentMiB
            rssMax = max(rssMax, rss)
            // Long runs show the trend, to tell growth from warm-up.
            let second = Int(Date().timeIntervalSince(start).rounded())
            if seconds >= 120, second % 60 == 0, timeline.count < second / 60 { timeline.append(String(format: "%d s %.0f", second, rss)) }
        }
        if !timeline.isEmpty { print("  rss MiB over the run (\(n) streams): " + timeline.joined(separator: ", ")) }
        let after = try await daemon.totals()
        let elapsed = Date().timeIntervalSince(start)
        let rssEnd = daemon.residentMiB
        let sorted = latencies.all.sorted()
        return StepResult(sustained: Double(after.processed - before.processed) / elapsed, dropped: after.dropped - before.dropped,
                          p50: LatencyLog.percentile(50, of: sorted), p99: LatencyLog.percentile(99, of: sorted),
                          groundedP50: after.groundedP50, groundedP99: after.groundedP99, events: sorted.count,
                          rssStart: rssStart, rssEnd: rssEnd, rssMax: rssMax)
    }
}

