import ArgumentParser
import Foundation
import SightlineCore
import SightlineHistory

/// How many events a second the durable event log takes, against the same bytes appended to a
/// plain file with one `fdatasync` per batch (the least any durable log must do) in the same
/// run, and against what 64 streams produce at their busiest.
struct HistoryBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Events per second the event log (SQLite) takes, against a plain file written in the same run."
    )

    @Option(help: "Seconds each side writes.")
    var seconds = 5.0

    @Option(help: "Events per transaction (the daemon commits what 100 ms brought).")
    var batch = 128

    @Option(help: "Bytes of each event line (a match.update with an RLE mask of a 16:9 frame is 1-3 KB).")
    var lineBytes = 2048

    @Option(help: "Where the files are written (removed at the end).")
    var directory = NSTemporaryDirectory()

    /// 64 streams at 2 fps, each frame a `match.update` for each of 10 queries: the most
    /// events they can produce.
    static let busiest64Streams = 64.0 * 2 * 10

    mutating func run() async throws {
        guard seconds > 0, batch > 0, lineBytes >= 64 else { throw ValidationError("--seconds, --batch and --line-bytes must be positive (--line-bytes at least 64)") }
        print(MachineDescription.line)
        let root = (directory as NSString).appendingPathComponent("sightline-history-bench-\(getpid())")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        print("sightline-bench history: \(batch) events of \(lineBytes) bytes per transaction, \(seconds) s each side, in \(root)")

        let line = Self.line(bytes: lineBytes)
        // The log.
        let log = try EventLog(path: root + "/events.sqlite")
        var sequence: Int64 = 0
        var latencies: [Double] = []
        var start = Date()
        while Date().timeIntervalSince(start) < seconds {
            let now = Date()
            let events = (0..<batch).map { i -> LoggedEvent in
                sequence += 1
                return LoggedEvent(sequence: sequence, time: now, kind: "match.update", stream: "cam-\(i % 64)", query: "q-\(i % 10)",
                                   track: "t-\(sequence / 40)", line: line)
            }
            let begin = Date()
            try log.append(events)
            latencies.append(Date().timeIntervalSince(begin))
        }
        let logRate = Double(sequence) / Date().timeIntervalSince(start)
        let logBytes = Self.size(of: root, prefix: "events.sqlite")

        // The plain file: the same lines and newlines, one fdatasync per batch.
        let plain = root + "/events.jsonl"
        let fd = open(plain, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw SightlineError(.system, "cannot create \(plain): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var block: [UInt8] = []
        for _ in 0..<batch { block += line + [0x0A] }
        var written = 0
        start = Date()
        while Date().timeIntervalSince(start) < seconds {
            let n = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n == block.count else { throw SightlineError(.system, "write to \(plain) failed: \(String(cString: strerror(errno)))") }
            fdatasync(fd)
            written += batch
        }
        let plainRate = Double(written) / Date().timeIntervalSince(start)

        latencies.sort()
        let p99 = latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]
        print("")
        // Bytes on disk count the log's WAL file too (SQLite reuses it after each checkpoint).
        print("side          events/s  transactions  p99 ms per transaction  bytes on disk per event")
        print(String(format: "event log   %10.0f  %12d  %22.2f  %23.0f", logRate, latencies.count, p99 * 1000, Double(logBytes) / Double(max(1, sequence))))
        print(String(format: "plain file  %10.0f  %12d                       -  %23.0f", plainRate, written / batch, Double(lineBytes + 1)))
        print("")
        print(String(format: "event log / plain file: %.2f of its rate; %.1fx what 64 streams produce at their busiest (%.0f events/s)",
                     logRate / plainRate, logRate / Self.busiest64Streams, Self.busiest64Streams))
    }

    /// A JSON line of about `bytes` bytes shaped like a match.update with an RLE mask.
    static func line(bytes: Int) -> [UInt8] {
        let head = #"{"event":"match.update","stream":"cam-1","query":"q-1","track":"t-1","score":0.31,"mask":{"rle":["#
        var text = head
        var run = 0
        while text.utf8.count < bytes - 4 {
            text += "\(run % 97),"
            run += 7
        }
        text += "1]}}"
        return Array(text.utf8)
    }

    static func size(of directory: String, prefix: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix(prefix) }.reduce(0) { total, name in
            total + ((try? FileManager.default.attributesOfItem(atPath: (directory as NSString).appendingPathComponent(name))[.size] as? Int) ?? 0)
        }
    }
}
