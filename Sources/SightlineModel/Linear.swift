import CDNNL
import SightlineCore
import SightlineKernels

/// A fully connected layer in PyTorch's layout: weight [outputs, inputs], optional bias, in
/// the precision the engine runs it at.
struct Linear: Sendable {
    enum Storage: Sendable {
        /// The checkpoint's values, multiplied by OpenBLAS.
        case fp32(Weights)
        /// Per output channel: `weight ≈ scale * q` with q in -levels...levels; `sums` is Σ q,
        /// what the inputs' zero point adds to each output, per unit.
        case int8(OneDNNProduct, scales: FloatBuffer, sums: Int32Buffer, inputLevels: Int)
        case bf16(OneDNNProduct)
    }

    let storage: Storage
    let bias: Weights?
    let inputs: Int
    let outputs: Int

    init(weight: Weights, bias: Weights?, inputs: Int, outputs: Int) {
        storage = .fp32(weight)
        self.bias = bias
        self.inputs = inputs
        self.outputs = outputs
    }

    private init(storage: Storage, bias: Weights?, inputs: Int, outputs: Int) {
        self.storage = storage
        self.bias = bias
        self.inputs = inputs
        self.outputs = outputs
    }

    var precision: Precision {
        switch storage {
        case .fp32: .fp32
        case .int8: .int8
        case .bf16: .bf16
        }
    }

    /// Bytes the weights hold in memory.
    var weightBytes: Int {
        switch storage {
        case .fp32: inputs * outputs * 4
        case .int8: inputs * outputs + outputs * 8
        case .bf16: inputs * outputs * 2
        }
    }

    /// The same layer in another precision. The fp32 values are not kept: pages mapped from
    /// the checkpoint are handed back (read again from the file should they be touched), and
    /// converted copies are freed with the last reference to the fp32 layer.
    func converted(to precision: Precision) throws -> Linear {
        guard case .fp32(let weight) = storage, precision != .fp32 else { return self }
        let converted: Storage
        switch precision {
        case .fp32:
            return self
        case .int8:
            // Without VNNI, oneDNN sums pairs of u8 x s8 products in 16 bits with saturation:
            // 2 * 255 * 63 fits, 2 * 255 * 127 does not, so the weights keep 7 bits there (the
            // inputs, whose rounding costs more accuracy, keep all 8).
            let inputLevels = 255, weightLevels: Float = OneDNN.shared.hasInt8DotProduct ? 127 : 63
            let scales = FloatBuffer(count: outputs), sums = Int32Buffer(count: outputs)
            var quantized = [Int8](repeating: 0, count: inputs * outputs)
            for row in 0..<outputs {
                let values = weight.pointer + row * inputs
                var largest: Float = 0
                for i in 0..<inputs { largest = max(largest, abs(values[i])) }
                let step = largest > 0 ? largest / weightLevels : 1
                var sum: Int32 = 0
                for i in 0..<inputs {
                    let q = Int8((values[i] / step).rounded())
                    quantized[row * inputs + i] = q
                    sum += Int32(q)
                }
                scales.pointer[row] = step
                sums.pointer[row] = sum
            }
            let product = try quantized.withUnsafeBytes {
                try OneDNNProduct(inputs: inputs, outputs: outputs, source: dnnl_u8, weightType: dnnl_s8, destination: dnnl_s32,
                                  weightBytes: $0.baseAddress!)
            }
            converted = .int8(product, scales: scales, sums: sums, inputLevels: inputLevels)
        case .bf16:
            var bits = [UInt16](repeating: 0, count: inputs * outputs)
            bits.withUnsafeMutableBufferPointer {
                Kernels.toBFloat16(rows: outputs, columns: inputs, input: weight.pointer, inputStride: inputs, output: $0.baseAddress!)
            }
            let product = try bits.withUnsafeBytes {
                try OneDNNProduct(inputs: inputs, outputs: outputs, source: dnnl_bf16, weightType: dnnl_bf16, destination: dnnl_f32,
                                  weightBytes: $0.baseAddress!)
            }
            converted = .bf16(product)
        }
        weight.releaseMappedPages()
        return Linear(storage: converted, bias: bias, inputs: inputs, outputs: outputs)
    }

    /// `output[rows, outputs] (+)= input[rows, inputs] · weightᵀ + bias`, then the activation,
    /// on the calling thread (`scratch` is that thread's).
    func apply(rows: Int, input: UnsafePointer<Float>, inputStride: Int, output: UnsafeMutablePointer<Float>, outputStride: Int,
               accumulate: Bool, activation: Activation?, scratch: ProductScratch) {
        guard rows > 0 else { return }
        switch storage {
        case .fp32(let weight):
            matmul(rows: rows, columns: outputs, inner: inputs, input, inputStride, weight.pointer, inputs, transposeB: true,
                   output, outputStride, accumulate: accumulate)
            finish(rows: rows, columns: 0..<outputs, output: output, outputStride: outputStride, activation: activation)
        case .int8(let product, let scales, let sums, let inputLevels):
            scratch.reserve(rows: rows, inputs: inputs, outputs: outputs)
            Kernels.quantizeRows(rows: rows, columns: inputs, input: input, inputStride: inputStride, output: scratch.bytes,
                                 scales: scratch.rowScales, zeroPoints: scratch.zeroPoints, levels: Float(inputLevels))
            product.run(rows: rows, source: scratch.bytes, destination: scratch.results, stream: scratch.stream.stream)
            // A few rows at a time, so that the bias and activation pass finds them still in
            // the cache (a whole block of the first MLP layer's output is megabytes). A layer
            // that adds into the residual stream has no activation (the output and second MLP
            // projections): its bias goes in the dequantising pass.
            let accumulators = scratch.results.assumingMemoryBound(to: Int32.self)
            var first = 0
            while first < rows {
                let count = min(Self.rowsPerPass, rows - first)
                Kernels.dequantize(rows: count, columns: outputs, accumulators: accumulators + first * outputs,
                                   rowScales: scratch.rowScales + first, zeroPoints: scratch.zeroPoints + first, columnScales: scales.pointer,
                                   sums: sums.pointer, bias: accumulate ? bias?.pointer : nil, output: output + first * outputStride,
                                   outputStride: outputStride, accumulate: accumulate)
                if !accumulate {
                    finish(rows: count, columns: 0..<outputs, output: output + first * outputStride, outputStride: outputStride,
                           activation: activation)
                }
                first += count
            }
        case .bf16(let product):
            scratch.reserve(rows: rows, inputs: 2 * inputs, outputs: outputs)
            let halves = UnsafeMutableRawPointer(scratch.bytes).assumingMemoryBound(to: UInt16.self)
            Kernels.toBFloat16(rows: rows, columns: inputs, input: input, inputStride: inputStride, output: halves)
            if !accumulate && outputStride == outputs {
                product.run(rows: rows, source: halves, destination: output, stream: scratch.stream.stream)
                finish(rows: rows, columns: 0..<outputs, output: output, outputStride: outputStride, activation: activation)
            } else {
                product.run(rows: rows, source: halves, destination: scratch.results, stream: scratch.stream.stream)
                let values = UnsafePointer(scratch.results.assumingMemoryBound(to: Float.self))
                if accumulate {
                    Kernels.addRows(rows: rows, columns: outputs, values: values, bias: bias?.pointer, output: output, outputStride: outputStride)
                } else {
                    for row in 0..<rows { (output + row * outputStride).update(from: values + row * outputs, count: outputs) }
                    finish(rows: rows, columns: 0..<outputs, output: output, outputStride: outputStride, activation: activation)
                }
            }
        }
    }

    /// Rows dequantised before their bias and activation are added: 4 rows of the widest
    /// layer (3072 columns) fit in a 48 KB L1 cache.
    static let rowsPerPass = 4

    /// Adds the bias of `columns` and applies the activation to a block whose first column is
    /// `columns.lowerBound` (a layer without a bias has no activation in CLIP).
    func finish(rows: Int, columns: Range<Int>, output: UnsafeMutablePointer<Float>, outputStride: Int, activation: Activation?) {
        guard let bias = bias?.pointer else { return }
        let (dim, shifted) = (columns.count, bias + columns.lowerBound)
        switch activation {
        case nil: Kernels.addBias(rows: rows, dim: dim, data: output, stride: outputStride, bias: shifted)
        case .quickGELU: Kernels.addBiasQuickGELU(rows: rows, dim: dim, data: output, stride: outputStride, bias: shifted)
        case .gelu: Kernels.addBiasGELU(rows: rows, dim: dim, data: output, stride: outputStride, bias: shifted)
        }
    }
}

/// One compute thread's scratch for the low-precision products: the quantised inputs, the raw
/// results, the per-row scales and its oneDNN stream. Grown on demand, reused between calls.
final class ProductScratch: @unchecked Sendable {
    private(set) var bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    private(set) var results = UnsafeMutableRawPointer.allocate(byteCount: 4, alignment: 64)
    private(set) var rowScales = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var zeroPoints = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var capacity = (bytes: 1, results: 4, rows: 1)
    private(set) lazy var stream = OneDNNStream()

    /// Room for `rows` rows of `inputs` bytes in and `outputs` 4-byte values out.
    func reserve(rows: Int, inputs: Int, outputs: Int) {
        if rows * inputs > capacity.bytes {
            bytes.deallocate()
            capacity.bytes = rows * inputs
            bytes = .allocate(capacity: capacity.bytes)
        }
        if rows * outputs * 4 > capacity.results {
            results.deallocate()
            capacity.results = rows * outputs * 4
            results = .allocate(byteCount: capacity.results, alignment: 64)
        }
        if rows > capacity.rows {
            rowScales.deallocate()
            zeroPoints.deallocate()
            capacity.rows = rows
            rowScales = .allocate(capacity: rows)
            zeroPoints = .allocate(capacity: rows)
        }
    }

    deinit {
        bytes.deallocate()
        results.deallocate()
        rowScales.deallocate()
        zeroPoints.deallocate()
    }
}

/// An owned run of Int32 values (the int8 layers' column sums).
final class Int32Buffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int32>

    init(count: Int) {
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }
}
