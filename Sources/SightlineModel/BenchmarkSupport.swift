import COpenBLAS
import Dispatch
import SightlineCore
#if canImport(Glibc)
import Glibc
#endif

/// What the encoder benchmark needs and users do not: models at real shapes with random
/// weights made in memory (real checkpoints cannot be downloaded on the build machines), and
/// the arithmetic each forward pass does.
@_spi(Benchmarks)
extension CLIPModel {
    /// A ViT-B CLIP (vision 12 x 768, text 12 x 512, projection 512, `quick_gelu`) at 224 pixels
    /// with the given patch size and weights drawn from a seeded generator. It has no tokenizer:
    /// feed it token ids through `encodeTokens`.
    /// `text` or `vision` false makes that tower a token one (8 wide, one layer), so a benchmark
    /// of the other holds only the weights it measures.
    public static func randomViTB(patchSize: Int, text includeText: Bool = true, vision includeVision: Bool = true,
                                  threads: Int, seed: UInt64 = 1) throws -> CLIPModel {
        var config = CLIPConfiguration.vitB(patchSize: patchSize)
        let token = TowerConfiguration(hiddenSize: 8, intermediateSize: 8, layers: 1, heads: 1, activation: .quickGELU, layerNormEps: 1e-5)
        if !includeText { config.text = token }
        if !includeVision { config.vision = token }
        var random = SeededRandom(seed: seed)
        func buffer(_ count: Int, scale: Float) -> Weights {
            let buffer = FloatBuffer(count: count)
            for i in 0..<count { buffer.pointer[i] = scale * random.nextSymmetricFloat() }
            return Weights(buffer)
        }
        func constant(_ count: Int, _ value: Float) -> Weights {
            let buffer = FloatBuffer(count: count)
            buffer.pointer.update(repeating: value, count: count)
            return Weights(buffer)
        }
        func norm(_ d: Int, _ eps: Float) -> LayerNormWeights {
            LayerNormWeights(gamma: constant(d, 1), beta: buffer(d, scale: 0.02), eps: eps)
        }
        func linear(_ outputs: Int, _ inputs: Int, bias: Bool = true) -> Linear {
            Linear(weight: buffer(outputs * inputs, scale: 1 / Float(inputs).squareRoot()),
                   bias: bias ? buffer(outputs, scale: 0.02) : nil, inputs: inputs, outputs: outputs)
        }
        func encoder(_ tower: TowerConfiguration) -> TransformerEncoder {
            let d = tower.hiddenSize, m = tower.intermediateSize
            return TransformerEncoder(config: tower, layers: (0..<tower.layers).map { _ in
                EncoderLayer(norm1: norm(d, tower.layerNormEps), qkv: linear(3 * d, d), out: linear(d, d),
                             norm2: norm(d, tower.layerNormEps), fc1: linear(m, d), fc2: linear(d, m))
            })
        }
        let v = config.vision.hiddenSize, t = config.text.hiddenSize, p = config.patchSize
        let tokenTable = buffer(config.vocabSize * t, scale: 0.02)
        let text = TextTower(
            config: config.text,
            tokenEmbedding: EmbeddingTable(base: UnsafeRawPointer(tokenTable.pointer), dtype: .f32, rows: config.vocabSize,
                                           columns: t, owner: tokenTable.owner),
            positionEmbedding: buffer(config.maxPositions * t, scale: 0.01), encoder: encoder(config.text),
            finalNorm: norm(t, config.text.layerNormEps), projection: linear(config.projectionDim, t, bias: false),
            maxPositions: config.maxPositions, eosTokenId: config.eosTokenId)
        let vision = VisionTower(
            config: config.vision, patchSize: p, side: config.gridSize,
            patchEmbedding: Linear(weight: buffer(v * 3 * p * p, scale: 1 / Float(3 * p * p).squareRoot()), bias: nil,
                                   inputs: 3 * p * p, outputs: v),
            classEmbedding: buffer(v, scale: 0.02),
            positionEmbedding: buffer((config.gridSize * config.gridSize + 1) * v, scale: 0.02),
            preNorm: norm(v, config.vision.layerNormEps), postNorm: norm(v, config.vision.layerNormEps),
            encoder: encoder(config.vision), projection: linear(config.projectionDim, v, bias: false))
        return try CLIPModel(
            name: "random ViT-B/\(p)", directory: "", configuration: config, tokenizer: nil, text: text, vision: vision,
            preprocessor: ImagePreprocessor(configuration: .defaults(imageSize: config.imageSize)),
            logitScale: 100, storage: "F32", threads: threads)
    }

    /// Multiply-adds times two of one image's forward pass through the vision tower and
    /// projection for a grid of patches (`dense`: every token projected, ClearCLIP's last layer).
    public func visionFLOPs(gridWidth: Int, gridHeight: Int, dense: Bool) -> Double {
        let d = Double(vision.config.hiddenSize), m = Double(vision.config.intermediateSize)
        let patches = Double(gridWidth * gridHeight), tokens = patches + 1
        let p = Double(vision.patchSize), layers = Double(vision.config.layers)
        let projection = Double(info.embedDim)
        let attention = 4 * tokens * tokens * d
        let layer = 2 * tokens * d * (3 * d + d + 2 * m) + attention
        let last = dense ? 2 * tokens * d * (3 * d + d) + attention : layer
        return 2 * patches * 3 * p * p * d + (layers - 1) * layer + last + 2 * (dense ? patches : 1) * d * projection
    }

    /// Multiply-adds times two of one text's forward pass of `tokens` tokens (attention counted in full).
    public func textFLOPs(tokens: Int) -> Double {
        let d = Double(text.config.hiddenSize), m = Double(text.config.intermediateSize), n = Double(tokens)
        return Double(text.config.layers) * (2 * n * d * (4 * d + 2 * m) + 4 * n * n * d) + 2 * d * Double(info.embedDim)
    }

    /// Bytes of weights each tower holds, in the precision its linear layers run at.
    public var weightBytes: (vision: Int, text: Int) {
        func floats(_ e: TransformerEncoder) -> Int {
            e.layers.reduce(0) { total, l in
                total + [l.norm1.gamma, l.norm1.beta, l.qkv.bias!, l.out.bias!, l.norm2.gamma, l.norm2.beta, l.fc1.bias!, l.fc2.bias!]
                    .reduce(0) { $0 + $1.count }
            }
        }
        let vision = 4 * (floats(self.vision.encoder) + self.vision.positionEmbedding.count)
            + self.vision.linears.reduce(0) { $0 + $1.weightBytes }
        let text = 4 * (floats(self.text.encoder) + self.text.tokenEmbedding.rows * self.text.tokenEmbedding.columns
            + self.text.positionEmbedding.count) + self.text.linears.reduce(0) { $0 + $1.weightBytes }
        return (vision, text)
    }
}

/// The machine's own matrix-product rate, measured the way a benchmark would quote it, as often
/// as the benchmark likes (on a shared machine it moves from minute to minute).
@_spi(Benchmarks)
public final class MatrixProductRate {
    let size: Int
    let threads: Int
    let pool: ComputePool

    public init(size: Int = 2048, threads: Int) {
        self.size = size
        self.threads = threads
        pool = ComputePool(threads: threads)
        _ = measure()
    }

    /// GFLOP/s of OpenBLAS's sgemm on `size` x `size` matrices with `threads` threads: the better
    /// of OpenBLAS threading one product itself and `threads` single-threaded products on row
    /// blocks (as the engine runs it). OpenBLAS is left at one thread, as the engine needs it.
    /// The matrices are freed again, so they do not count in the encoders' peak memory.
    public func measure() -> Double {
        // Mapped directly rather than through malloc, which would keep the pages after the free.
        let bytes = 3 * size * size * MemoryLayout<Float>.stride
        guard let mapping = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mapping != MAP_FAILED else {
            return 0
        }
        defer { munmap(mapping, bytes) }
        let a = mapping.bindMemory(to: Float.self, capacity: 3 * size * size), b = a + size * size, c = b + size * size
        var random = SeededRandom(seed: 7)
        for i in 0..<(size * size) {
            a[i] = random.nextSymmetricFloat()
            b[i] = random.nextSymmetricFloat()
        }
        let size = size, threads = threads
        func rate(_ product: () -> Void) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            product()
            return 2 * Double(size * size * size) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) / 1e9
        }
        COpenBLAS_setThreads(Int32(threads))
        let threaded = rate { matmul(rows: size, columns: size, inner: size, a, size, b, size, transposeB: false, c, size) }
        COpenBLAS_setThreads(1)
        let split = rate {
            pool.run { share in
                let rows = ComputePool.part(size, share: share, of: threads)
                matmul(rows: rows.count, columns: size, inner: size, a + rows.lowerBound * size, size, b, size,
                       transposeB: false, c + rows.lowerBound * size, size)
            }
        }
        return max(threaded, split)
    }
}
