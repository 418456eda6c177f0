import ArgumentParser
import Foundation
import SightlineClient
import SightlineProtocol

/// `sightline status`.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the daemon's model, streams, queries and health.")

    @Flag(name: .long, help: "Print the daemon's JSON.")
    var json = false

    @OptionGroup var connection: SocketOptions

    func run() async throws {
        let status = try await connection.withClient { try await $0.request(.status) }
        if json {
            Output.line(JSONWriter.string(.object(status)))
            return
        }
        let model = status["model"]
        Output.line("sightlined \(Display.json(status["version"])) (protocol \(Display.json(status["protocol"]))), up \(Display.number(status["uptime"], digits: 1)) s, \(Display.json(status["subscribers"])) subscribers")
        Output.line("model: \(Display.json(model?["name"]))\(model?["path"].map { " (\(Display.json($0)))" } ?? "")")
        if let note = model?["note"]?.stringValue {
            Output.line("  \(model?["test_model"]?.boolValue == true ? "warning: " : "")\(note)")
        }
        if let line = Self.precision(model) { Output.line(line) }
        if let reason = model?["precision_reason"]?.stringValue { Output.line("  \(reason)") }
        if let engine = status["engine"], engine["encode_ms"]?.doubleValue != nil {
            Output.line("engine: \(Display.number(engine["encode_ms"], digits: 0)) ms per encoded frame, \(Display.number(engine["carry_ms"], digits: 1)) ms per carried one, up to \(Display.json(engine["encoded_per_batch"])) encoded per batch")
        }
        Output.line("")
        let streams = (status["streams"]?.arrayValue ?? []).map { s in
            [Display.json(s["id"]), Display.json(s["state"]), "\(Display.number(s["sampled_fps"]))/\(Display.number(s["grounded_fps"]))",
             s["frame_size"]?.arrayValue.map { $0.map { Display.json($0) }.joined(separator: "x") } ?? "-", Display.json(s["frames"]),
             Display.json(s["processed"]), Display.json(s["drops"]), Display.json(s["matches"]), Self.motion(s["motion"]),
             s["latency_ms"]?["p50"] == nil ? "-" : "\(Display.number(s["latency_ms"]?["p50"], digits: 0))/\(Display.number(s["latency_ms"]?["p99"], digits: 0))",
             Display.json(s["error"] ?? s["uri"])]
        }
        Output.line(Display.table(["STREAM", "STATE", "FPS in/grounded", "SIZE", "FRAMES", "PROCESSED", "DROPS", "MATCHES", "MOTION", "LATENCY_MS p50/p99", "URI/ERROR"], streams))
        Output.line("")
        let queries = (status["queries"]?.arrayValue ?? []).map { q in
            let streams = q["streams"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return [Display.json(q["id"]), streams.isEmpty ? "all" : streams.joined(separator: ","), Display.json(q["text"])]
        }
        Output.line(Display.table(["QUERY", "STREAMS", "TEXT"], queries))
    }

    /// "engine precision int8 (oneDNN avx512_core_vnni; AVX2 FMA AVX-512 VNNI BF16)"; nil from
    /// a daemon that does not say (one older than precisions).
    static func precision(_ model: JSONValue?) -> String? {
        guard let precision = model?["precision"]?.stringValue else { return nil }
        let features = model?["cpu_features"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let details = [model?["kernels"]?.stringValue, features.isEmpty ? nil : features.joined(separator: " ")].compactMap { $0 }
        return "engine precision \(precision)" + (details.isEmpty ? "" : " (\(details.joined(separator: "; ")))")
    }

    /// "active 4%" while the last frame changed, "idle" when it did not, "-" before a frame.
    static func motion(_ motion: JSONValue?) -> String {
        guard let motion, let active = motion["active"]?.boolValue else { return "-" }
        guard active else { return "idle" }
        if motion["global"]?.boolValue == true { return "active (all)" }
        return "active \(Int(((motion["fraction"]?.doubleValue ?? 0) * 100).rounded()))%"
    }
}
