import COpenBLAS
import SightlineKernels

/// `C = alpha * A · op(B) + beta * C` on row-major matrices: the one place the engine calls BLAS.
@inline(__always)
func matmul(
    rows: Int, columns: Int, inner: Int,
    _ a: UnsafePointer<Float>, _ lda: Int,
    _ b: UnsafePointer<Float>, _ ldb: Int, transposeB: Bool,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
    alpha: Float = 1, accumulate: Bool = false
) {
    guard rows > 0, columns > 0 else { return }
    cblas_sgemm(
        CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        blasint(rows), blasint(columns), blasint(inner),
        alpha, a, blasint(lda), b, blasint(ldb), accumulate ? 1 : 0, c, blasint(ldc))
}

struct LayerNormWeights: Sendable {
    let gamma: Weights
    let beta: Weights
    let eps: Float

    @inline(__always)
    func apply(rows: Int, dim: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        Kernels.layerNorm(rows: rows, dim: dim, input: input, inputStride: dim, output: output, outputStride: dim,
                          gamma: gamma.pointer, beta: beta.pointer, eps: eps)
    }
}

struct EncoderLayer: Sendable {
    let norm1: LayerNormWeights
    /// q, k and v stacked into one [3 * hidden, hidden] matrix: one product for all three.
    let qkv: Linear
    let out: Linear
    let norm2: LayerNormWeights
    let fc1: Linear
    let fc2: Linear

    /// This layer's products at `precision`; with `keepingQKV`, q/k/v stay as they are.
    func converted(to precision: Precision, keepingQKV: Bool = false) throws -> EncoderLayer {
        EncoderLayer(norm1: norm1, qkv: keepingQKV ? qkv : try qkv.converted(to: precision), out: try out.converted(to: precision),
                     norm2: norm2, fc1: try fc1.converted(to: precision), fc2: try fc2.converted(to: precision))
    }

    var linears: [Linear] { [qkv, out, fc1, fc2] }
}

/// Scratch memory for one forward pass, grown on demand and reused between passes.
final class Workspace: @unchecked Sendable {
    private(set) var hidden = FloatBuffer(count: 0)
    private(set) var normed = FloatBuffer(count: 0)
    private(set) var qkv = FloatBuffer(count: 0)
    private(set) var attention = FloatBuffer(count: 0)
    private(set) var intermediate = FloatBuffer(count: 0)
    private(set) var scores: [FloatBuffer] = []
    private(set) var sums: [FloatBuffer] = []
    /// Image patches unrolled for the patch-embedding product ([patches, 3 * patch * patch]).
    private(set) var patches = FloatBuffer(count: 0)
    /// One per compute thread, for the int8 and bf16 products.
    private(set) var products: [ProductScratch] = []

    func reservePatches(_ count: Int) {
        if patches.count < count { patches = FloatBuffer(count: count) }
    }

    func reserve(rows: Int, dim: Int, intermediateSize: Int, tokens: Int, threads: Int, extraColumns: Int = 0) {
        func grow(_ buffer: inout FloatBuffer, _ count: Int) {
            if buffer.count < count { buffer = FloatBuffer(count: count) }
        }
        grow(&hidden, rows * max(dim, extraColumns))
        grow(&normed, rows * max(dim, extraColumns))
        grow(&qkv, rows * 3 * dim)
        grow(&attention, rows * dim)
        grow(&intermediate, rows * intermediateSize)
        if scores.count != threads {
            scores = (0..<threads).map { _ in FloatBuffer(count: 0) }
            sums = (0..<threads).map { _ in FloatBuffer(count: 0) }
            products = (0..<threads).map { _ in ProductScratch() }
        }
        for i in 0..<threads {
            grow(&scores[i], tokens * tokens)
            grow(&sums[i], tokens)
        }
    }
}

/// A stack of pre-norm transformer layers, run over `batch * tokens` rows at once.
struct TransformerEncoder: Sendable {
    let config: TowerConfiguration
    let layers: [EncoderLayer]

    /// Every layer's products at `precision`, except the first layer's q, k and v, which stay
    /// fp32: the first attention's logits are where int8's error costs the pooled embeddings
    /// most (TinyCLIP-8M/16's shape: lowest pooled cosine 0.9979 with it in int8, 0.9991 in
    /// fp32; every other single product kept fp32 gave 0.9975-0.9984), for about 3% of a ViT-B's
    /// int8 time.
    func converted(to precision: Precision) throws -> TransformerEncoder {
        TransformerEncoder(config: config, layers: try layers.enumerated().map { index, layer in
            try layer.converted(to: precision, keepingQKV: index == 0)
        })
    }

    /// Runs every layer over `workspace.hidden` ([batch * tokens, hidden], row-major) in place.
    ///
    /// `causal` masks attention to earlier tokens (the text tower). `clearCLIP` replaces the last
    /// layer with ClearCLIP's: query-query attention, and neither residual connection nor MLP.
    func forward(batch: Int, tokens: Int, causal: Bool, clearCLIP: Bool, workspace: Workspace, pool: ComputePool) {
        let dim = config.hiddenSize, heads = config.heads, headDim = config.headDim, hidden = config.intermediateSize
        let rows = batch * tokens
        let threads = pool.threadCount
        workspace.reserve(rows: rows, dim: dim, intermediateSize: hidden, tokens: tokens, threads: threads)
        let x = workspace.hidden.pointer, normed = workspace.normed.pointer
        let qkv = workspace.qkv.pointer, attention = workspace.attention.pointer, mlp = workspace.intermediate.pointer
        let scale = 1 / Float(headDim).squareRoot()

        func normalize(_ norm: LayerNormWeights) {
            pool.run { share in
                let part = ComputePool.part(rows, share: share, of: threads)
                norm.apply(rows: part.count, dim: dim, input: x + part.lowerBound * dim, output: normed + part.lowerBound * dim)
            }
        }

        for (index, layer) in layers.enumerated() {
            let lastClearCLIP = clearCLIP && index == layers.count - 1
            normalize(layer.norm1)
            Self.product(layer.qkv, rows: rows, input: normed, output: qkv, accumulate: false, activation: nil, workspace: workspace, pool: pool)

            pool.run { share in
                let scores = workspace.scores[share].pointer, sums = workspace.sums[share].pointer
                for pair in ComputePool.part(batch * heads, share: share, of: threads) {
                    let b = pair / heads, h = pair % heads
                    let q = qkv + b * tokens * 3 * dim + h * headDim
                    let k = lastClearCLIP ? q : q + dim
                    let v = q + 2 * dim
                    let out = attention + b * tokens * dim + h * headDim
                    matmul(rows: tokens, columns: tokens, inner: headDim, q, 3 * dim, k, 3 * dim, transposeB: true,
                           scores, tokens, alpha: scale)
                    Kernels.softmaxNumerators(rows: tokens, columns: tokens, data: scores, stride: tokens, causal: causal, inverseSums: sums)
                    matmul(rows: tokens, columns: headDim, inner: tokens, scores, tokens, v, 3 * dim, transposeB: false, out, dim)
                    Kernels.scaleRows(rows: tokens, columns: headDim, data: out, stride: dim, factors: sums)
                }
            }

            // The output projection adds into the residual stream (ClearCLIP's last layer replaces it).
            Self.product(layer.out, rows: rows, input: attention, output: x, accumulate: !lastClearCLIP, activation: nil, workspace: workspace, pool: pool)
            if lastClearCLIP { continue }
            normalize(layer.norm2)
            Self.product(layer.fc1, rows: rows, input: normed, output: mlp, accumulate: false, activation: config.activation, workspace: workspace, pool: pool)
            Self.product(layer.fc2, rows: rows, input: mlp, output: x, accumulate: true, activation: nil, workspace: workspace, pool: pool)
        }
    }

    /// `output (+)= input · weightᵀ + bias`, then the activation, on all threads. In fp32 many
    /// rows are split by rows, few rows by output columns instead, so no two threads pack the
    /// same weights; oneDNN's products (int8, bf16) take their weights prepacked and are split
    /// by rows always.
    static func product(_ linear: Linear, rows: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        accumulate: Bool, activation: Activation?, workspace: Workspace, pool: ComputePool) {
        let threads = pool.threadCount, columns = linear.outputs, inputs = linear.inputs
        guard case .fp32(let weight) = linear.storage else {
            pool.run { share in
                let part = ComputePool.part(rows, share: share, of: threads)
                linear.apply(rows: part.count, input: input + part.lowerBound * inputs, inputStride: inputs,
                             output: output + part.lowerBound * columns, outputStride: columns, accumulate: accumulate,
                             activation: activation, scratch: workspace.products[share])
            }
            return
        }
        let byRows = rows >= threads * minimumRowsPerThread || columns < threads * columnBlock
        pool.run { share in
            let rowRange: Range<Int>, columnRange: Range<Int>
            if byRows {
                rowRange = ComputePool.part(rows, share: share, of: threads)
                columnRange = 0..<columns
            } else {
                let blocks = ComputePool.part((columns + columnBlock - 1) / columnBlock, share: share, of: threads)
                rowRange = 0..<rows
                columnRange = (blocks.lowerBound * columnBlock)..<min(columns, blocks.upperBound * columnBlock)
            }
            guard !rowRange.isEmpty, !columnRange.isEmpty else { return }
            let block = output + rowRange.lowerBound * columns + columnRange.lowerBound
            matmul(rows: rowRange.count, columns: columnRange.count, inner: inputs, input + rowRange.lowerBound * inputs, inputs,
                   weight.pointer + columnRange.lowerBound * inputs, inputs, transposeB: true, block, columns,
                   accumulate: accumulate)
            linear.finish(rows: rowRange.count, columns: columnRange, output: block, outputStride: columns, activation: activation)
        }
    }

    /// Below this many rows a thread's share would cost about as much in packing the weights as in
    /// multiplying them.
    static let minimumRowsPerThread = 128
    static let columnBlock = 16

    /// Reads layer `i`'s weights under `prefix` (e.g. `vision_model.encoder.layers`).
    static func load(_ reader: WeightReader, prefix: String, config: TowerConfiguration) throws -> TransformerEncoder {
        let d = config.hiddenSize, m = config.intermediateSize
        var layers: [EncoderLayer] = []
        for i in 0..<config.layers {
            let p = "\(prefix).\(i)"
            func norm(_ name: String) throws -> LayerNormWeights {
                LayerNormWeights(gamma: try reader.weights("\(p).\(name).weight", shape: [d]),
                                 beta: try reader.weights("\(p).\(name).bias", shape: [d]), eps: config.layerNormEps)
            }
            func linear(_ name: String, _ outputs: Int, _ inputs: Int) throws -> Linear {
                Linear(weight: try reader.weights("\(p).\(name).weight", shape: [outputs, inputs]),
                       bias: try reader.weights("\(p).\(name).bias", shape: [outputs]), inputs: inputs, outputs: outputs)
            }
            let projections = ["q_proj", "k_proj", "v_proj"].map { "\(p).self_attn.\($0)" }
            let qkv = Linear(weight: try reader.stacked(projections.map { "\($0).weight" }, shape: [d, d]),
                             bias: try reader.stacked(projections.map { "\($0).bias" }, shape: [d]), inputs: d, outputs: 3 * d)
            layers.append(EncoderLayer(
                norm1: try norm("layer_norm1"), qkv: qkv, out: try linear("self_attn.out_proj", d, d),
                norm2: try norm("layer_norm2"), fc1: try linear("mlp.fc1", m, d), fc2: try linear("mlp.fc2", d, m)))
        }
        return TransformerEncoder(config: config, layers: layers)
    }
}
