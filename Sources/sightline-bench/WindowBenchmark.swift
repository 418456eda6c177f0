import ArgumentParser
import Foundation
import Logging
import SightlineCore
import SightlineGrounding
import SightlineMedia
import SightlineModel
import SightlinePipeline

/// Encoding only a window around motion against encoding the whole frame, in the same run.
///
/// Each clip is decoded at the stream's pace and every frame goes through `MotionDetector` in
/// order, as ingest does. A stream's result is kept as the daemon keeps it: the first frame,
/// a global change and a refresh every `--refresh` seconds are full encodings; frames where
/// nothing changed carry the result. A frame that changed gets the patch-aligned window
/// around its motion boxes, grown by `--margin` cells; when that covers more than
/// `--max-fraction` of the patch grid the frame is encoded whole, else only the window is,
/// merged into the stream's last result, which becomes the next one. Each of those frames is also encoded whole, and the two are compared:
/// the patch embeddings' cosine similarity inside the window and outside it, each query's
/// score and mask (the same masks `StreamGrounder` makes, without smoothing through time:
/// similarities, probabilities against the background words and the other queries,
/// `MaskExtractor`), and the encoder's time for both.
struct WindowBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "window",
        abstract: "Window-around-motion encoding merged into the last result, against a full encoding of the same frames.",
        discussion: """
            --model takes a checkpoint directory or random-vit-b16 / random-vit-b32 (random weights \
            with the real shapes, written once under the temporary directory). Models with random \
            weights hold nowhere at the default threshold, so each query's mask threshold on a frame \
            is the --quantile of its probabilities over the full encoding's patches (the top fifth \
            by default), the same threshold for both encodings. The query score is the best \
            instance's score (mean refined probability over its mask; 0 without an instance).
            """
    )

    @Option(help: "Model directory, or random-vit-b16 / random-vit-b32.")
    var model = "Tests/Fixtures/clip/tiny-gelu-p14"

    @Option(help: "Video files (default: the bundled clips).")
    var clip: [String] = ["Tests/Fixtures/media/bottle-detection.mp4", "Tests/Fixtures/media/bikes.mp4"]

    @Option(help: "Frames per second sampled, as a stream's fps.")
    var sampleRate = 2.0

    @Option(name: .customLong("short-side"), help: "Encoder input short side.")
    var shortSide = 224

    @Option(help: "Cells of the patch grid added around the motion boxes.")
    var margin = 1

    @Option(name: .customLong("max-fraction"), help: "Largest fraction of the patch grid a window may cover (else the frame is encoded whole).")
    var maxFraction = 0.25

    @Option(help: "Seconds after which a full encoding refreshes the stream's result (motion.refresh).")
    var refresh = 10.0

    @Option(help: "Each query's mask threshold: this quantile of its probabilities on the full encoding.")
    var quantile = 0.8

    @Option(help: "Queries, comma-separated.")
    var queries = "a bottle,a hand,a person,a bicycle,a car"

    @Option(name: .customLong("max-frames"), help: "At most this many window frames per clip (0: all).")
    var maxFrames = 0

    @Flag(help: "Print every compared frame.")
    var each = false

    /// One compared frame of one clip.
    struct Sample {
        var pts: Double
        var window: PatchWindow
        var cells: Int
        var inside: [Float] = []
        var outside: [Float] = []
        /// Inside the window: the cosine of the last result carried unchanged.
        var carriedInside: [Float] = []
        /// Per query: mask IoU and score difference against the full encoding.
        var ious: [Double] = []
        var scoreDifferences: [Float] = []
        /// The same with the window merged into this frame's own full encoding: the window's
        /// own error, without what the last result missed outside it.
        var ownIous: [Double] = []
        var ownScoreDifferences: [Float] = []
        /// The same for the stream's last result carried unchanged (no encoding at all).
        var carriedIous: [Double] = []
        var carriedScoreDifferences: [Float] = []
        var fullSeconds = 0.0
        var windowSeconds = 0.0
    }

    func run() async throws {
        print(MachineDescription.line)
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let model = try CLIPModel(directory: try RandomCheckpoint.resolve(model), logger: logger)
        print("model \(model.info.name): patch \(model.info.patchSize), width \(model.info.visionWidth), \(model.info.visionLayers) layers, "
              + "logit scale \(model.info.logitScale), \(model.info.threads) threads\(model.info.isTestModel ? " (test model: random weights)" : "")")
        print("short side \(shortSide), margin \(margin) cell(s), window when it covers at most \(Int(maxFraction * 100))% of the patch grid, "
              + "refresh \(refresh) s, mask threshold at quantile \(quantile) of the full map")
        let settings = GroundingSettings()
        let texts = queries.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let classes = try classMatrix(model: model, texts: texts + settings.backgroundWords.filter { !texts.contains($0) }, settings: settings)
        let probabilities = try QueryProbabilities(logitScale: model.info.logitScale)
        let extractor = try MaskExtractor(parameters: settings.masks)
        var all: [Sample] = []
        for path in clip {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("no video at \(path) (run from the source tree, or pass --clip)")
            }
            let samples = try await measure(clip: path, model: model) { dense, frame, thresholds in
                let sims = cosineSimilarities(dense, classes)
                let maps = try probabilities.maps(similarities: sims, gridWidth: dense.gridWidth, gridHeight: dense.gridHeight,
                                                  classes: classes.rows, queryCount: texts.count)
                let thresholds = thresholds ?? maps.map { Self.quantile($0.values, quantile) }
                let found = try extractor.instances(maps: maps, frame: frame, thresholds: thresholds)
                return (found, thresholds)
            }
            all += samples
        }
        print("")
        print("all clips:")
        report(all)
    }

    typealias Ground = (DenseEmbeddings, RGBImage, [Float]?) throws -> ([[GroundedInstance]], [Float])

    func measure(clip path: String, model: CLIPModel, ground: Ground) async throws -> [Sample] {
        var frames: [Frame] = []
        for try await frame in readFrames(of: path, sampleRate: sampleRate) { frames.append(frame) }
        guard let first = frames.first else { return [] }
        let grid = model.denseGrid(width: first.image.width, height: first.image.height, shortSide: shortSide)
        print("")
        print("clip \(path): \(frames.count) frames at \(first.image.width)x\(first.image.height), sampled at \(sampleRate) fps, "
              + "grid \(grid.width)x\(grid.height)")
        // Warm-up: the grid's position table and the scratch memory.
        _ = try model.encodeDense([first.image], shortSide: shortSide)
        var detector = MotionDetector()
        var last: DenseEmbeddings?
        var lastFull = -Double.infinity
        var counts = (full: 0, carried: 0, window: 0)
        var samples: [Sample] = []
        for frame in frames {
            let motion = detector.update(frame.image)
            if maxFrames > 0, samples.count >= maxFrames { break }
            let boxes = motion.boxes.map { (x: $0.x, y: $0.y, width: $0.width, height: $0.height) }
            let window = model.patchWindow(covering: boxes, frameWidth: frame.image.width, frameHeight: frame.image.height,
                                           shortSide: shortSide, margin: margin)
            let small = !motion.globalChange && window.map { Double($0.cellCount) <= maxFraction * Double(grid.width * grid.height) } ?? false
            if last == nil || motion.globalChange || (motion.changed && !small) || frame.pts - lastFull >= refresh {
                last = try model.encodeDense([frame.image], shortSide: shortSide)[0]
                lastFull = frame.pts
                counts.full += 1
                continue
            }
            guard motion.changed, let base = last, let window else {
                counts.carried += 1
                continue
            }
            counts.window += 1
            var sample = Sample(pts: frame.pts, window: window, cells: window.cellCount)
            let t0 = Date()
            let patches = try model.encodeDense(frame.image, window: window, shortSide: shortSide)
            let t1 = Date()
            let full = try model.encodeDense([frame.image], shortSide: shortSide)[0]
            let t2 = Date()
            sample.windowSeconds = t1.timeIntervalSince(t0)
            sample.fullSeconds = t2.timeIntervalSince(t1)
            let merged = base.merging(patches, at: window)
            let own = full.merging(patches, at: window)
            for y in 0..<full.gridHeight {
                for x in 0..<full.gridWidth {
                    let c = Self.cosine(full, merged, x, y)
                    if window.contains(x: x, y: y) {
                        sample.inside.append(c)
                        sample.carriedInside.append(Self.cosine(full, base, x, y))
                    } else {
                        sample.outside.append(c)
                    }
                }
            }
            let (reference, thresholds) = try ground(full, frame.image, nil)
            let (windowed, _) = try ground(merged, frame.image, thresholds)
            let (ownWindowed, _) = try ground(own, frame.image, thresholds)
            let (carried, _) = try ground(base, frame.image, thresholds)
            for q in reference.indices {
                let truth = try Self.union(reference[q], frame.image)
                sample.ious.append(Self.iou(truth, try Self.union(windowed[q], frame.image)))
                sample.ownIous.append(Self.iou(truth, try Self.union(ownWindowed[q], frame.image)))
                sample.scoreDifferences.append(abs(Self.score(reference[q]) - Self.score(windowed[q])))
                sample.ownScoreDifferences.append(abs(Self.score(reference[q]) - Self.score(ownWindowed[q])))
                sample.carriedIous.append(Self.iou(truth, try Self.union(carried[q], frame.image)))
                sample.carriedScoreDifferences.append(abs(Self.score(reference[q]) - Self.score(carried[q])))
            }
            if each {
                print(String(format: "  %7.2f s  window %d,%d %dx%d (%d of %d cells)  cos in %.3f out %.3f  IoU %.3f (own %.3f, carried %.3f)  |dscore| %.3f  time %.2f",
                             frame.pts, window.x, window.y, window.width, window.height, window.cellCount, full.patchCount,
                             Self.mean(sample.inside), Self.mean(sample.outside), Self.mean(sample.ious), Self.mean(sample.ownIous),
                             Self.mean(sample.carriedIous), Self.mean(sample.scoreDifferences), sample.windowSeconds / sample.fullSeconds))
            }
            samples.append(sample)
            last = merged
        }
        print("frames: \(counts.full) full encodings, \(counts.carried) carried, \(counts.window) windows compared")
        report(samples)
        return samples
    }

    func report(_ samples: [Sample]) {
        guard !samples.isEmpty else {
            print("  no frame with motion over a small part")
            return
        }
        let cells = Self.mean(samples.map { Double($0.cells) / Double($0.inside.count + $0.outside.count) })
        let inside = samples.flatMap(\.inside), outside = samples.flatMap(\.outside)
        let ious = samples.flatMap(\.ious), own = samples.flatMap(\.ownIous)
        let scores = samples.flatMap(\.scoreDifferences), ownScores = samples.flatMap(\.ownScoreDifferences)
        let carried = samples.flatMap(\.carriedIous), carriedScores = samples.flatMap(\.carriedScoreDifferences)
        let windowTime = samples.reduce(0) { $0 + $1.windowSeconds }, fullTime = samples.reduce(0) { $0 + $1.fullSeconds }
        print(String(format: "  %d frames; window: %.1f%% of the grid's cells on average", samples.count, 100 * cells))
        let carriedInside = samples.flatMap(\.carriedInside)
        print(String(format: "  patch cosine to the full encoding: inside the window mean %.3f (min %.3f), outside mean %.3f (min %.3f); "
                     + "inside, the last result carried: mean %.3f (min %.3f)",
                     Self.mean(inside), inside.min() ?? 0, Self.mean(outside), outside.min() ?? 0,
                     Self.mean(carriedInside), carriedInside.min() ?? 0))
        print(String(format: "  mask IoU with the full encoding's: mean %.3f, %.0f%% of (frame, query) pairs at 0.9 or more; "
                     + "merged into the frame's own full encoding: mean %.3f; last result carried: mean %.3f",
                     Self.mean(ious), 100 * Double(ious.filter { $0 >= 0.9 }.count) / Double(ious.count), Self.mean(own), Self.mean(carried)))
        print(String(format: "  query score |difference|: mean %.3f, max %.3f; merged into the frame's own: mean %.3f; carried: mean %.3f",
                     Self.mean(scores), scores.max() ?? 0, Self.mean(ownScores), Self.mean(carriedScores)))
        print(String(format: "  encoder: window %.1f ms, full %.1f ms per frame, ratio %.2f",
                     1000 * windowTime / Double(samples.count), 1000 * fullTime / Double(samples.count), windowTime / fullTime))
    }

    func classMatrix(model: CLIPModel, texts: [String], settings: GroundingSettings) throws -> EmbeddingMatrix {
        let prompts = texts.flatMap { PromptEnsemble.prompts(for: $0, templates: settings.templates) }
        let encoded = try model.encodeTexts(prompts)
        let n = settings.templates.count
        let rows = try texts.indices.flatMap { i in
            try PromptEnsemble.combine(rows: Array(encoded.values[(i * n * encoded.dim)..<((i + 1) * n * encoded.dim)]), count: n, dimension: encoded.dim)
        }
        return EmbeddingMatrix(rows: texts.count, dim: encoded.dim, values: rows)
    }

    static func cosine(_ a: DenseEmbeddings, _ b: DenseEmbeddings, _ x: Int, _ y: Int) -> Float {
        let start = (y * a.gridWidth + x) * a.dim
        var dot: Float = 0
        for i in start..<(start + a.dim) { dot += a.values[i] * b.values[i] }
        return dot
    }

    /// The value below which `q` of `values` lie, kept strictly inside (0, 1).
    static func quantile(_ values: [Float], _ q: Double) -> Float {
        let sorted = values.sorted()
        let value = sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))]
        return min(0.99, max(0.01, value))
    }

    /// The union of a query's instance masks on the frame.
    static func union(_ instances: [GroundedInstance], _ frame: RGBImage) throws -> BinaryMask {
        var bits = [UInt8](repeating: 0, count: frame.width * frame.height)
        for instance in instances {
            let mask = instance.mask.binary()
            for i in bits.indices { bits[i] |= mask.bits[i] }
        }
        return try BinaryMask(width: frame.width, height: frame.height, values: bits)
    }

    static func iou(_ a: BinaryMask, _ b: BinaryMask) -> Double {
        (try? Metrics.regionSimilarity(a, b)) ?? 0
    }

    static func score(_ instances: [GroundedInstance]) -> Float {
        instances.map(\.score).max() ?? 0
    }

    static func mean<T: BinaryFloatingPoint>(_ values: [T]) -> Double {
        values.isEmpty ? 0 : values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
    }
}
