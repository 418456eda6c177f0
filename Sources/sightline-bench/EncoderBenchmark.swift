import ArgumentParser
import Foundation
import Logging
import SightlineCore
@_spi(Benchmarks) import SightlineModel

/// `sightline-bench encoder`: the CLIP encoders at real ViT-B shapes (random weights made in
/// memory) against PyTorch running the same shapes with the same thread count, interleaved case
/// by case in one run, plus the machine's own sgemm rate measured in the same run.
struct EncoderBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoder",
        abstract: "CLIP image and text encoders against PyTorch (transformers) in the same run.")

    @Option(name: .long, help: "Compute threads for both Sightline and PyTorch (default: one per core).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Timed passes per case, Sightline's and PyTorch's alternating; the medians count.")
    var rounds: Int = 5

    @Option(name: .long, help: "Python with torch and transformers for the peer.")
    var python: String = "python3"

    @Option(name: .long, help: "The peer script.")
    var peer: String = "Benchmarks/clip_encoder_peer.py"

    @Flag(name: .customLong("no-peer"), help: "Measure Sightline only.")
    var noPeer = false

    @Flag(name: .customLong("peer-active-wait"), help: "Leave OpenMP's spin-waiting on in the peer (faster on an idle machine, far slower on a busy one).")
    var peerActiveWait = false

    @Option(name: .long, help: "Only the cases whose name contains this text.")
    var only: String?

    @Option(name: .long, help: "Vision shapes, comma-separated: vit-b32, vit-b16 (in-memory random weights, measured against the peer) and tinyclip-8m-16, tinyclip-39m-16, tinyclip-40m-32, tinyclip-61m-32 (random checkpoints of TinyCLIP's shapes, loaded from files; no peer).")
    var shapes: String = "vit-b32,vit-b16"

    /// A TinyCLIP shape's random checkpoint, by its `--shapes` name.
    static let tinyCLIP: [String: RandomCheckpoint] = [
        "tinyclip-8m-16": .tinyCLIP8M16, "tinyclip-39m-16": .tinyCLIP39M16,
        "tinyclip-40m-32": .tinyCLIP40M32, "tinyclip-61m-32": .tinyCLIP61M32,
    ]

    struct Case {
        var name: String
        /// The `--shapes` name ("text" for the ViT-B text tower).
        var shape = "text"
        var patch: Int
        var tower: String
        var width = 224
        var height = 224
        var tokens = 77
        var batch: Int
        var dense = false
    }

    struct Result {
        var msPerItem: Double
        var gflops: Double
        var peakRSSMB: Double
    }

    func run() throws {
        print(MachineDescription.line)
        var cases: [Case] = []
        for shape in shapes.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let patch: Int, label: String
            switch shape {
            case "vit-b32", "vit-b16": (patch, label) = (shape == "vit-b32" ? 32 : 16, "ViT-B/\(shape.suffix(2))")
            default:
                guard let checkpoint = Self.tinyCLIP[shape] else {
                    throw ValidationError("--shapes: unknown shape \(shape) (vit-b32, vit-b16, \(Self.tinyCLIP.keys.sorted().joined(separator: ", ")))")
                }
                (patch, label) = (checkpoint.patchSize, "TinyCLIP-\(shape.dropFirst("tinyclip-".count).uppercased())")
            }
            // A 1920x1080 camera frame in full-frame mode at a 224 short side.
            let frame = fullFrame(patch: patch)
            for batch in [1, 8] {
                cases.append(Case(name: "\(label) 224x224 b\(batch)", shape: shape, patch: patch, tower: "vision", batch: batch))
                cases.append(Case(name: "\(label) \(frame.width)x\(frame.height) dense b\(batch)", shape: shape, patch: patch, tower: "vision",
                                  width: frame.width, height: frame.height, batch: batch, dense: true))
            }
        }
        for batch in [1, 8] { cases.append(Case(name: "text ViT-B 77 tokens b\(batch)", patch: 32, tower: "text", batch: batch)) }
        if let only { cases = cases.filter { $0.name.contains(only) } }

        print("sightline-bench encoder: \(threads) threads; per case a warm-up, then \(rounds) rounds of one sgemm, one Sightline pass and one PyTorch pass (medians)")
        print("sgemm: OpenBLAS, 2048^3, \(threads) threads, measured in every round next to the encoders")
        let sgemmRate = MatrixProductRate(size: 2048, threads: threads)
        let peerProcess = noPeer ? nil : try Peer(python: python, script: peer, activeWait: peerActiveWait)

        var rows: [[String]] = []
        var ratios: [String: Double] = [:]
        var efficiencies: [String: Double] = [:]
        var current: (key: String, model: CLIPModel)?
        for item in cases {
            let key = item.shape
            if current?.key != key {
                current = nil  // release the previous model's weights before making the next
                let model: CLIPModel
                if let checkpoint = Self.tinyCLIP[item.shape] {
                    // Both towers load (the text one is small); F16 on disk, F32 in memory as for any checkpoint.
                    model = try CLIPModel(directory: checkpoint.materialise(), threads: threads, logger: Logger(label: "sightline-bench"))
                } else {
                    model = try CLIPModel.randomViTB(patchSize: item.patch, text: item.tower == "text",
                                                     vision: item.tower == "vision", threads: threads)
                }
                let bytes = item.tower == "text" ? model.weightBytes.text : model.weightBytes.vision
                print(String(format: "%@ %@ tower: %.0f MB of F32 weights", model.info.name, item.tower, Double(bytes) / 1_048_576))
                current = (key, model)
            }
            let prepared = try prepare(item, model: current!.model)
            try prepared.run()
            var ourTimes: [Double] = [], theirTimes: [Double] = [], sgemmRates: [Double] = []
            var ourRSS = 0.0, theirRSS = 0.0
            for round in 0..<rounds {
                sgemmRates.append(sgemmRate.measure())
                resetPeakRSS()
                let start = DispatchTime.now().uptimeNanoseconds
                try prepared.run()
                ourTimes.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(item.batch))
                ourRSS = max(ourRSS, peakRSSMB())
                // The peer builds ViT-B shapes only.
                if let peerProcess, Self.tinyCLIP[item.shape] == nil {
                    let reply = try peerProcess.measure(item, threads: threads, warmup: round == 0)
                    theirTimes.append(reply.msPerItem)
                    theirRSS = max(theirRSS, reply.peakRSSMB)
                }
            }
            let ms = median(ourTimes), sgemm = median(sgemmRates)
            let ours = Result(msPerItem: ms, gflops: prepared.flops / ms / 1e6, peakRSSMB: ourRSS)
            let theirs = theirTimes.isEmpty ? nil : Result(msPerItem: median(theirTimes), gflops: 0, peakRSSMB: theirRSS)
            let ratio = theirs.map { ours.msPerItem / $0.msPerItem }
            ratios[item.name] = ratio
            efficiencies[item.name] = ours.gflops / sgemm
            rows.append([
                item.name, String(format: "%.0f", sgemm), String(format: "%.1f", ours.msPerItem), String(format: "%.0f", ours.gflops),
                String(format: "%.0f%%", 100 * ours.gflops / sgemm), String(format: "%.0f", ours.peakRSSMB),
                theirs.map { String(format: "%.1f", $0.msPerItem) } ?? "-", theirs.map { String(format: "%.0f", $0.peakRSSMB) } ?? "-",
                ratio.map { String(format: "%.2f", $0) } ?? "-",
            ])
            print("  \(rows.last!.joined(separator: "  "))")
        }
        peerProcess?.close()
        print("")
        print(table(["case", "sgemm GFLOP/s", "Sightline ms/item", "GFLOP/s", "of sgemm", "peak RSS MB", "PyTorch ms/item", "peak RSS MB", "Sightline/PyTorch"], rows))
        let headline = cases.first { $0.name.hasPrefix("ViT-B/16 224x224 b8") }?.name
        if let headline {
            if let ratio = ratios[headline] { print(String(format: "%@: Sightline/PyTorch %.2f (target <= 1.0)", headline, ratio)) }
            if let efficiency = efficiencies[headline] { print(String(format: "%@: %.0f%% of the measured sgemm rate (target >= 60%%)", headline, 100 * efficiency)) }
        }
    }

    /// The size full-frame mode gives a 1920x1080 frame at a 224 short side.
    func fullFrame(patch: Int) -> (width: Int, height: Int) {
        (Int((1920.0 * 224 / 1080 / Double(patch) + 0.5).rounded(.down)) * patch, 224)
    }

    /// One forward pass of the case's batch, and its FLOPs per item.
    func prepare(_ item: Case, model: CLIPModel) throws -> (run: () throws -> Void, flops: Double) {
        if item.tower == "text" {
            var random = SystemRandomNumberGenerator()
            let sequences = (0..<item.batch).map { _ in
                [49406] + (0..<(item.tokens - 2)).map { _ in Int32.random(in: 1..<49406, using: &random) } + [49407]
            }
            return ({ _ = try model.encodeTokens(sequences) }, model.textFLOPs(tokens: item.tokens))
        }
        let images = (0..<item.batch).map { i in noiseImage(width: item.width, height: item.height, seed: i) }
        if item.dense {
            let shortSide = min(item.width, item.height)
            let grid = model.denseGrid(width: item.width, height: item.height, shortSide: shortSide)
            return ({ _ = try model.encodeDense(images, shortSide: shortSide) },
                    model.visionFLOPs(gridWidth: grid.width, gridHeight: grid.height, dense: true))
        }
        return ({ _ = try model.encodeImages(images) },
                model.visionFLOPs(gridWidth: 224 / item.patch, gridHeight: 224 / item.patch, dense: false))
    }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    func noiseImage(width: Int, height: Int, seed: Int) -> RGBImage {
        var state = UInt64(seed + 1) &* 0x9E37_79B9_7F4A_7C15
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in pixels.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            pixels[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
        var image = RGBImage(width: width, height: height)
        image.pixels = pixels
        return image
    }

    func table(_ header: [String], _ rows: [[String]]) -> String {
        var lines = ["| " + header.joined(separator: " | ") + " |", "|" + header.map { _ in "---" }.joined(separator: "|") + "|"]
        lines += rows.map { "| " + $0.joined(separator: " | ") + " |" }
        return lines.joined(separator: "\n")
    }
}

/// Linux: writing 5 to clear_refs resets the peak resident set size, so each case reports its own.
func resetPeakRSS() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

func peakRSSMB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kilobytes / 1024
}

/// The PyTorch peer, one long-lived process answering one JSON line per case.
final class Peer {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    var buffer = Data()

    init(python: String, script: String, activeWait: Bool) throws {
        guard FileManager.default.fileExists(atPath: script) else {
            throw SightlineError(.fileNotFound, "the PyTorch peer script is missing (run from the repository root, or pass --peer)",
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

    func measure(_ item: EncoderBenchmark.Case, threads: Int, warmup: Bool) throws -> EncoderBenchmark.Result {
        let request: [String: Any] = [
            "name": item.name, "threads": threads, "repeats": 1, "warmup": warmup, "tower": item.tower, "patch": item.patch,
            "width": item.width, "height": item.height, "batch": item.batch, "dense": item.dense, "tokens": item.tokens,
        ]
        var line = try JSONSerialization.data(withJSONObject: request)
        line.append(0x0A)
        input.fileHandleForWriting.write(line)
        while !buffer.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else {
                throw SightlineError(.system, "the PyTorch peer exited; run `\(process.arguments!.joined(separator: " "))` to see why")
            }
            buffer.append(chunk)
        }
        let end = buffer.firstIndex(of: 0x0A)!
        let reply = buffer[buffer.startIndex..<end]
        buffer = Data(buffer[(end + 1)...])
        guard let json = try JSONSerialization.jsonObject(with: reply) as? [String: Any],
              let ms = json["ms_per_item"] as? Double, let rss = json["peak_rss_mb"] as? Double
        else {
            throw SightlineError(.system, "the PyTorch peer answered \(String(decoding: reply, as: UTF8.self))")
        }
        return EncoderBenchmark.Result(msPerItem: ms, gflops: 0, peakRSSMB: rss)
    }

    func close() {
        input.fileHandleForWriting.closeFile()
        process.waitUntilExit()
    }
}
