import ArgumentParser
import Foundation
import Logging
import SightlineCore
@_spi(Benchmarks) import SightlineModel

/// `sightline-bench encoder`: the CLIP encoders at real ViT-B shapes (random weights made in
/// memory) in each precision, against PyTorch and ONNX Runtime running the same shapes at the
/// same precision with the same thread count, interleaved case by case in one run, plus the
/// machine's own sgemm rate measured in the same run.
struct EncoderBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoder",
        abstract: "CLIP image and text encoders, at each precision, against PyTorch and ONNX Runtime in the same run.")

    @Option(name: .long, help: "Compute threads for both Sightline and PyTorch (default: one per core).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Timed passes per case, Sightline's and PyTorch's alternating; the medians count.")
    var rounds: Int = 5

    @Option(name: .long, help: "Python with torch and transformers (and onnx, onnxruntime for the ONNX Runtime peers) for the peers (Benchmarks/requirements-peers.txt).")
    var python: String = "python3"

    @Option(name: .long, help: "Sightline's precisions to measure, comma-separated (default: fp32 and every lower one this CPU runs).")
    var precisions: String?

    @Option(name: .long, help: "Peers, comma-separated: torch-fp32, torch-int8 (dynamic quantisation of the linear layers), torch-bf16 (autocast), onnxruntime-fp32, onnxruntime-int8 (quantize_dynamic). Each is measured beside Sightline's pass at its own precision. Default: torch-fp32, torch-int8, onnxruntime-int8 and, where the CPU has BF16, torch-bf16.")
    var peers: String?

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

    /// A peer: which runtime, at which precision.
    struct PeerEngine: Hashable {
        var runtime: String
        var precision: Precision

        init?(_ name: String) {
            let parts = name.split(separator: "-").map(String.init)
            guard parts.count == 2, ["torch", "onnxruntime"].contains(parts[0]), let precision = Precision(rawValue: parts[1]) else { return nil }
            (runtime, self.precision) = (parts[0], precision)
        }

        var label: String { "\(runtime == "torch" ? "PyTorch" : "ONNX Runtime") \(precision.rawValue)" }
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

        let ours: [Precision]
        if let precisions {
            ours = try precisions.split(separator: ",").map { name in
                guard let precision = Precision(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--precisions: unknown precision \(name) (fp32, int8, bf16)")
                }
                guard precision.isSupported else { throw ValidationError("--precisions: this CPU cannot run \(name) (\(MachineDescription.line))") }
                return precision
            }
        } else {
            ours = [.fp32] + Precision.candidates
        }
        var engines: [PeerEngine] = []
        if !noPeer {
            let names = peers.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                ?? ["torch-fp32", "torch-int8", "onnxruntime-int8"] + (Precision.bf16.isSupported ? ["torch-bf16"] : [])
            engines = try names.map { name in
                guard let engine = PeerEngine(name) else {
                    throw ValidationError("--peers: unknown peer \(name) (torch-fp32, torch-int8, torch-bf16, onnxruntime-fp32, onnxruntime-int8)")
                }
                return engine
            }
        }

        print("sightline-bench encoder: \(threads) threads; Sightline in \(ours.map(\.rawValue).joined(separator: ", ")); peers: \(engines.isEmpty ? "none" : engines.map(\.label).joined(separator: ", "))")
        print("per case a warm-up, then \(rounds) rounds of one sgemm, one Sightline pass and one pass of each peer at the same precision (medians)")
        print("sgemm: OpenBLAS, 2048^3, \(threads) threads, measured in every round next to the encoders")
        let sgemmRate = MatrixProductRate(size: 2048, threads: threads)
        let peerProcess = engines.isEmpty ? nil : try Peer(python: python, script: peer, activeWait: peerActiveWait)

        var rows: [[String]] = []
        /// Sightline's ms per item and peak RSS by (case, precision); the peers' by (case, peer).
        var measured: [String: Result] = [:]
        var peerMeasured: [String: Result] = [:]
        // Shape by shape, precision by precision: one model in memory at a time, so that each
        // precision's peak RSS is its own (the fp32 weights are gone once a model is converted).
        var shapesInOrder: [String] = []
        for item in cases where !shapesInOrder.contains(item.shape + "/" + item.tower) { shapesInOrder.append(item.shape + "/" + item.tower) }
        for shapeKey in shapesInOrder {
            let shapeCases = cases.filter { $0.shape + "/" + $0.tower == shapeKey }
            for precision in ours {
                // Heap pages the previous model freed go back to the system, so that they do
                // not count in this one's peak RSS.
                _ = mallocTrim(0)
                let first = shapeCases[0]
                var model: CLIPModel
                if let checkpoint = Self.tinyCLIP[first.shape] {
                    // Both towers load (the text one is small); F16 on disk, F32 in memory as for any checkpoint.
                    model = try CLIPModel(directory: checkpoint.materialise(), threads: threads, logger: Logger(label: "sightline-bench"))
                } else {
                    model = try CLIPModel.randomViTB(patchSize: first.patch, text: first.tower == "text", vision: first.tower == "vision",
                                                     threads: threads)
                }
                if precision != .fp32 { model = try model.converted(to: precision) }
                let bytes = first.tower == "text" ? model.weightBytes.text : model.weightBytes.vision
                print(String(format: "%@ %@ tower in %@ (%@): %.0f MB of weights", model.info.name, first.tower, precision.rawValue,
                             model.info.kernels, Double(bytes) / 1_048_576))
                let matching = engines.filter { $0.precision == precision && Self.tinyCLIP[first.shape] == nil }
                for item in shapeCases {
                    let prepared = try prepare(item, model: model)
                    try prepared.run()
                    var ourTimes: [Double] = [], sgemmRates: [Double] = [], ourRSS = 0.0
                    var theirTimes: [PeerEngine: [Double]] = [:], theirRSS: [PeerEngine: Double] = [:]
                    for round in 0..<rounds {
                        sgemmRates.append(sgemmRate.measure())
                        resetPeakRSS()
                        let start = DispatchTime.now().uptimeNanoseconds
                        try prepared.run()
                        ourTimes.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(item.batch))
                        ourRSS = max(ourRSS, peakRSSMB())
                        for engine in matching {
                            let reply = try peerProcess!.measure(item, as: engine, threads: threads, warmup: round == 0)
                            theirTimes[engine, default: []].append(reply.msPerItem)
                            theirRSS[engine] = max(theirRSS[engine] ?? 0, reply.peakRSSMB)
                        }
                    }
                    let ms = median(ourTimes), sgemm = median(sgemmRates)
                    let result = Result(msPerItem: ms, gflops: prepared.flops / ms / 1e6, peakRSSMB: ourRSS)
                    measured["\(item.name)|\(precision.rawValue)"] = result
                    let fp32 = measured["\(item.name)|fp32"]
                    func row(_ engine: String, _ result: Result) -> [String] {
                        [item.name, engine, precision.rawValue, String(format: "%.0f", sgemm), String(format: "%.1f", result.msPerItem),
                         String(format: "%.0f", prepared.flops / result.msPerItem / 1e6), String(format: "%.0f", result.peakRSSMB),
                         fp32.map { String(format: "%.2fx", $0.msPerItem / result.msPerItem) } ?? "-",
                         String(format: "%.2f", result.msPerItem / ms)]
                    }
                    rows.append(row("Sightline", result))
                    print("  \(rows.last!.joined(separator: "  "))")
                    for engine in matching {
                        let theirs = Result(msPerItem: median(theirTimes[engine]!), gflops: 0, peakRSSMB: theirRSS[engine]!)
                        peerMeasured["\(item.name)|\(engine.runtime)-\(engine.precision.rawValue)"] = theirs
                        rows.append(row(engine.label, theirs))
                        print("  \(rows.last!.joined(separator: "  "))")
                    }
                }
            }
        }
        peerProcess?.close()
        print("")
        print(table(["case", "engine", "precision", "sgemm GFLOP/s", "ms/item", "GOP/s", "peak RSS MB", "speed-up on Sightline fp32",
                     "time / Sightline's at this precision"], rows))
        let fullFrame = fullFrame(patch: 16)
        let headline = "ViT-B/16 \(fullFrame.width)x\(fullFrame.height) dense b8"
        if let fp32 = measured["\(headline)|fp32"] {
            print(String(format: "%@ fp32: %.0f%% of the measured sgemm rate", headline,
                         100 * fp32.gflops / max(1, sgemmRate.measure())))
            if let int8 = measured["\(headline)|int8"] {
                print(String(format: "%@: int8 %.2fx faster than Sightline's fp32 (target >= 1.7x on AVX2, more with VNNI); peak RSS %.0f MB vs %.0f MB in fp32 (target below)",
                             headline, fp32.msPerItem / int8.msPerItem, int8.peakRSSMB, fp32.peakRSSMB))
                for peer in ["torch-int8", "onnxruntime-int8"] {
                    if let theirs = peerMeasured["\(headline)|\(peer)"] {
                        print(String(format: "%@: Sightline int8 / %@ time %.2f (target < 1)", headline, peer, int8.msPerItem / theirs.msPerItem))
                    }
                }
            }
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

/// glibc's malloc_trim (in malloc.h, which the Glibc module does not export).
@_silgen_name("malloc_trim")
func mallocTrim(_ pad: Int) -> Int32
