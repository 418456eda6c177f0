import CKernels

/// The element-wise and row-wise kernels between the matrix products, as Swift calls them.
/// The loops are in CKernels (C, compiled for AVX2 with FMA and for baseline x86-64, the copy
/// for this CPU chosen at load): on baseline x86-64, which Swift code is compiled for, the
/// same loops in Swift ran at half the speed or less. Callers pass valid pointers and sizes;
/// nothing here allocates.
public enum Kernels {
    /// The instruction set the kernels run with on this CPU ("avx2+fma" or "x86-64").
    public static let instructionSet = String(cString: CKernels_instructionSet())

    // MARK: Layer norm

    /// `output = (input - mean) / sqrt(variance + eps) * gamma + beta`, row by row.
    public static func layerNorm(
        rows: Int, dim: Int,
        input: UnsafePointer<Float>, inputStride: Int,
        output: UnsafeMutablePointer<Float>, outputStride: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float
    ) {
        CKernels_layerNorm(rows, dim, input, inputStride, output, outputStride, gamma, beta, eps)
    }

    // MARK: Bias and activations

    public static func addBias(rows: Int, dim: Int, data: UnsafeMutablePointer<Float>, stride: Int, bias: UnsafePointer<Float>) {
        CKernels_addBias(rows, dim, data, stride, bias, Int32(CKernels_none.rawValue))
    }

    /// Adds the bias and applies QuickGELU (`x * sigmoid(1.702 x)`, as `transformers`'
    /// QuickGELUActivation) in the same pass.
    public static func addBiasQuickGELU(rows: Int, dim: Int, data: UnsafeMutablePointer<Float>, stride: Int, bias: UnsafePointer<Float>) {
        CKernels_addBias(rows, dim, data, stride, bias, Int32(CKernels_quickGELU.rawValue))
    }

    /// Adds the bias and applies GELU in the same pass: `0.5 x (1 + erf(x / sqrt 2))` with erf
    /// from Abramowitz and Stegun 7.1.26 (error below 1.5e-7), the same approximation PyTorch's
    /// vectorised CPU kernel uses.
    public static func addBiasGELU(rows: Int, dim: Int, data: UnsafeMutablePointer<Float>, stride: Int, bias: UnsafePointer<Float>) {
        CKernels_addBias(rows, dim, data, stride, bias, Int32(CKernels_gelu.rawValue))
    }

    // MARK: Softmax

    /// `exp(x - max)` of each row over its first `row + 1` columns when `causal` (the rest
    /// become 0), else over all of them; `inverseSums[row]` gets `1 / sum`. The division is left
    /// to `scaleRows` on the much smaller product with the values. exp is Cephes' polynomial,
    /// to about one ulp.
    public static func softmaxNumerators(rows: Int, columns: Int, data: UnsafeMutablePointer<Float>, stride: Int, causal: Bool,
                                         inverseSums: UnsafeMutablePointer<Float>) {
        CKernels_softmaxNumerators(rows, columns, data, stride, causal ? 1 : 0, inverseSums)
    }

    public static func scaleRows(rows: Int, columns: Int, data: UnsafeMutablePointer<Float>, stride: Int, factors: UnsafePointer<Float>) {
        CKernels_scaleRows(rows, columns, data, stride, factors)
    }

    // MARK: Norms

    /// Scales each row to unit length (rows of zeros stay zero), as `F.normalize`.
    public static func l2Normalize(rows: Int, dim: Int, data: UnsafeMutablePointer<Float>) {
        CKernels_l2Normalize(rows, dim, data)
    }

    // MARK: Around the int8 and bf16 products

    /// Quantises each row over its own range, `levels` steps from its least to its largest
    /// value (per token: one outlier token does not flatten the others; asymmetric: a GELU
    /// output, almost all of it above zero, gets every step), as unsigned bytes (oneDNN's fast
    /// int8 products take u8 x s8). A row's value is `scales[row] * (byte - zeroPoints[row])`;
    /// zero stays in the range, so that it is represented exactly.
    public static func quantizeRows(rows: Int, columns: Int, input: UnsafePointer<Float>, inputStride: Int,
                                    output: UnsafeMutablePointer<UInt8>, scales: UnsafeMutablePointer<Float>,
                                    zeroPoints: UnsafeMutablePointer<Int32>, levels: Float) {
        CKernels_quantizeRows(rows, columns, input, inputStride, output, scales, zeroPoints, levels)
    }

    /// `output (+)= (accumulator - zeroPoints[row] * sums[column]) * rowScales[row] * columnScales[column] (+ bias)`:
    /// an int32 product of quantised rows back to f32 (`sums` are the weights' column sums).
    public static func dequantize(rows: Int, columns: Int, accumulators: UnsafePointer<Int32>, rowScales: UnsafePointer<Float>,
                                  zeroPoints: UnsafePointer<Int32>, columnScales: UnsafePointer<Float>, sums: UnsafePointer<Int32>,
                                  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, outputStride: Int, accumulate: Bool) {
        CKernels_dequantize(rows, columns, accumulators, rowScales, zeroPoints, columnScales, sums, bias, output, outputStride,
                            accumulate ? 1 : 0)
    }

    /// f32 to bfloat16 bits, rounding to nearest even (as PyTorch and oneDNN convert).
    public static func toBFloat16(rows: Int, columns: Int, input: UnsafePointer<Float>, inputStride: Int,
                                  output: UnsafeMutablePointer<UInt16>) {
        CKernels_toBFloat16(rows, columns, input, inputStride, output)
    }

    /// `output += values (+ bias)`, row by row.
    public static func addRows(rows: Int, columns: Int, values: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               output: UnsafeMutablePointer<Float>, outputStride: Int) {
        CKernels_addRows(rows, columns, values, bias, output, outputStride)
    }
}
