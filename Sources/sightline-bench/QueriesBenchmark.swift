import ArgumentParser
import Foundation
import Logging
import SightlineCore
import SightlineGrounding
import SightlineMedia
import SightlineModel
import SightlinePipeline

/// The cost of standing queries: everything after the image encoder (similarities,
/// probabilities, smoothing, masks, tubes) for 1, 10 and 100 queries on one stream, as a
/// ratio to the encoder's own time in the same run.
struct QueriesBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queries",
        abstract: "Time after the encoder for 1, 10 and 100 standing queries, against the encoder's time.",
        discussion: """
            Uses a CLIP ViT-B/16 checkpoint with random weights (written once under the temporary \
            directory) unless --model is given, and the bundled 854x480 DAVIS frames. Four cases: \
            `contrast` grounds with the default settings through StreamGrounder (with random weights \
            no query holds anywhere: the floor); `typical` lets up to five queries hold on objects of \
            about a tenth of the frame (their similarities raised there, since random weights cannot); \
            `busy` lets every query hold on an object of its own (a 1/N share of the frame); \
            `all-active` removes every contrast, so that every query holds on the whole frame and masks, \
            PAMR and tubes run for every query (the worst case).
            """
    )

    @Option(name: .long, help: "Model directory, or one of \(RandomCheckpoint.names) (default: random-vit-b16).")
    var model: String?

    @Option(name: .long, help: "Frames per encoder batch.")
    var batch = 4

    @Option(name: .long, help: "Batches measured per case (after one warm-up batch).")
    var batches = 3

    @Option(name: .customLong("short-side"), help: "Encoder input short side.")
    var shortSide = 224

    @Option(name: .customLong("counts"), help: "Query counts, comma-separated.")
    var counts = "1,10,100"

    func run() async throws {
        print(MachineDescription.line)
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let directory = try model.map(RandomCheckpoint.resolve) ?? RandomCheckpoint.vitB16.materialise()
        let model = try CLIPModel(directory: directory, logger: logger)
        let frames = try Self.frames(count: batch)
        let queryCounts = counts.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        print("model \(model.info.name): patch \(model.info.patchSize), width \(model.info.visionWidth), \(model.info.visionLayers) layers, "
              + "logit scale \(model.info.logitScale), \(model.info.threads) threads")
        print("frames \(frames[0].image.width)x\(frames[0].image.height), short side \(shortSide), batch \(batch), \(batches) batches per case")
        print("")
        print("case        queries  active/frame  encoder ms/frame  after encoder ms/frame  ratio")
        var summary: [String] = []
        for allActive in [false, true] {
            for count in queryCounts {
                var settings = GroundingSettings()
                settings.shortSide = shortSide
                if allActive {
                    settings.backgroundWords = []
                    settings.contrastWithOtherQueries = false
                }
                let queries = (0..<count).map { GroundingQuery(id: "q\($0)", text: Self.phrases[$0 % Self.phrases.count] + ($0 < Self.phrases.count ? "" : " \($0)")) }
                let grounder = try StreamGrounder(stream: "bench", model: model, settings: settings, queries: queries, logger: logger)
                var pts = 0.0
                func next() -> [Frame] {
                    frames.map { f in
                        defer { pts += 0.2 }
                        return Frame(stream: "bench", seq: UInt64(pts * 5), pts: pts, captureTime: Date(), image: f.image)
                    }
                }
                _ = try grounder.process(next())
                var encoder = 0.0, after = 0.0, active = 0
                for _ in 0..<batches {
                    let result = try grounder.process(next())
                    encoder += result.encoderSeconds
                    after += result.groundingSeconds
                    active += result.instances.reduce(0) { $0 + $1.filter { !$0.isEmpty }.count }
                }
                let n = Double(batches * frames.count)
                let ratio = after / encoder
                let name = allActive ? "all-active" : "contrast"
                print(pad(name, 10) + "  " + pad("\(count)", 7, left: true) + "  " + pad(fmt(Double(active) / n, 1), 12, left: true)
                      + "  " + pad(fmt(encoder / n * 1000, 1), 16, left: true) + "  " + pad(fmt(after / n * 1000, 1), 22, left: true)
                      + "  " + pad(fmt(ratio * 100, 1) + "%", 6, left: true))
                if count == queryCounts.max() { summary.append("\(name): \(count) queries add \(fmt(ratio * 100, 1))% to the encoder's time") }
            }
        }
        for (name, busy) in [("typical", false), ("busy", true)] {
            for count in queryCounts {
                let hot = busy ? count : min(count, 5), cells = busy ? max(count, 10) : 10
                let (active, encoder, after) = try emulated(model: model, frames: frames, queries: count, hot: hot, cells: cells, logger: logger)
                let n = Double(batches * frames.count)
                let ratio = after / encoder
                print(pad(name, 10) + "  " + pad("\(count)", 7, left: true) + "  " + pad(fmt(Double(active) / n, 1), 12, left: true)
                      + "  " + pad(fmt(encoder / n * 1000, 1), 16, left: true) + "  " + pad(fmt(after / n * 1000, 1), 22, left: true)
                      + "  " + pad(fmt(ratio * 100, 1) + "%", 6, left: true))
                if count == queryCounts.max() { summary.append("\(name): \(count) queries add \(fmt(ratio * 100, 1))% to the encoder's time") }
            }
        }
        print("")
        for line in summary { print(line) }
        print("target: 100 queries add less than 25% (contrast case)")
    }

    /// A stream where `hot` of the queries are in view, each holding on an object of its own:
    /// the frame is divided into `cells` equal cells, and query `q`'s object is the ellipse
    /// inscribed in cell `q`, moving a little each frame; the other queries hold nowhere. Random weights cannot produce that, so the similarities of those
    /// queries are raised by 0.2 on their object's patches; otherwise every step runs as in
    /// `StreamGrounder.process`, with the default settings: the similarity product for all
    /// classes, the shared softmax, smoothing, masks with PAMR and the tube linker.
    func emulated(model: CLIPModel, frames: [Frame], queries count: Int, hot: Int, cells: Int, logger: Logger) throws -> (Int, Double, Double) {
        let settings = GroundingSettings()
        let texts = (0..<count).map { Self.phrases[$0 % Self.phrases.count] + ($0 < Self.phrases.count ? "" : " \($0)") }
        let classTexts = texts + settings.backgroundWords
        let prompts = classTexts.flatMap { PromptEnsemble.prompts(for: $0, templates: settings.templates) }
        let encoded = try model.encodeTexts(prompts)
        let n = settings.templates.count
        let rows = try classTexts.indices.flatMap { i in
            try PromptEnsemble.combine(rows: Array(encoded.values[(i * n * encoded.dim)..<((i + 1) * n * encoded.dim)]), count: n, dimension: encoded.dim)
        }
        let classes = EmbeddingMatrix(rows: classTexts.count, dim: encoded.dim, values: rows)
        let probabilities = try QueryProbabilities(logitScale: model.info.logitScale)
        let extractor = try MaskExtractor(parameters: settings.masks)
        var linker = try TubeLinker(stream: "bench", parameters: settings.tubes)
        let queries = texts.enumerated().map { GroundingQuery(id: "q\($0.offset)", text: $0.element) }
        var context: [[ProbabilityMap]] = []
        var encoderTime = 0.0, afterTime = 0.0, active = 0
        var frameIndex = 0
        for round in 0...batches {
            let t0 = Date()
            let dense = try model.encodeDense(frames.map(\.image), shortSide: shortSide)
            let t1 = Date()
            var maps: [[ProbabilityMap]] = []
            for d in dense {
                var sims = cosineSimilarities(d, classes)
                let columns = Int((Double(cells) * Double(d.gridWidth) / Double(d.gridHeight)).squareRoot().rounded(.up))
                let rowsOfCells = (cells + columns - 1) / columns
                let cw = Double(d.gridWidth) / Double(columns), ch = Double(d.gridHeight) / Double(rowsOfCells)
                for q in 0..<hot {
                    let drift = 0.1 * cw * Double(frameIndex % 4)
                    let cx = cw * (Double(q % columns) + 0.5) + drift - 0.15 * cw, cy = ch * (Double(q / columns) + 0.5)
                    let rx = max(0.5, 0.5 * cw), ry = max(0.5, 0.5 * ch)
                    for y in 0..<d.gridHeight {
                        for x in 0..<d.gridWidth where pow((Double(x) - cx) / rx, 2) + pow((Double(y) - cy) / ry, 2) <= 1 {
                            sims[(y * d.gridWidth + x) * classes.rows + q] += 0.2
                        }
                    }
                }
                maps.append(try probabilities.maps(similarities: sims, gridWidth: d.gridWidth, gridHeight: d.gridHeight,
                                                   classes: classes.rows, queryCount: count))
                frameIndex += 1
            }
            let window = context + maps
            for (k, frame) in frames.enumerated() {
                let smoothed = try queries.indices.map { q in try settings.smoothing.smooth(window.map { $0[q] }, at: context.count + k) }
                let found = try extractor.instances(maps: smoothed, frame: frame.image)
                if round > 0 { active += found.filter { !$0.isEmpty }.count }
                _ = linker.observe(pts: Double(frameIndex) / 5, time: Date(), detections: Array(zip(queries, found)).map { ($0.0, $0.1) })
            }
            _ = linker.flush()
            context = Array(window.suffix(settings.smoothing.radius))
            if round > 0 {
                encoderTime += t1.timeIntervalSince(t0)
                afterTime += Date().timeIntervalSince(t1)
            }
        }
        return (active, encoderTime, afterTime)
    }

    /// The bundled 854x480 DAVIS frames, repeated to `count`.
    static func frames(count: Int) throws -> [Frame] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/Fixtures/davis/bmx-trees").path
        let images = try (0..<3).map { try ImageFile.read(root + "/0000\($0).jpg") }
        return (0..<count).map { Frame(stream: "bench", seq: UInt64($0), pts: 0, captureTime: Date(), image: images[$0 % images.count]) }
    }

    static let phrases = [
        "a person", "a bicycle", "a car", "a motorcycle", "an airplane", "a bus", "a train", "a truck", "a boat", "a traffic light",
        "a fire hydrant", "a stop sign", "a parking meter", "a bench", "a bird", "a cat", "a dog", "a horse", "a sheep", "a cow",
        "an elephant", "a bear", "a zebra", "a giraffe", "a backpack", "an umbrella", "a handbag", "a tie", "a suitcase", "a frisbee",
        "skis", "a snowboard", "a sports ball", "a kite", "a baseball bat", "a baseball glove", "a skateboard", "a surfboard",
        "a tennis racket", "a bottle", "a wine glass", "a cup", "a fork", "a knife", "a spoon", "a bowl", "a banana", "an apple",
        "a sandwich", "an orange", "broccoli", "a carrot", "a hot dog", "a pizza", "a donut", "a cake", "a chair", "a couch",
        "a potted plant", "a bed", "a dining table", "a toilet", "a tv", "a laptop", "a mouse", "a remote", "a keyboard",
        "a cell phone", "a microwave", "an oven", "a toaster", "a sink", "a refrigerator", "a book", "a clock", "a vase",
        "scissors", "a teddy bear", "a hair drier", "a toothbrush", "a person riding a bike", "a man in a suit", "a white car",
        "a red car", "a yellow taxi", "a person walking a dog", "a child", "a woman with a bag", "a delivery van", "a cyclist",
        "a person on a scooter", "a crowd", "a parked bike", "a person running", "a person sitting", "a dog running",
        "a fallen person", "smoke", "fire", "a person climbing a fence",
    ]
}

private func fmt(_ v: Double, _ digits: Int) -> String {
    let scale = pow(10.0, Double(digits))
    let r = (v * scale).rounded() / scale
    var s = "\(r)"
    if let dot = s.firstIndex(of: ".") {
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
    }
    return s
}

private func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return left ? fill + s : s + fill
}
