import COpenBLAS
import Foundation
import Logging
import SightlineCore
import SightlineKernels
import Synchronization

/// What a loaded model is, for logs, banners and callers that size their inputs.
public struct ModelInfo: Sendable, Equatable {
    /// The checkpoint's name (`_name_or_path` in its config, else the directory's name).
    public var name: String
    public var directory: String
    public var patchSize: Int
    /// The square input size the checkpoint was trained at (224 for ViT-B).
    public var imageSize: Int
    /// Width of the joint embedding space (the projection).
    public var embedDim: Int
    /// `exp(logit_scale)`: the factor on cosine similarities before a softmax (100 in OpenAI's checkpoints).
    public var logitScale: Float
    /// True for the tiny randomly initialised models bundled for tests and demos: their matches mean nothing.
    public var isTestModel: Bool
    /// Tokens per text, start and end tokens included.
    public var contextLength: Int
    public var visionWidth: Int
    public var visionLayers: Int
    public var textWidth: Int
    public var textLayers: Int
    public var activation: String
    /// The checkpoint's storage type of its weights (F32, F16 or BF16).
    public var weightsDType: String
    /// Compute threads the engine runs.
    public var threads: Int
    /// The precision the linear layers run at, and why it was chosen.
    public var precision: Precision = .fp32
    public var precisionReason: String = "fp32 was asked for"
    /// The CPU's features that decide the kernels (AVX2, VNNI, BF16...), and oneDNN's kernel family.
    public var cpuFeatures: [String] = CPUFeatures.current.names
    public var kernels: String = "OpenBLAS"
    /// The instruction set of the element-wise kernels between the products ("avx2+fma" or
    /// "x86-64"; `SIGHTLINE_KERNELS=x86-64` asks for the latter).
    public var elementwiseKernels: String = Kernels.instructionSet
}

/// A CLIP checkpoint loaded for inference on the CPU: the text and vision towers, the tokenizer
/// and the image preprocessing of the reference `transformers` implementation.
///
/// Every method is synchronous and uses all of the engine's threads; call them from a thread of
/// your own, never from the cooperative pool. Calls from several threads are safe and run one
/// after another, in the order they were made.
public final class CLIPModel: Sendable {
    public let info: ModelInfo
    let configuration: CLIPConfiguration
    let tokenizer: CLIPTokenizer?
    let text: TextTower
    let vision: VisionTower
    let preprocessor: ImagePreprocessor
    let pool: ComputePool
    /// The engine's workspace, one forward pass at a time. A fair lock: the live-stream
    /// scheduler asks for it again the moment it lets go, and a `ground` request (or a second
    /// caller of any kind) must still get its turn, in the order it asked.
    let state: FairLock<EngineState>

    /// Largest batch run in one forward pass; bigger requests are split so scratch memory stays bounded.
    static let maxImageBatch = 16
    static let maxTextBatch = 64

    final class EngineState {
        let workspace = Workspace()
        var positions: [Int: Weights] = [:]
    }

    /// Loads the Hugging Face checkpoint in `directory` with one compute thread per core.
    public convenience init(directory: String, logger: Logger) throws {
        try self.init(directory: directory, threads: nil, logger: logger)
    }

    /// Loads the Hugging Face checkpoint in `directory`: `config.json`, `model.safetensors`,
    /// `vocab.json` + `merges.txt` (or `tokenizer.json`), and `preprocessor_config.json` if present.
    /// `threads` is the number of compute threads (default: the number of cores).
    ///
    /// `precision` is the precision of the linear layers (`Precision`); `auto` and an explicit
    /// lower precision encode `check` at fp32 and at the candidate to see that they agree.
    public convenience init(directory: String, threads: Int?, precision: PrecisionSetting = .fixed(.fp32),
                            check: PrecisionCheck? = nil, logger: Logger) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SightlineError(.fileNotFound, "the model directory does not exist", context: ["file": directory])
        }
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let config = try CLIPConfiguration(contentsOf: path("config.json"))
        let tokenizer: CLIPTokenizer
        if !FileManager.default.fileExists(atPath: path("vocab.json")), FileManager.default.fileExists(atPath: path("tokenizer.json")) {
            tokenizer = try CLIPTokenizer(tokenizerFile: path("tokenizer.json"))
        } else {
            tokenizer = try CLIPTokenizer(vocabularyFile: path("vocab.json"), mergesFile: path("merges.txt"))
        }
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw SightlineError(
                .modelMismatch, "the tokenizer has \(tokenizer.vocabularySize) entries, the text tower embeds \(config.vocabSize)",
                context: ["file": path("vocab.json")])
        }
        let processorPath = path("preprocessor_config.json")
        let processing = FileManager.default.fileExists(atPath: processorPath)
            ? try ImageProcessorConfiguration(contentsOf: processorPath, imageSize: config.imageSize)
            : .defaults(imageSize: config.imageSize)
        let preprocessor = ImagePreprocessor(configuration: processing)
        let probe = preprocessor.outputSize(width: 4 * config.imageSize, height: 3 * config.imageSize)
        guard probe.width == config.imageSize, probe.height == config.imageSize else {
            throw SightlineError(
                .modelMismatch, "the image processor produces \(probe.width)x\(probe.height) images, the model takes \(config.imageSize)x\(config.imageSize)",
                context: ["file": processorPath])
        }

        let file = try SafeTensorsFile(path: path("model.safetensors"))
        let reader = WeightReader(file: file)
        let text = try TextTower.load(reader, config)
        let vision = try VisionTower.load(reader, config)
        let logitScale = Foundation.exp(try reader.scalar("logit_scale"))
        let storage = file.tensors["vision_model.embeddings.patch_embedding.weight"]?.dtypeName ?? "F32"

        let name = config.recordedName ?? (directory as NSString).lastPathComponent
        let reference = try CLIPModel(name: name, directory: directory, configuration: config, tokenizer: tokenizer, text: text,
                                      vision: vision, preprocessor: preprocessor, logitScale: logitScale, storage: storage,
                                      threads: threads, precision: .fp32, precisionReason: "fp32 was asked for")
        let chosen = try reference.choosing(precision, check: check, logger: logger)
        self.init(sharing: chosen, precisionReason: chosen.info.precisionReason)
        logger.info("loaded CLIP model", metadata: [
            "model": "\(name)", "directory": "\(directory)", "vision": "ViT \(config.vision.layers)x\(config.vision.hiddenSize)/\(config.patchSize)",
            "image_size": "\(config.imageSize)", "weights": "\(storage)", "threads": "\(info.threads)",
            "precision": "\(info.precision.rawValue)", "precision_reason": "\(info.precisionReason)", "kernels": "\(info.kernels)",
            "elementwise_kernels": "\(info.elementwiseKernels)",
            "cpu": "\(info.cpuFeatures.joined(separator: " "))", "test_model": "\(config.isTestModel)",
        ])
        if config.isTestModel {
            logger.warning("this is a tiny randomly initialised test model: its matches mean nothing", metadata: ["model": "\(name)"])
        }
    }

    init(name: String, directory: String, configuration config: CLIPConfiguration, tokenizer: CLIPTokenizer?, text: TextTower,
         vision: VisionTower, preprocessor: ImagePreprocessor, logitScale: Float, storage: String, threads: Int?,
         precision: Precision = .fp32, precisionReason: String = "fp32 was asked for") throws {
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard threadCount >= 1 else {
            throw SightlineError(.invalidArgument, "the engine needs at least one thread", context: ["threads": "\(threadCount)"])
        }
        // Each compute thread calls OpenBLAS on its own share; OpenBLAS's own threads would only
        // compete with them for the same cores.
        COpenBLAS_setThreads(1)
        configuration = config
        self.tokenizer = tokenizer
        self.text = text
        self.vision = vision
        self.preprocessor = preprocessor
        pool = ComputePool(threads: threadCount)
        state = FairLock(EngineState())
        info = ModelInfo(
            name: name, directory: directory, patchSize: config.patchSize, imageSize: config.imageSize,
            embedDim: config.projectionDim, logitScale: logitScale, isTestModel: config.isTestModel,
            contextLength: config.maxPositions, visionWidth: config.vision.hiddenSize, visionLayers: config.vision.layers,
            textWidth: config.text.hiddenSize, textLayers: config.text.layers, activation: config.vision.activation.rawValue,
            weightsDType: storage, threads: threadCount, precision: precision, precisionReason: precisionReason,
            kernels: precision == .fp32 ? "OpenBLAS" : "oneDNN \(OneDNN.shared.isaName)")
    }

    /// Another handle on `other`'s engine (its threads, workspace and weights), with another
    /// account of why it runs at its precision.
    init(sharing other: CLIPModel, precisionReason: String) {
        var info = other.info
        info.precisionReason = precisionReason
        self.info = info
        configuration = other.configuration
        tokenizer = other.tokenizer
        text = other.text
        vision = other.vision
        preprocessor = other.preprocessor
        pool = other.pool
        state = other.state
    }

    // MARK: Text

    /// Token ids of a text, as the reference tokenizer makes them (truncated to the context).
    public func tokenize(_ text: String) throws -> [Int32] {
        guard let tokenizer else {
            throw SightlineError(.invalidArgument, "this model was built without a tokenizer")
        }
        return tokenizer.encode(text, maxLength: info.contextLength)
    }

    /// L2-normalised text embeddings, one row per text.
    public func encodeTexts(_ texts: [String]) throws -> EmbeddingMatrix {
        try encodeTokens(texts.map { try tokenize($0) })
    }

    /// L2-normalised embeddings of already tokenized texts.
    public func encodeTokens(_ sequences: [[Int32]]) throws -> EmbeddingMatrix {
        let dim = info.embedDim
        for ids in sequences {
            guard !ids.isEmpty, ids.count <= info.contextLength, ids.allSatisfy({ $0 >= 0 && Int($0) < text.tokenEmbedding.rows }) else {
                throw SightlineError(.invalidArgument, "token sequences must hold 1 to \(info.contextLength) ids below \(text.tokenEmbedding.rows)")
            }
        }
        var values = [Float](repeating: 0, count: sequences.count * dim)
        state.withLock { state in
            values.withUnsafeMutableBufferPointer { out in
                var start = 0
                while start < sequences.count {
                    let end = min(start + Self.maxTextBatch, sequences.count)
                    text.encode(Array(sequences[start..<end]), output: out.baseAddress! + start * dim, workspace: state.workspace, pool: pool)
                    start = end
                }
            }
        }
        return EmbeddingMatrix(rows: sequences.count, dim: dim, values: values)
    }

    // MARK: Images

    /// How a frame becomes the model's input.
    public enum Framing: Sendable, Equatable {
        /// `CLIPImageProcessor`: resize the short side, centre crop to the model's square input.
        case centerCrop
        /// The whole frame, no crop: resized so both sides are multiples of the patch size, the
        /// short side near `shortSide`, aspect ratio kept; position embeddings are interpolated.
        case fullFrame(shortSide: Int)
    }

    /// L2-normalised image embeddings (the class token), one row per image; by default through
    /// the reference preprocessing (resize the short side, centre crop).
    public func encodeImages(_ images: [RGBImage], framing: Framing = .centerCrop) throws -> EmbeddingMatrix {
        let dim = info.embedDim
        var values = [Float](repeating: 0, count: images.count * dim)
        try run(images, framing: framing, output: .pooled) { index, rows in
            values.replaceSubrange((index * dim)..<((index + 1) * dim), with: rows)
        }
        return EmbeddingMatrix(rows: images.count, dim: dim, values: values)
    }

    /// ClearCLIP patch embeddings of whole frames (full-frame framing), each patch L2-normalised.
    /// Frames of different shapes are fine; those with equal grids share a pass.
    public func encodeDense(_ images: [RGBImage], shortSide: Int) throws -> [DenseEmbeddings] {
        try encodeDense(images, framing: .fullFrame(shortSide: shortSide))
    }

    /// ClearCLIP patch embeddings with either framing, each patch L2-normalised.
    public func encodeDense(_ images: [RGBImage], framing: Framing) throws -> [DenseEmbeddings] {
        var results = [DenseEmbeddings?](repeating: nil, count: images.count)
        try run(images, framing: framing, output: .dense) { index, values in
            let grid = self.grid(of: images[index], framing: framing)
            results[index] = DenseEmbeddings(gridWidth: grid.width, gridHeight: grid.height, dim: info.embedDim, values: Array(values))
        }
        return results.map { $0! }
    }

    /// The grid a frame of this size gets in `encodeDense` with full-frame framing (width, height in patches).
    public func denseGrid(width: Int, height: Int, shortSide: Int) -> (width: Int, height: Int) {
        let size = ImagePreprocessor.fullFrameSize(width: width, height: height, shortSide: shortSide, patchSize: info.patchSize)
        return (size.width / info.patchSize, size.height / info.patchSize)
    }

    private func grid(of image: RGBImage, framing: Framing) -> (width: Int, height: Int) {
        switch framing {
        case .centerCrop: (vision.side, vision.side)
        case .fullFrame(let shortSide): denseGrid(width: image.width, height: image.height, shortSide: shortSide)
        }
    }

    /// Preprocesses, groups frames whose inputs have the same size, and runs each group in
    /// batches; `deliver` gets each image's index and its output values.
    private func run(_ images: [RGBImage], framing: Framing, output: VisionTower.Output,
                     deliver: (Int, ArraySlice<Float>) -> Void) throws {
        let p = info.patchSize
        if case .fullFrame(let shortSide) = framing, shortSide < p {
            throw SightlineError(.invalidArgument, "shortSide \(shortSide) is smaller than the patch size \(p)",
                                 context: ["shortSide": "\(shortSide)"])
        }
        let prepared = parallelMap(images) { image in
            switch framing {
            case .centerCrop: preprocessor.standard(image)
            case .fullFrame(let shortSide): preprocessor.fullFrame(image, shortSide: shortSide, patchSize: p)
            }
        }
        var groups: [Int: [Int]] = [:]
        for (i, image) in prepared.enumerated() { groups[image.height << 32 | image.width, default: []].append(i) }
        let dim = info.embedDim
        state.withLock { state in
            for key in groups.keys.sorted() {
                let members = groups[key]!
                let gridWidth = prepared[members[0]].width / p, gridHeight = prepared[members[0]].height / p
                let positions = self.positions(height: gridHeight, width: gridWidth, state: state)
                let perImage = output == .pooled ? dim : gridWidth * gridHeight * dim
                var start = 0
                while start < members.count {
                    let chunk = Array(members[start..<min(start + Self.maxImageBatch, members.count)])
                    var values = [Float](repeating: 0, count: chunk.count * perImage)
                    values.withUnsafeMutableBufferPointer { out in
                        vision.encode(chunk.map { prepared[$0] }, lookup: preprocessor.lookup, positions: positions, output: output,
                                      into: out.baseAddress!, workspace: state.workspace, pool: pool)
                    }
                    for (k, index) in chunk.enumerated() {
                        deliver(index, values[(k * perImage)..<((k + 1) * perImage)])
                    }
                    start += chunk.count
                }
            }
        }
    }

    /// The position table of a grid, interpolated once per grid size.
    func positions(height: Int, width: Int, state: EngineState) -> Weights {
        let key = height << 32 | width
        if let cached = state.positions[key] { return cached }
        let positions = vision.positions(height: height, width: width)
        state.positions[key] = positions
        return positions
    }

    /// Runs `transform` over `items` on the engine's threads (preprocessing is per image).
    private func parallelMap(_ items: [RGBImage], _ transform: (RGBImage) -> RGBImage) -> [RGBImage] {
        guard items.count > 1 else { return items.map(transform) }
        let results = Mutex<[Int: RGBImage]>([:])
        let threads = pool.threadCount
        state.withLock { _ in
            pool.run { share in
                for i in ComputePool.part(items.count, share: share, of: threads) {
                    let image = transform(items[i])
                    results.withLock { $0[i] = image }
                }
            }
        }
        return results.withLock { dict in (0..<items.count).map { dict[$0]! } }
    }
}
