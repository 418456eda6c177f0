/// The element-wise and row-wise kernels between the matrix products. Each streams its rows
/// once, eight lanes at a time, with a scalar tail for widths that are not a multiple of 8.
/// Callers pass valid pointers and sizes; nothing here allocates.
///
/// Eight lanes and explicit selects rather than `clamped` or `pointwiseMin`: on baseline x86-64
/// those compile to per-lane code and wider vectors spill, either one costing over ten times as much.
public enum Kernels {
    typealias Vector = SIMD8<Float>
    typealias Bits = SIMD8<UInt32>
    typealias Integers = SIMD8<Int32>
    static let lanes = 8

    @inline(__always)
    static func load(_ pointer: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(pointer).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func store(_ value: Vector, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Vector.self)
    }

    // MARK: Layer norm

    /// `output = (input - mean) / sqrt(variance + eps) * gamma + beta`, row by row.
    public static func layerNorm(
        rows: Int, dim: Int,
        input: UnsafePointer<Float>, inputStride: Int,
        output: UnsafeMutablePointer<Float>, outputStride: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float
    ) {
        let vectorEnd = dim - dim % lanes
        for row in 0..<rows {
            let x = input + row * inputStride
            let y = output + row * outputStride
            var sum = Vector()
            var i = 0
            while i < vectorEnd { sum += load(x + i); i += lanes }
            var total = sum.sum()
            while i < dim { total += x[i]; i += 1 }
            let mean = total / Float(dim)
            var squares = Vector()
            i = 0
            while i < vectorEnd { let d = load(x + i) - mean; squares += d * d; i += lanes }
            var variance = squares.sum()
            while i < dim { let d = x[i] - mean; variance += d * d; i += 1 }
            let inverse = 1 / (variance / Float(dim) + eps).squareRoot()
            i = 0
            while i < vectorEnd {
                store((load(x + i) - mean) * inverse * load(gamma + i) + load(beta + i), y + i)
                i += lanes
            }
            while i < dim { y[i] = (x[i] - mean) * inverse * gamma[i] + beta[i]; i += 1 }
        }
    }

    // MARK: Bias and activations

    public static func addBias(rows: Int, dim: Int, data: UnsafeMutablePointer<Float>, stride: Int, bias: UnsafePointer<Float>) {
        let vectorEnd = dim - dim % lanes
        for row in 0..<rows {
            let x = data + row * stride
            var i = 0
            while i < vectorEnd { store(load(x + i) + load(bias + i), x + i); i += lanes }
            while i < dim { x[i] += bias[i]; i += 1 }
        }
    }

    /// Adds the bias and applies QuickGELU in the same pass.
    public static func addBiasQuickGELU(rows: Int, dim: Int, data: UnsafeMutablePointer<Float>, stride: Int, bias: UnsafePointer<Float>) {
        addBias(rows: rows, dim: dim, data: data, stride: stride, bias: bias, then: quickGELU)
    }

    /// Adds the bias and applies GELU in the same pass.
    public static func addBiasGELU(rows: Int, dim: Int, data: UnsafeMutablePointer<Float>, stride: Int, bias: UnsafePointer<Float>) {
        addBias(rows: rows, dim: dim, data: data, stride: stride, bias: bias, then: gelu)
    }

    /// Inlined into each caller, so that the activation is inlined into the loop.
    @inline(__always)
    private static func addBias(rows: Int, dim: Int, data: UnsafeMutablePointer<Float>, stride: Int, bias: UnsafePointer<Float>,
                                then activation: (Vector) -> Vector) {
        let vectorEnd = dim - dim % lanes
        for row in 0..<rows {
            let x = data + row * stride
            var i = 0
            while i < vectorEnd { store(activation(load(x + i) + load(bias + i)), x + i); i += lanes }
            while i < dim { x[i] = activation(Vector(repeating: x[i] + bias[i]))[0]; i += 1 }
        }
    }

    /// `x * sigmoid(1.702 x)`, as `transformers`' QuickGELUActivation.
    @inline(__always)
    static func quickGELU(_ x: Vector) -> Vector {
        x / (1 + exp(x * -1.702))
    }

    /// `0.5 x (1 + erf(x / sqrt 2))` with erf from Abramowitz and Stegun 7.1.26 (error below
    /// 1.5e-7), the same approximation PyTorch's vectorised CPU kernel uses.
    @inline(__always)
    static func gelu(_ x: Vector) -> Vector {
        let z = abs(x) * 0.70710678118654752
        let t = 1 / (z * 0.3275911 + 1)
        var r = t * 1.061405429 - 1.453152027
        r = r * t + 1.421413741
        r = r * t - 0.284496736
        r = r * t + 0.254829592
        let erfAbs = 1 - r * t * exp(-(z * z))
        let erf = erfAbs.replacing(with: -erfAbs, where: x .< 0)
        return x * 0.5 * (1 + erf)
    }

    @inline(__always)
    static func abs(_ x: Vector) -> Vector {
        unsafeBitCast(unsafeBitCast(x, to: Bits.self) & 0x7FFF_FFFF, to: Vector.self)
    }

    /// e^x to about one ulp (Cephes' polynomial), exact powers of two from the exponent bits.
    /// Inputs are clamped to [-87.3, 88], so tiny results are about 1e-38 rather than 0.
    @inline(__always)
    static func exp(_ value: Vector) -> Vector {
        let low = Vector(repeating: -87.33654), high = Vector(repeating: 88.0)
        var x = value.replacing(with: low, where: value .< low)
        x = x.replacing(with: high, where: x .> high)
        // Adding 1.5 * 2^23 rounds x / ln 2 to the nearest integer, left in the low mantissa bits.
        let shifted = x * 1.44269504088896341 + 12582912.0
        let n = shifted - 12582912.0
        var r = x - n * 0.693359375
        r = r + n * 2.12194440e-4
        var p = r * 1.9875691500e-4 + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * (r * r) + r + 1
        let exponent = (unsafeBitCast(shifted, to: Integers.self) &- 0x4B40_0000 &+ 127) &<< 23
        return y * unsafeBitCast(exponent, to: Vector.self)
    }

    // MARK: Softmax

    /// `exp(x - max)` of each row over its first `row + 1` columns when `causal` (the rest
    /// become 0), else over all of them; `inverseSums[row]` gets `1 / sum`. The division is left
    /// to `scaleRows` on the much smaller product with the values.
    public static func softmaxNumerators(rows: Int, columns: Int, data: UnsafeMutablePointer<Float>, stride: Int, causal: Bool,
                                  inverseSums: UnsafeMutablePointer<Float>) {
        for row in 0..<rows {
            let x = data + row * stride
            let count = causal ? Swift.min(row + 1, columns) : columns
            let vectorEnd = count - count % lanes
            var maxima = Vector(repeating: -.infinity)
            var i = 0
            while i < vectorEnd { let v = load(x + i); maxima = maxima.replacing(with: v, where: v .> maxima); i += lanes }
            var maximum = maxima.max()
            while i < count { maximum = Swift.max(maximum, x[i]); i += 1 }
            var sums = Vector()
            i = 0
            while i < vectorEnd {
                let e = exp(load(x + i) - maximum)
                store(e, x + i)
                sums += e
                i += lanes
            }
            var sum = sums.sum()
            while i < count {
                let e = exp(Vector(repeating: x[i] - maximum))[0]
                x[i] = e
                sum += e
                i += 1
            }
            inverseSums[row] = 1 / sum
            if count < columns { (x + count).update(repeating: 0, count: columns - count) }
        }
    }

    public static func scaleRows(rows: Int, columns: Int, data: UnsafeMutablePointer<Float>, stride: Int, factors: UnsafePointer<Float>) {
        let vectorEnd = columns - columns % lanes
        for row in 0..<rows {
            let x = data + row * stride, factor = factors[row]
            var i = 0
            while i < vectorEnd { store(load(x + i) * factor, x + i); i += lanes }
            while i < columns { x[i] *= factor; i += 1 }
        }
    }

    // MARK: Norms

    /// Scales each row to unit length (rows of zeros stay zero), as `F.normalize`.
    public static func l2Normalize(rows: Int, dim: Int, data: UnsafeMutablePointer<Float>) {
        for row in 0..<rows {
            let x = data + row * dim
            var sum: Float = 0
            for i in 0..<dim { sum += x[i] * x[i] }
            let scale = 1 / Swift.max(sum.squareRoot(), 1e-12)
            for i in 0..<dim { x[i] *= scale }
        }
    }
}
