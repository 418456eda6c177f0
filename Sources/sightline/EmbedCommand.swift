import ArgumentParser
import Foundation
import Logging
import SightlineCore
import SightlineMedia
import SightlineModel
import SightlinePipeline
import SightlineProtocol

/// `sightline embed`: normalised CLIP embeddings of texts and images, straight from a checkpoint
/// directory (no daemon). Tests and outside checks compare its JSON with other implementations.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print normalised CLIP embeddings of texts and images.",
        discussion: """
            Images are read with GStreamer (PNG, JPEG and anything else decodebin opens). By default an \
            image is resized and centre-cropped as CLIPImageProcessor does; --full-frame keeps the whole \
            frame (sides rounded to multiples of the patch size, short side near --short-side). --dense \
            prints ClearCLIP patch embeddings, row-major over (y, x), instead of one embedding per image. \
            The engine runs at fp32 unless --precision says otherwise, so that the embeddings are the \
            checkpoint's own (the reference implementations' up to rounding); the JSON's model.precision says which ran.
            """)

    @Option(name: .long, help: "A CLIP checkpoint directory, or a hub repository id pulled with `sightline model pull`.")
    var model: String

    @Option(name: .long, help: "A text to embed (repeatable).")
    var text: [String] = []

    @Option(name: .long, help: "An image file to embed (repeatable).")
    var image: [String] = []

    @Flag(name: .long, help: "Print ClearCLIP patch embeddings of each image.")
    var dense = false

    @Flag(name: .customLong("full-frame"), help: "Keep the whole frame instead of the centre crop.")
    var fullFrame = false

    @Option(name: .customLong("short-side"), help: "Short side of full frames in pixels (default: the model's image size).")
    var shortSide: Int?

    @Option(name: .long, help: "Compute threads (default: one per core).")
    var threads: Int?

    @Option(name: .long, help: """
        Precision of the engine's linear layers: fp32 (the default: exact), int8, bf16, or auto (the fastest that \
        agrees with fp32 on the bundled self-check photographs, as the daemon chooses).
        """)
    var precision = "fp32"

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Flag(name: .long, help: "Log the model's details to standard error.")
    var verbose = false

    func validate() throws {
        guard !text.isEmpty || !image.isEmpty else { throw ValidationError("give at least one --text or --image") }
        if (dense || fullFrame || shortSide != nil) && image.isEmpty {
            throw ValidationError("--dense, --full-frame and --short-side apply to images: give --image")
        }
        if shortSide != nil && !fullFrame { throw ValidationError("--short-side needs --full-frame") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        _ = try precisionSetting(precision)
    }

    func run() throws {
        var logger = Logger(label: "sightline.embed") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = verbose ? .info : .warning
        try embed(logger: logger)
    }

    private func embed(logger: Logger) throws {
        let directory = try reportingErrors { try resolveModel(model) }
        let setting = try precisionSetting(precision)
        try reportingErrors { try setting.requireRunnable(field: "--precision") }
        let clip = try CLIPModel.load(directory: directory, threads: threads, precision: setting, field: "--precision", logger: logger)
        let framing: CLIPModel.Framing = fullFrame ? .fullFrame(shortSide: shortSide ?? clip.info.imageSize) : .centerCrop
        let pictures = try image.map { try ImageFile.read($0) }

        let texts = try clip.encodeTexts(text)
        var output = JSONObject()
        output["model"] = .object([
            "name": .string(clip.info.name), "directory": .string(clip.info.directory),
            "embed_dim": JSONValue(clip.info.embedDim), "patch_size": JSONValue(clip.info.patchSize),
            "image_size": JSONValue(clip.info.imageSize), "logit_scale": Self.number(clip.info.logitScale),
            "test_model": .bool(clip.info.isTestModel),
            "precision": .string(clip.info.precision.rawValue), "precision_reason": .string(clip.info.precisionReason),
            "kernels": .string(clip.info.kernels), "elementwise_kernels": .string(clip.info.elementwiseKernels),
        ])
        if !text.isEmpty {
            output["texts"] = .array(try text.enumerated().map { i, string in
                .object([
                    "text": .string(string),
                    "tokens": .array(try clip.tokenize(string).map { JSONValue(Int($0)) }),
                    "embedding": Self.vector(texts[i]),
                ])
            })
        }
        let framingName = fullFrame ? "full_frame" : "center_crop"
        if dense {
            let results = try clip.encodeDense(pictures, framing: framing)
            output["images"] = .array(zip(image, zip(pictures, results)).map { file, pair in
                let (picture, patches) = pair
                return .object([
                    "file": .string(file), "width": JSONValue(picture.width), "height": JSONValue(picture.height),
                    "framing": .string(framingName), "grid_width": JSONValue(patches.gridWidth), "grid_height": JSONValue(patches.gridHeight),
                    "patches": .array((0..<patches.patchCount).map {
                        Self.vector(patches.values[($0 * patches.dim)..<(($0 + 1) * patches.dim)])
                    }),
                ])
            })
        } else if !pictures.isEmpty {
            let embeddings = try clip.encodeImages(pictures, framing: framing)
            output["images"] = .array(zip(image, pictures).enumerated().map { i, pair in
                .object([
                    "file": .string(pair.0), "width": JSONValue(pair.1.width), "height": JSONValue(pair.1.height),
                    "framing": .string(framingName), "embedding": Self.vector(embeddings[i]),
                ])
            })
            if !text.isEmpty {
                // Cosine similarity of each image (row) with each text (column).
                output["similarities"] = .array((0..<embeddings.rows).map { i in
                    .array((0..<texts.rows).map { t in Self.number(zip(embeddings[i], texts[t]).reduce(0) { $0 + $1.0 * $1.1 }) })
                })
            }
        }
        if json {
            Output.line(JSONWriter.string(.object(output)))
        } else {
            printSummary(clip.info, output)
        }
    }

    private func printSummary(_ info: ModelInfo, _ output: JSONObject) {
        Output.line("model: \(info.name), \(info.embedDim)-dimensional embeddings\(info.isTestModel ? " (the tiny test model: its matches mean nothing)" : "")")
        func head(_ value: JSONValue?) -> String {
            let numbers = (value?.arrayValue ?? []).prefix(4).compactMap(\.doubleValue).map { String(format: "%+.4f", $0) }
            return "[" + numbers.joined(separator: ", ") + ", ...]"
        }
        for entry in output["texts"]?.arrayValue ?? [] {
            Output.line("text \(JSONWriter.string(entry["text"] ?? .null)): \(entry["tokens"]?.arrayValue?.count ?? 0) tokens, \(head(entry["embedding"]))")
        }
        for entry in output["images"]?.arrayValue ?? [] {
            let file = entry["file"]?.stringValue ?? ""
            if let patches = entry["patches"]?.arrayValue {
                Output.line("image \(file): \(entry["grid_width"]?.intValue ?? 0)x\(entry["grid_height"]?.intValue ?? 0) patches, first \(head(patches.first))")
            } else {
                Output.line("image \(file): \(head(entry["embedding"]))")
            }
        }
        if let rows = output["similarities"]?.arrayValue {
            Output.line("cosine similarity, images x texts:")
            for (file, row) in zip(image, rows) {
                let values = (row.arrayValue ?? []).compactMap(\.doubleValue).map { String(format: "%.4f", $0) }
                Output.line("  \(file): \(values.joined(separator: "  "))")
            }
        }
    }

    /// A float as the shortest decimal that reads back as the same float.
    static func number(_ value: Float) -> JSONValue {
        .double(Double("\(value)") ?? Double(value))
    }

    static func vector(_ values: some Collection<Float>) -> JSONValue {
        .array(values.map(number))
    }
}
