import ArgumentParser
import Foundation
import SightlineModel
import SightlineProtocol

/// `sightline-bench cameras`: what change detection buys on fixed cameras. The real
/// `sightlined` with N streams, each a fixed camera (a clip's active stretches between idle
/// stretches made from the same camera, `idle-ratio` times as long) played in real time and
/// looped, 10 standing queries on every stream, 2 fps; N rises until more than 1% of the
/// offered frames are dropped. The peer, in the same run, is the same daemon with change
/// detection off (`[motion] carry = false`), which encodes every frame.
struct CamerasBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cameras",
        abstract: "Fixed cameras, mostly idle: the daemon with change detection against the same daemon without.",
        discussion: """
            Each stream plays a file made at the start of the run (under /tmp, removed at the end) \
            from one of the clips: the clip at 10 fps cut into 5 s stretches, each after an idle \
            stretch made from its own first frame (held and encoded again with x264, so it carries \
            compression noise) and --idle-ratio times as long; streams start at different stretches \
            and phases so that their active times do not coincide. Each step starts the daemon, adds \
            the queries and a warm-up stream (removed once its first frame is grounded, so that the \
            text embeddings are made before), then the streams, waits until every stream has \
            grounded a frame, warms up for 5 s \
            and measures --seconds. --idle-ratio 0 plays the clips \
            without idle time: the worst case, where change detection cannot help. Needs \
            gst-launch-1.0 (gstreamer1.0-tools) and sightlined built next to this benchmark. \
            Docs/benchmarks.md, "Cameras", says what each column means.
            """
    )

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tests/Fixtures")

    @Option(name: .customLong("clip"), help: "A fixed-camera video file; repeat for more (default: the bundled one-by-one-person-detection.mp4 and bottle-detection.mp4).")
    var clips: [String] = []

    @Option(help: "CLIP checkpoint directory, or \(RandomCheckpoint.byName.keys.sorted().joined(separator: " / ")) for a published model's shapes with random weights.")
    var model: String = "random-vit-b16"

    @Option(help: "Stream counts to try, in order; each side stops after its first count that drops more than 1% of the offered frames.")
    var streams: String = "1,2,4,6,8,10,12,16"

    @Option(name: .customLong("idle-ratio"), help: "Idle time to active time on every camera (3: something happens a quarter of the time; 0: all the time).")
    var idleRatio: Double = 3

    @Option(help: "Seconds measured at each step (after a warm-up of 5 s).")
    var seconds: Double = 30

    @Option(help: "Standing queries on every stream.")
    var queries: Int = 10

    @Option(help: "Sampled frames per second of each stream.")
    var fps: Double = 2

    @Option(help: "The daemon's model.precision: auto, fp32, int8 or bf16.")
    var precision: String = "auto"

    static let dropLimit = 0.01
    /// `motion.refresh`, the default, written out so that the header's claim holds.
    static let refresh = 10.0
    static let warmUp = 5.0

    static let texts = [
        "a person walking", "a person standing at a table", "a bottle", "a hand", "a table", "a window",
        "a person", "a chair", "a cup", "a dog", "a bag", "a door",
    ]

    mutating func validate() throws {
        if clips.isEmpty {
            clips = ["media/one-by-one-person-detection.mp4", "media/bottle-detection.mp4"].map { Self.fixtures.appendingPathComponent($0).path }
        }
        for clip in clips where !FileManager.default.fileExists(atPath: clip) {
            throw ValidationError("--clip: no file at \(clip)")
        }
        _ = try Self.counts(streams)
        guard idleRatio.isFinite, idleRatio >= 0 else { throw ValidationError("--idle-ratio: a number of 0 or more (idle time over active time), not \(idleRatio)") }
        guard seconds.isFinite, seconds > 0 else { throw ValidationError("--seconds: a positive number of seconds") }
        guard queries > 0 else { throw ValidationError("--queries: at least 1") }
        guard fps.isFinite, fps > 0, fps <= Double(CameraFiles.fps) else { throw ValidationError("--fps: more than 0 and at most \(CameraFiles.fps), the cameras' frame rate") }
        guard RandomCheckpoint.byName[model] != nil || FileManager.default.fileExists(atPath: model + "/config.json") else {
            throw ValidationError("--model: neither \(RandomCheckpoint.byName.keys.sorted().joined(separator: ", ")) nor a checkpoint directory (no config.json in \(model))")
        }
        _ = try DaemonProcess.executable()
        guard CameraFiles.gstLaunchAvailable else {
            throw ValidationError("gst-launch-1.0 is not on PATH: it makes the camera files (Debian: apt-get install gstreamer1.0-tools)")
        }
    }

    /// `--streams`: positive counts separated by commas, every one of them.
    static func counts(_ list: String) throws -> [Int] {
        let items = list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let counts = items.compactMap { Int($0) }.filter { $0 > 0 }
        guard !items.isEmpty, counts.count == items.count else {
            throw ValidationError("--streams: a list of positive stream counts separated by commas, e.g. 1,2,4 (not \"\(list)\")")
        }
        return counts
    }

    mutating func run() async throws {
        DaemonProcess.cleanUpOnInterrupt()
        say(MachineDescription.line)
        guard PrecisionSetting(precision) != nil else { throw ValidationError("--precision: \(PrecisionSetting.choices), not \(precision)") }
        let counts = try Self.counts(streams)
        let model = try RandomCheckpoint.resolve(self.model)
        let texts = DaemonProcess.queryTexts(queries, from: Self.texts)
        let directory = try DaemonProcess.temporaryDirectory(prefix: "sightline-cameras")
        DaemonProcess.live.add(directory: directory)
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            DaemonProcess.live.remove(directory: directory)
        }

        let maker = CameraFiles(idleRatio: idleRatio, directory: directory, progress: Self.progress)
        let cameras = try maker.make(clips: clips, streams: counts.max() ?? 1)
        say("sightline-bench cameras: model \(self.model == model ? model : "\(self.model) (\(model))"), model.precision \(precision)")
        say("clips: " + clips.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")
              + String(format: "; at %d fps in %d s stretches, idle:active %g; %d queries, %g fps per stream, %g s per step after %g s of warm-up",
                       CameraFiles.fps, maker.stretch, idleRatio, queries, fps, seconds, Self.warmUp))
        say("change detection on: [motion] carry = true, refresh = \(Self.refresh); off, the peer: carry = false")
        say("")
        say("streams  change detection  offered  grounded  encoded/offered  dropped  grounded p50 ms  p99 ms  event p50 ms  p99 ms  events  CPU %/stream  RSS MiB")

        var rising = [true: true, false: true]
        var most: [Bool: Int] = [:]
        var results: [Int: [Bool: Step]] = [:]
        for n in counts where rising.values.contains(true) {
            for carry in [true, false] where rising[carry] == true {
                Self.progress("\(n) stream\(n == 1 ? "" : "s"), change detection \(carry ? "on" : "off"): start-up, \(Int(Self.warmUp)) s warm-up, \(Int(seconds)) s measured")
                let r = try await measure(streams: n, carry: carry, cameras: cameras, model: model, texts: texts)
                results[n, default: [:]][carry] = r
                say(r.line(streams: n, carry: carry))
                if Double(r.dropped) > Self.dropLimit * Double(r.offered) {
                    rising[carry] = false
                } else {
                    most[carry] = n
                }
            }
        }
        say("")
        // The ratio at the largest count both sides ran without drops, else at the smallest they both ran.
        let both = results.filter { $0.value.count == 2 }.keys.sorted()
        let shared = both.last { n in results[n]!.values.allSatisfy { Double($0.dropped) <= Self.dropLimit * Double($0.offered) } } ?? both.first
        if let n = shared, let on = results[n]?[true], let off = results[n]?[false] {
            say("at \(n) stream\(n == 1 ? "" : "s"): "
                  + String(format: "change detection encodes %.2f of the offered frames (without: %.2f) and takes %.2fx the CPU per stream",
                           on.encodedPerOffered, off.encodedPerOffered, on.cpuPerStream / off.cpuPerStream))
        }
        say("most streams without drops: \(most[true].map(String.init) ?? "none") with change detection, \(most[false].map(String.init) ?? "none") without")
    }

    struct Step {
        var offered = 0, grounded = 0, encoded = 0, dropped = 0, events = 0
        var groundedP50 = Double.nan, groundedP99 = Double.nan, eventP50 = Double.nan, eventP99 = Double.nan
        /// Share of one core, per stream.
        var cpuPerStream = Double.nan
        var rss = Double.nan

        var encodedPerOffered: Double { offered > 0 ? Double(encoded) / Double(offered) : .nan }

        func line(streams n: Int, carry: Bool) -> String {
            func ms(_ v: Double) -> String { v.isNaN ? "-" : String(format: "%.0f", v * 1000) }
            func right(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
            let detection = (carry ? "on" : "off (peer)").padding(toLength: 16, withPad: " ", startingAt: 0)
            return [right("\(n)", 7), detection, right("\(offered)", 7), right("\(grounded)", 8),
                    right(String(format: "%.2f", encodedPerOffered), 15), right("\(dropped)", 7),
                    right(ms(groundedP50), 15), right(ms(groundedP99), 6), right(ms(eventP50), 12), right(ms(eventP99), 6),
                    right("\(events)", 6), right(String(format: "%.1f", 100 * cpuPerStream), 12), right(String(format: "%.0f", rss), 7)]
                .joined(separator: "  ")
        }
    }

    func measure(streams n: Int, carry: Bool, cameras: [String], model: String, texts: [String]) async throws -> Step {
        let daemon = try await DaemonProcess(model: model, configuration: "[motion]\ncarry = \(carry)\nrefresh = \(Self.refresh)\n",
                                             precision: precision)
        defer { daemon.stop() }
        let latencies = LatencyLog()
        let subscriber = daemon.subscribe(into: latencies)
        defer { subscriber.cancel() }
        // The text embeddings are made once, on a stream that then goes, so that the measured
        // streams' latencies (the daemon's last 512 frames) hold none of the start-up.
        try await daemon.add(queries: texts, streams: [StreamSpec(id: "warm-up", uri: cameras[0], fps: fps, loop: true)])
        try await daemon.waitUntilGrounding(streams: 1)
        try await daemon.remove(stream: "warm-up")
        try await daemon.add(queries: [], streams: (0..<n).map { StreamSpec(id: "cam\($0)", uri: cameras[$0], fps: fps, loop: true) })
        try await daemon.waitUntilGrounding(streams: n)
        try await Task.sleep(for: .seconds(Self.warmUp))
        let before = try await daemon.totals()
        let cpuBefore = daemon.cpuSeconds
        latencies.reset()
        let start = Date()
        try await Task.sleep(for: .seconds(seconds))
        let after = try await daemon.totals()
        let cpu = daemon.cpuSeconds - cpuBefore
        let elapsed = Date().timeIntervalSince(start)
        let sorted = latencies.all.sorted()
        return Step(offered: Int((Double(n) * fps * elapsed).rounded()), grounded: after.processed - before.processed,
                    encoded: (after.processed - after.carried) - (before.processed - before.carried), dropped: after.dropped - before.dropped,
                    events: sorted.count, groundedP50: after.groundedP50, groundedP99: after.groundedP99,
                    eventP50: LatencyLog.percentile(50, of: sorted), eventP99: LatencyLog.percentile(99, of: sorted),
                    cpuPerStream: cpu / elapsed / Double(n), rss: daemon.residentMiB)
    }

    /// Results go to standard output unbuffered, so that each line appears when it is measured,
    /// in order with the progress lines, also into a pipe.
    func say(_ line: String = "") {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Progress goes to standard error, so that standard output holds only the results.
    @Sendable static func progress(_ message: String) {
        FileHandle.standardError.write(Data(("cameras: " + message + "\n").utf8))
    }
}
