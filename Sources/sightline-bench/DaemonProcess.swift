import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore
import SightlineGrounding
import SightlineProtocol

#if canImport(Glibc)
import Glibc
#endif

/// A release `sightlined` started by a benchmark for one step, in a temporary directory of its
/// own (socket and state), and what the benchmarks read from it: totals from `status`, event
/// latencies seen by a subscriber, its resident memory and its CPU time. Shared by
/// `sightline-bench daemon` and `sightline-bench cameras`.
final class DaemonProcess {
    let directory: String
    let socket: String
    private let process: Process

    /// `sightlined` is built next to this executable.
    static var productsDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }

    /// The daemon's executable, or an error that says how to build it.
    static func executable() throws -> String {
        let daemon = productsDirectory + "/sightlined"
        guard FileManager.default.isExecutableFile(atPath: daemon) else {
            throw ValidationError("no sightlined next to this benchmark (\(daemon)): build it first with `swift build -c release --product sightlined`")
        }
        return daemon
    }

    /// Starts the daemon on `model` and waits until its socket answers. `configuration` is the
    /// text of its configuration file (none: no file at all, only the embedded defaults);
    /// `precision` is its `model.precision` (through `SIGHTLINE_PRECISION`).
    init(model: String, configuration: String? = nil, precision: String? = nil) async throws {
        directory = try Self.temporaryDirectory(prefix: "sightline-bench")
        socket = directory + "/sightline.sock"
        process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable())
        var arguments = ["--socket", socket, "--state-dir", directory + "/state", "--model", model, "--log-level", "warning"]
        var environment = ProcessInfo.processInfo.environment
        if let precision { environment["SIGHTLINE_PRECISION"] = precision }
        if let configuration {
            let file = directory + "/sightlined.toml"
            try configuration.write(toFile: file, atomically: true, encoding: .utf8)
            arguments += ["--config", file]
            environment["SIGHTLINE_CONFIG"] = nil
        } else {
            environment["SIGHTLINE_CONFIG"] = "/dev/null"
        }
        process.arguments = arguments
        process.environment = environment
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        Self.live.add(pid: process.processIdentifier, directory: directory)
        for _ in 0..<600 {
            if (try? await DaemonClient.withConnection(socketPath: socket) { _ in true }) == true { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw SightlineError(.system, "sightlined did not start serving its socket", context: ["socket": socket, "model": model])
    }

    deinit { stop() }

    /// SIGTERM, then waits for the exit, and removes the temporary directory.
    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
        Self.live.remove(pid: process.processIdentifier, directory: directory)
    }

    /// What an interrupted run must not leave behind: the daemons it started and the
    /// temporary directories it made.
    final class Leftovers: @unchecked Sendable {
        private let lock = NSLock()
        private var pids: Set<Int32> = []
        private var directories: Set<String> = []
        func add(pid: Int32? = nil, directory: String) {
            lock.withLock {
                if let pid { pids.insert(pid) }
                directories.insert(directory)
            }
        }
        func remove(pid: Int32? = nil, directory: String) {
            lock.withLock {
                if let pid { pids.remove(pid) }
                directories.remove(directory)
            }
        }
        func clear() {
            let (pids, directories) = lock.withLock { (self.pids, self.directories) }
            for pid in pids { kill(pid, SIGTERM) }
            for directory in directories { try? FileManager.default.removeItem(atPath: directory) }
        }
    }

    static let live = Leftovers()
    nonisolated(unsafe) private static var signalSources: [any DispatchSourceSignal] = []

    /// On SIGINT or SIGTERM: stop the daemons started, remove the temporary directories, exit.
    /// A benchmark step takes minutes, and an interrupted one must not leave a daemon running.
    static func cleanUpOnInterrupt() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                live.clear()
                exit(128 + sig)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    var pid: Int32 { process.processIdentifier }

    /// Adds the standing queries (on every stream) and then the streams.
    func add(queries: [String], streams: [StreamSpec]) async throws {
        try await DaemonClient.withConnection(socketPath: socket) { client in
            for text in queries { _ = try await client.request(.queryAdd(QuerySpec(text: text))) }
            for stream in streams { _ = try await client.request(.streamAdd(stream)) }
        }
    }

    func remove(stream id: String) async throws {
        try await DaemonClient.withConnection(socketPath: socket) { client in _ = try await client.request(.streamRemove(id: id)) }
    }

    /// A subscriber that takes every event with RLE masks and logs, for each event line, the
    /// time from its frame's capture (`time`) to the line read here. Cancel the task to stop.
    func subscribe(into latencies: LatencyLog) -> Task<Void, any Error> {
        let socket = self.socket
        return Task {
            try await DaemonClient.withConnection(socketPath: socket) { client in
                _ = try await client.request(.subscribe(Subscription(detail: .rle, status: false)))
                while let event = try await client.nextEvent() {
                    let received = Date()
                    if let t = event["time"]?.stringValue, let time = WireTime.parse(t) { latencies.add(received.timeIntervalSince(time)) }
                }
            }
        }
    }

    struct Totals {
        var frames = 0, processed = 0, carried = 0, dropped = 0
        /// Streams that have grounded at least one frame.
        var grounding = 0
        /// The daemon's own percentiles, capture to grounded, over each stream's last 512
        /// frames: the worst stream's, in seconds.
        var groundedP50 = Double.nan, groundedP99 = Double.nan
    }

    /// Sums over every stream of `status`.
    func totals() async throws -> Totals {
        try await DaemonClient.withConnection(socketPath: socket) { client in
            let streams = try await client.request(.status)["streams"]?.arrayValue ?? []
            func sum(_ key: String) -> Int { streams.reduce(0) { $0 + ($1[key]?.intValue ?? 0) } }
            let p50 = streams.compactMap { $0["latency_ms"]?["p50"]?.doubleValue }.max() ?? .nan
            let p99 = streams.compactMap { $0["latency_ms"]?["p99"]?.doubleValue }.max() ?? .nan
            return Totals(frames: sum("frames"), processed: sum("processed"), carried: sum("carried"), dropped: sum("drops"),
                          grounding: streams.filter { ($0["processed"]?.intValue ?? 0) > 0 }.count,
                          groundedP50: p50 / 1000, groundedP99: p99 / 1000)
        }
    }

    /// Waits until each of `streams` streams has grounded a frame (the model loaded, the text
    /// embeddings computed, the first frames encoded), at most `timeout` seconds, so that a
    /// step's warm-up starts from a running daemon whatever the model's start-up costs.
    func waitUntilGrounding(streams: Int, timeout: Double = 180) async throws {
        let start = Date()
        while try await totals().grounding < streams, Date().timeIntervalSince(start) < timeout {
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Resident memory, MiB.
    var residentMiB: Double { Self.residentMiB(pid: pid) }

    static func residentMiB(pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Double(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1])
        else { return .nan }
        return kib / 1024
    }

    /// CPU time of the process (all its threads), user plus system, in seconds:
    /// `utime` and `stime` of `/proc/PID/stat`.
    var cpuSeconds: Double {
        // The command name (field 2) may hold spaces and parentheses: count fields after the last ")".
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")")
        else { return .nan }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return .nan }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A new directory under /tmp, removed by whoever made it.
    static func temporaryDirectory(prefix: String) throws -> String {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw SightlineError(.system, "mkdtemp failed", context: ["prefix": prefix]) }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `count` standing query texts from `phrases`, numbered once the list runs out.
    static func queryTexts(_ count: Int, from phrases: [String]) -> [String] {
        (0..<count).map { phrases[$0 % phrases.count] + ($0 >= phrases.count ? " \($0)" : "") }
    }
}

final class LatencyLog: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Double] = []
    func add(_ v: Double) { lock.withLock { values.append(v) } }
    func reset() { lock.withLock { values.removeAll() } }
    var all: [Double] { lock.withLock { values } }

    /// The nearest-rank percentile `p` (0...100) of what was logged; NaN when nothing was.
    func percentile(_ p: Double) -> Double {
        Self.percentile(p, of: all.sorted())
    }

    static func percentile(_ p: Double, of sorted: [Double]) -> Double {
        sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))]
    }
}
