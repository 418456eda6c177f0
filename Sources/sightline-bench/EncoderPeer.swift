import Foundation
import SightlineCore

/// The peer process (Benchmarks/clip_encoder_peer.py): PyTorch, or ONNX Runtime on the same
/// model exported, long-lived, answering one JSON line per case.
final class Peer {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    var buffer = Data()

    init(python: String, script: String, activeWait: Bool) throws {
        guard FileManager.default.fileExists(atPath: script) else {
            throw SightlineError(.fileNotFound, "the peer script is missing (run from the repository root, or pass --peer)",
                                 context: ["file": script])
        }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script]
        var environment = ProcessInfo.processInfo.environment
        // OpenMP's spinning workers slow PyTorch several-fold when the cores are shared with other
        // work, as on the build machines; passive waiting is its better setting there.
        if !activeWait { environment["OMP_WAIT_POLICY"] = "PASSIVE" }
        process.environment = environment
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    func measure(_ item: EncoderBenchmark.Case, as engine: EncoderBenchmark.PeerEngine, threads: Int, warmup: Bool) throws -> EncoderBenchmark.Result {
        let request: [String: Any] = [
            "name": item.name, "threads": threads, "repeats": 1, "warmup": warmup, "tower": item.tower, "patch": item.patch,
            "width": item.width, "height": item.height, "batch": item.batch, "dense": item.dense, "tokens": item.tokens,
            "runtime": engine.runtime, "precision": engine.precision.rawValue,
        ]
        var line = try JSONSerialization.data(withJSONObject: request)
        line.append(0x0A)
        input.fileHandleForWriting.write(line)
        while !buffer.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else {
                throw SightlineError(.system, "the peer exited; run `\(process.arguments!.joined(separator: " "))` to see why")
            }
            buffer.append(chunk)
        }
        let end = buffer.firstIndex(of: 0x0A)!
        let reply = buffer[buffer.startIndex..<end]
        buffer = Data(buffer[(end + 1)...])
        guard let json = try JSONSerialization.jsonObject(with: reply) as? [String: Any] else {
            throw SightlineError(.system, "the peer answered \(String(decoding: reply, as: UTF8.self))")
        }
        if let error = json["error"] as? String {
            throw SightlineError(.system, "the peer cannot run \(engine.label) for \(item.name): \(error)")
        }
        guard let ms = json["ms_per_item"] as? Double, let rss = json["peak_rss_mb"] as? Double else {
            throw SightlineError(.system, "the peer answered \(String(decoding: reply, as: UTF8.self))")
        }
        return EncoderBenchmark.Result(msPerItem: ms, gflops: 0, peakRSSMB: rss)
    }

    func close() {
        input.fileHandleForWriting.closeFile()
        process.waitUntilExit()
    }
}
