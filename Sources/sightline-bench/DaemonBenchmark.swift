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

#if canImport(Glibc)
import Glibc
#endif

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

    static let texts = [
        "a person riding a bike", "a white car", "a taxi", "a man in a suit", "a parked bicycle", "a tree",
        "a traffic light", "a woman walking", "a dog", "a red bus", "a shop window", "a street sign",
    ]

    mutating func run() async throws {
        print(MachineDescription.line)
        model = try RandomCheckpoint.resolve(model)
        let daemon = Self.productsDirectory + "/sightlined"
        guard FileManager.default.isExecutableFile(atPath: daemon) else {
            throw ValidationError("no sightlined next to this benchmark (\(daemon)): build it first with `swift build -c release --product sightlined`")
        }
        let counts = streams.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else { throw ValidationError("--streams: a list of positive counts, e.g. 1,2,4") }
        let texts = (0..<queries).map { Self.texts[$0 % Self.texts.count] + ($0 >= Self.texts.count ? " \($0)" : "") }
        print("sightline-bench daemon: model \(model), clip \(clip), \(queries) queries, \(fps) fps per stream, \(Int(seconds)) s per step")

        let ceiling = try await engineCeiling(texts: texts)
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
    func engineCeiling(texts: [String]) async throws -> Double {
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
                    let engine = try CLIPModel(directory: model, threads: nil, logger: logger)
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
        var template = Array("/tmp/sightline-bench-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw SightlineError(.system, "mkdtemp failed") }
        let directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/sightline.sock"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.productsDirectory + "/sightlined")
        process.arguments = ["--socket", socket, "--state-dir", directory + "/state", "--model", model, "--log-level", "warning"]
        var environment = ProcessInfo.processInfo.environment
        environment["SIGHTLINE_CONFIG"] = "/dev/null"
        process.environment = environment
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
        for _ in 0..<600 {
            if (try? await DaemonClient.withConnection(socketPath: socket) { _ in true }) == true { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let latencies = LatencyLog()
        let subscriber = Task {
            try await DaemonClient.withConnection(socketPath: socket) { client in
                _ = try await client.request(.subscribe(Subscription(detail: .rle, status: false)))
                while let event = try await client.nextEvent() {
                    let received = Date()
                    if let t = event["time"]?.stringValue, let time = WireTime.parse(t) { latencies.add(received.timeIntervalSince(time)) }
                }
            }
        }
        defer { subscriber.cancel() }
        try await DaemonClient.withConnection(socketPath: socket) { client in
            for text in texts { _ = try await client.request(.queryAdd(QuerySpec(text: text))) }
            for i in 0..<n { _ = try await client.request(.streamAdd(StreamSpec(id: "s\(i)", uri: clip, fps: fps, loop: true))) }
        }
        try await Task.sleep(for: .seconds(5))
        func totals() async throws -> (processed: Int, dropped: Int, groundedP50: Double, groundedP99: Double) {
            try await DaemonClient.withConnection(socketPath: socket) { client in
                let streams = try await client.request(.status)["streams"]?.arrayValue ?? []
                // The daemon's own percentiles, capture to grounded, over each stream's last 512 frames: the worst stream's.
                let p50 = streams.compactMap { $0["latency_ms"]?["p50"]?.doubleValue }.max() ?? .nan
                let p99 = streams.compactMap { $0["latency_ms"]?["p99"]?.doubleValue }.max() ?? .nan
                return (streams.reduce(0) { $0 + ($1["processed"]?.intValue ?? 0) }, streams.reduce(0) { $0 + ($1["drops"]?.intValue ?? 0) },
                        p50 / 1000, p99 / 1000)
            }
        }
        let before = try await totals()
        latencies.reset()
        let rssStart = Self.residentMiB(pid: process.processIdentifier)
        var rssMax = rssStart
        let start = Date()
        var timeline: [String] = []
        while Date().timeIntervalSince(start) < seconds {
            try await Task.sleep(for: .seconds(1))
            let rss = Self.residentMiB(pid: process.processIdentifier)
            rssMax = max(rssMax, rss)
            // Long runs show the trend, to tell growth from warm-up.
            let second = Int(Date().timeIntervalSince(start).rounded())
            if seconds >= 120, second % 60 == 0, timeline.count < second / 60 { timeline.append(String(format: "%d s %.0f", second, rss)) }
        }
        if !timeline.isEmpty { print("  rss MiB over the run (\(n) streams): " + timeline.joined(separator: ", ")) }
        let after = try await totals()
        let elapsed = Date().timeIntervalSince(start)
        let rssEnd = Self.residentMiB(pid: process.processIdentifier)
        let sorted = latencies.all.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))]
        }
        return StepResult(sustained: Double(after.processed - before.processed) / elapsed, dropped: after.dropped - before.dropped,
                      p50: percentile(50), p99: percentile(99), groundedP50: after.groundedP50, groundedP99: after.groundedP99, events: sorted.count, rssStart: rssStart, rssEnd: rssEnd, rssMax: rssMax)
    }

    static func residentMiB(pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Double(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1])
        else { return .nan }
        return kib / 1024
    }

    /// `sightlined` is built next to this executable.
    static var productsDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }
}

final class LatencyLog: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Double] = []
    func add(_ v: Double) { lock.withLock { values.append(v) } }
    func reset() { lock.withLock { values.removeAll() } }
    var all: [Double] { lock.withLock { values } }
}
