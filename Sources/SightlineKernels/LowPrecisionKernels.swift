/// Conversions around the int8 and bf16 matrix products: the activations into the products'
/// input types, and the products' results back into the f32 residual stream.
extension Kernels {
    /// Quantises each row over its own range, `levels` steps from its least to its largest
    /// value (per token: one outlier token does not flatten the others; asymmetric: a GELU
    /// output, almost all of it above zero, gets every step), as unsigned bytes (oneDNN's fast
    /// int8 products take u8 x s8). A row's value is `scales[row] * (byte - zeroPoints[row])`.
    public static func quantizeRows(rows: Int, columns: Int, input: UnsafePointer<Float>, inputStride: Int,
                                    output: UnsafeMutablePointer<UInt8>, scales: UnsafeMutablePointer<Float>,
                                    zeroPoints: UnsafeMutablePointer<Int32>, levels: Float) {
        let vectorEnd = columns - columns % lanes
        for row in 0..<rows {
            let x = input + row * inputStride
            var high = Vector(repeating: 0), low = Vector(repeating: 0)
            var i = 0
            while i < vectorEnd {
                let v = load(x + i)
                high = high.replacing(with: v, where: v .> high)
                low = low.replacing(with: v, where: v .< low)
                i += lanes
            }
            // Zero stays in the range, so that it is represented exactly (padding, masked values).
            var largest = high.max(), least = low.min()
            while i < columns { largest = Swift.max(largest, x[i]); least = Swift.min(least, x[i]); i += 1 }
            let step = largest > least ? (largest - least) / levels : 1
            let zero = (-least / step).rounded()
            scales[row] = step
            zeroPoints[row] = Int32(zero)
            let inverse = 1 / step, top = levels
            let destination = output + row * columns
            // Rounding by adding 2^23: a float in [0, 2^22) then holds its nearest integer in
            // the low bits of its mantissa. Plain loops, which LLVM vectorises; Swift's generic
            // SIMD float-to-integer conversion runs lane by lane, at a fifth of the whole pass.
            for i in 0..<columns {
                let shifted = Swift.min(Swift.max(x[i] * inverse + zero, 0), top)
                destination[i] = UInt8(truncatingIfNeeded: (shifted + 8_388_608).bitPattern)
            }
        }
    }

    /// `output (+)= (accumulator - zeroPoints[row] * sums[column]) * rowScales[row] * columnScales[column] (+ bias)`:
    /// an int32 product of quantised rows back to f32 (`sums` are the weights' column sums).
    public static func dequantize(rows: Int, columns: Int, accumulators: UnsafePointer<Int32>, rowScales: UnsafePointer<Float>,
                                  zeroPoints: UnsafePointer<Int32>, columnScales: UnsafePointer<Float>, sums: UnsafePointer<Int32>,
                                  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, outputStride: Int, accumulate: Bool) {
        for row in 0..<rows {
            let a = accumulators + row * columns, y = output + row * outputStride
            let rowScale = rowScales[row], zero = zeroPoints[row]
            // One loop per case, so that each is a plain loop LLVM vectorises (an integer-to-float
            // conversion through Swift's SIMD types would run lane by lane).
            switch (bias, accumulate) {
            case (let bias?, true):
                for i in 0..<columns { y[i] += Float(a[i] &- zero &* sums[i]) * rowScale * columnScales[i] + bias[i] }
            case (let bias?, false):
                for i in 0..<columns { y[i] = Float(a[i] &- zero &* sums[i]) * rowScale * columnScales[i] + bias[i] }
            case (nil, true):
                for i in 0..<columns { y[i] += Float(a[i] &- zero &* sums[i]) * rowScale * columnScales[i] }
            case (nil, false):
                for i in 0..<columns { y[i] = Float(a[i] &- zero &* sums[i]) * rowScale * columnScales[i] }
            }
        }
    }

    /// f32 to bfloat16 bits, rounding to nearest even (as PyTorch and oneDNN convert).
    public static func toBFloat16(rows: Int, columns: Int, input: UnsafePointer<Float>, inputStride: Int,
                                  output: UnsafeMutablePointer<UInt16>) {
        for row in 0..<rows {
            let x = UnsafeRawPointer(input + row * inputStride).assumingMemoryBound(to: UInt32.self)
            let destination = output + row * columns
            for i in 0..<columns {
                let bits = x[i]
                destination[i] = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
            }
        }
    }

    /// `output += values (+ bias)`, row by row.
    public static func addRows(rows: Int, columns: Int, values: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               output: UnsafeMutablePointer<Float>, outputStride: Int) {
        let vectorEnd = columns - columns % lanes
        for row in 0..<rows {
            let v = values + row * columns, y = output + row * outputStride
            var i = 0
            while i < vectorEnd {
                var value = load(v + i) + load(y + i)
                if let bias { value += load(bias + i) }
                store(value, y + i)
                i += lanes
            }
            while i < columns { y[i] += v[i] + (bias?[i] ?? 0); i += 1 }
        }
    }
}
