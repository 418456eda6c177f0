import COpenBLAS

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

/// A fully connected layer in PyTorch's layout: weight [outputs, inputs], optional bias.
struct Linear: Sendable {
    let weight: Weights
    let bias: Weights?
    let inputs: Int
    let outputs: Int

    /// `output[rows, outputs] (+)= input[rows, inputs] · weightᵀ`; the bias is added separately so
    /// it can share a pass with whatever follows.
    @inline(__always)
    func multiply(rows: Int, input: UnsafePointer<Float>, inputStride: Int, output: UnsafeMutablePointer<Float>, outputStride: Int, accumulate: Bool = false) {
        matmul(rows: rows, columns: outputs, inner: inputs, input, inputStride, weight.pointer, inputs, transposeB: true,
               output, outputStride, accumulate: accumulate)
    }
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
}

/// Scratch memory for one forward pass, grown on demand and reused between passes.
final class Workspace: @unchecked Sendable {
    private(set) var hidden = FloatBuffer(count: 0)
    private(set) var normed = FloatBuffer(count: 0)
    private(set) var qkv = FloatBuffer(count: 0)
    private(set) var attention = FloatBuffer(count: 0)
    private(set) var intermediate = FloatBuffer(count: 0)
    private(set) var scores: [FloatBuffer] = []
    /// Image patches unrolled for the patch-embedding product ([patches, 3 * patch * patch]).
    private(set) var patches = FloatBuffer(count: 0)

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
        if scores.count != threads { scores = (0..<threads).map { _ in FloatBuffer(count: 0) } }
        for i in 0..<threads { grow(&scores[i], tokens * tokens) }
    }
}

/// A stack of pre-norm transformer layers, run over `batch * tokens` rows at once.
struct TransformerEncoder: Sendable {
    let config: TowerConfiguration
    let layers: [EncoderLayer]

    /// Runs every layer over `workspace.hidden` ([batch * tokens, hidden], row-major) in place.
    ///
    /// `causal` masks attention to earlier tokens (the text tower). `clearCLIP` replaces the last
    /// layer with ClearCLIP's: query-query attention, and neither residual connection nor MLP.
    func forward(batch: Int, tokens: Int, causal: Bool, clearCLIP: Bool, workspace: Workspace, pool: ComputePool) {
        let dim = config.hiddenSize, heads = config.heads, headDim = config.headDim
        let rows = batch * tokens
        let threads = pool.threadCount
        workspace.reserve(rows: rows, dim: dim, intermediateSize: config.intermediateSize, tokens: tokens, threads: threads)
        let x = workspace.hidden.pointer, normed = workspace.normed.pointer
        let qkv = workspace.qkv.pointer, attention = workspace.attention.pointer, mlp = workspace.intermediate.pointer
        let scale = 1 / Float(headDim).squareRoot()

        for (index, layer) in layers.enumerated() {
            let lastClearCLIP = clearCLIP && index == layers.count - 1

            pool.run { share in
                let part = ComputePool.part(rows, share: share, of: threads)
                guard !part.isEmpty else { return }
                let r0 = part.lowerBound, n = part.count
                layer.norm1.apply(rows: n, dim: dim, input: x + r0 * dim, output: normed + r0 * dim)
                layer.qkv.multiply(rows: n, input: normed + r0 * dim, inputStride: dim, output: qkv + r0 * 3 * dim, outputStride: 3 * dim)
                Kernels.addBias(rows: n, dim: 3 * dim, data: qkv + r0 * 3 * dim, stride: 3 * dim, bias: layer.qkv.bias!.pointer)
            }

            pool.run { share in
                let scores = workspace.scores[share].pointer
                for pair in ComputePool.part(batch * heads, share: share, of: threads) {
                    let b = pair / heads, h = pair % heads
                    let q = qkv + b * tokens * 3 * dim + h * headDim
                    let k = lastClearCLIP ? q : q + dim
                    let v = q + 2 * dim
                    matmul(rows: tokens, columns: tokens, inner: headDim, q, 3 * dim, k, 3 * dim, transposeB: true,
                           scores, tokens, alpha: scale)
                    Kernels.softmax(rows: tokens, columns: tokens, data: scores, stride: tokens, causal: causal)
                    matmul(rows: tokens, columns: headDim, inner: tokens, scores, tokens, v, 3 * dim, transposeB: false,
                           attention + b * tokens * dim + h * headDim, dim)
                }
            }

            pool.run { share in
                let part = ComputePool.part(rows, share: share, of: threads)
                guard !part.isEmpty else { return }
                let r0 = part.lowerBound, n = part.count
                let xr = x + r0 * dim
                layer.out.multiply(rows: n, input: attention + r0 * dim, inputStride: dim, output: xr, outputStride: dim,
                                   accumulate: !lastClearCLIP)
                Kernels.addBias(rows: n, dim: dim, data: xr, stride: dim, bias: layer.out.bias!.pointer)
                if lastClearCLIP { return }
                layer.norm2.apply(rows: n, dim: dim, input: xr, output: normed + r0 * dim)
                let hr = mlp + r0 * config.intermediateSize
                layer.fc1.multiply(rows: n, input: normed + r0 * dim, inputStride: dim, output: hr, outputStride: config.intermediateSize)
                Kernels.addBiasActivate(rows: n, dim: config.intermediateSize, data: hr, bias: layer.fc1.bias!.pointer,
                                        activation: config.activation)
                layer.fc2.multiply(rows: n, input: hr, inputStride: config.intermediateSize, output: xr, outputStride: dim, accumulate: true)
                Kernels.addBias(rows: n, dim: dim, data: xr, stride: dim, bias: layer.fc2.bias!.pointer)
            }
        }
    }

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
