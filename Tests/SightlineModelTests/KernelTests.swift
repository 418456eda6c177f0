import Foundation
import SightlineCore
import SightlineKernels
import Testing

/// The element-wise kernels against plain Double arithmetic, at widths that leave every
/// possible partial last vector (1 to 19 and a layer's 771), so that the padded tails are
/// checked as well as the whole vectors.
@Suite struct KernelTests {
    static let widths = Array(1...19) + [771]

    /// Deterministic values in about [-4, 4), with a few large ones.
    static func values(_ count: Int, seed: UInt64 = 7) -> [Float] {
        var state = seed
        return (0..<count).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let unit = Float(state >> 40) / Float(1 << 24)
            return i % 13 == 5 ? unit * 40 - 20 : unit * 8 - 4
        }
    }

    static func close(_ a: Float, _ b: Double, relative: Double = 1e-5, absolute: Double = 1e-6) -> Bool {
        abs(Double(a) - b) <= absolute + relative * abs(b)
    }

    @Test func theCopyForThisCPUIsChosen() {
        let flags = CPUFeatures.current.flags
        #expect(Kernels.instructionSet == (flags.contains("avx2") && flags.contains("fma") ? "avx2+fma" : "x86-64"))
    }

    @Test(arguments: widths) func layerNorm(dim: Int) {
        let rows = 3, stride = dim + 2
        let input = Self.values(rows * stride), gamma = Self.values(dim, seed: 2), beta = Self.values(dim, seed: 3)
        var output = [Float](repeating: .nan, count: rows * stride)
        Kernels.layerNorm(rows: rows, dim: dim, input: input, inputStride: stride, output: &output, outputStride: stride,
                          gamma: gamma, beta: beta, eps: 1e-5)
        for row in 0..<rows {
            let x = input[(row * stride)..<(row * stride + dim)].map(Double.init)
            let mean = x.reduce(0, +) / Double(dim)
            let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(dim)
            for i in 0..<dim {
                let expected = (x[i] - mean) / (variance + 1e-5).squareRoot() * Double(gamma[i]) + Double(beta[i])
                #expect(Self.close(output[row * stride + i], expected, relative: 1e-4, absolute: 1e-4), "row \(row) column \(i)")
            }
            // The stride's gap is left alone.
            #expect(output[row * stride + dim].isNaN)
        }
    }

    @Test(arguments: widths) func biasAndActivations(dim: Int) {
        let rows = 2, stride = dim + 1
        let input = Self.values(rows * stride), bias = Self.values(dim, seed: 5)
        let activations: [(String, (inout [Float]) -> Void, (Double) -> Double)] = [
            ("none", { Kernels.addBias(rows: rows, dim: dim, data: &$0, stride: stride, bias: bias) }, { $0 }),
            ("quickGELU", { Kernels.addBiasQuickGELU(rows: rows, dim: dim, data: &$0, stride: stride, bias: bias) },
             { $0 / (1 + Foundation.exp(-1.702 * $0)) }),
            ("gelu", { Kernels.addBiasGELU(rows: rows, dim: dim, data: &$0, stride: stride, bias: bias) },
             { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }),
        ]
        for (name, kernel, reference) in activations {
            var data = input
            kernel(&data)
            for row in 0..<rows {
                for i in 0..<dim {
                    let expected = reference(Double(input[row * stride + i]) + Double(bias[i]))
                    #expect(Self.close(data[row * stride + i], expected, relative: 1e-5, absolute: 1e-6), "\(name) row \(row) column \(i)")
                }
                #expect(data[row * stride + dim] == input[row * stride + dim], "\(name): past the row")
            }
        }
    }

    @Test(arguments: widths, [false, true]) func softmax(columns: Int, causal: Bool) {
        let rows = min(columns, 5), stride = columns + 3
        var data = Self.values(rows * stride).map { $0 * 3 }
        let input = data
        var inverseSums = [Float](repeating: 0, count: rows)
        Kernels.softmaxNumerators(rows: rows, columns: columns, data: &data, stride: stride, causal: causal, inverseSums: &inverseSums)
        for row in 0..<rows {
            let count = causal ? row + 1 : columns
            let x = input[(row * stride)..<(row * stride + count)].map(Double.init)
            let maximum = x.max()!
            let total = x.map { Foundation.exp($0 - maximum) }.reduce(0, +)
            for i in 0..<columns {
                let probability = Double(data[row * stride + i]) * Double(inverseSums[row])
                let expected = i < count ? Foundation.exp(x[i] - maximum) / total : 0
                #expect(Self.close(Float(probability), expected, relative: 1e-5, absolute: 1e-7), "row \(row) column \(i)")
            }
            #expect(data[row * stride + columns] == input[row * stride + columns], "past the row")
        }
    }

    @Test(arguments: widths) func rowsScaledAddedAndNormalised(columns: Int) {
        let rows = 3
        let input = Self.values(rows * columns), factors = Self.values(rows, seed: 9), bias = Self.values(columns, seed: 4)
        var scaled = input
        Kernels.scaleRows(rows: rows, columns: columns, data: &scaled, stride: columns, factors: factors)
        var added = input
        Kernels.addRows(rows: rows, columns: columns, values: factors.count >= 0 ? input : [], bias: bias, output: &added, outputStride: columns)
        var normalised = input
        Kernels.l2Normalize(rows: rows, dim: columns, data: &normalised)
        for row in 0..<rows {
            let norm = input[(row * columns)..<((row + 1) * columns)].map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
            for i in 0..<columns {
                let x = Double(input[row * columns + i])
                #expect(Self.close(scaled[row * columns + i], x * Double(factors[row])))
                #expect(Self.close(added[row * columns + i], 2 * x + Double(bias[i])))
                #expect(Self.close(normalised[row * columns + i], x / norm))
            }
        }
        var zeros = [Float](repeating: 0, count: columns)
        Kernels.l2Normalize(rows: 1, dim: columns, data: &zeros)
        #expect(zeros.allSatisfy { $0 == 0 }, "a row of zeros stays zero")
    }

    @Test(arguments: widths) func quantisedRowsComeBackWithinHalfAStep(columns: Int) {
        let rows = 3, stride = columns + 1, levels: Float = 255
        var input = Self.values(rows * stride)
        input[stride] = 0  // a zero must come back exactly
        var bytes = [UInt8](repeating: 0, count: rows * columns)
        var scales = [Float](repeating: 0, count: rows), zeros = [Int32](repeating: 0, count: rows)
        Kernels.quantizeRows(rows: rows, columns: columns, input: input, inputStride: stride, output: &bytes, scales: &scales,
                             zeroPoints: &zeros, levels: levels)
        for row in 0..<rows {
            let x = input[(row * stride)..<(row * stride + columns)]
            let range = Double(max(x.max()!, 0)) - Double(min(x.min()!, 0))
            #expect(Self.close(scales[row], range == 0 ? 1 : range / Double(levels)))
            for i in 0..<columns {
                let back = scales[row] * Float(Int32(bytes[row * columns + i]) - zeros[row])
                #expect(abs(back - x[x.startIndex + i]) <= scales[row] * 0.5001, "row \(row) column \(i)")
            }
        }
        #expect(scales[1] * Float(Int32(bytes[columns]) - zeros[1]) == 0)
    }

    @Test(arguments: widths) func dequantisedProducts(columns: Int) {
        let rows = 2, stride = columns + 2
        let accumulators = (0..<(rows * columns)).map { Int32($0 * 37 % 2001) - 1000 }
        let rowScales: [Float] = [0.01, 0.003], zeros: [Int32] = [128, 3]
        let columnScales = Self.values(columns, seed: 11).map { abs($0) / 100 }
        let sums = (0..<columns).map { Int32($0 * 7 % 50) - 25 }, bias = Self.values(columns, seed: 12)
        let start = Self.values(rows * stride, seed: 13)
        for (withBias, accumulate) in [(false, false), (true, false), (false, true), (true, true)] {
            var output = start
            Kernels.dequantize(rows: rows, columns: columns, accumulators: accumulators, rowScales: rowScales, zeroPoints: zeros,
                               columnScales: columnScales, sums: sums, bias: withBias ? bias : nil, output: &output,
                               outputStride: stride, accumulate: accumulate)
            for row in 0..<rows {
                for i in 0..<columns {
                    var expected = Double(accumulators[row * columns + i] - zeros[row] * sums[i]) * Double(rowScales[row]) * Double(columnScales[i])
                    if withBias { expected += Double(bias[i]) }
                    if accumulate { expected += Double(start[row * stride + i]) }
                    #expect(Self.close(output[row * stride + i], expected, relative: 1e-5, absolute: 1e-5), "bias \(withBias) accumulate \(accumulate)")
                }
                #expect(output[row * stride + columns] == start[row * stride + columns], "past the row")
            }
        }
    }

    @Test func bfloat16RoundsToNearestEven() {
        let input: [Float] = [1, -2.5, 1 + 1.0 / 256, 1 + 3.0 / 256, 1 + 1.0 / 512, .infinity, 3.0e38, 1e-40]
        var output = [UInt16](repeating: 0, count: input.count)
        Kernels.toBFloat16(rows: 1, columns: input.count, input: input, inputStride: input.count, output: &output)
        // 1 + 1/256 is halfway between 1 and 1 + 1/128: to the even one, 1; 1 + 3/256 to 1 + 1/64.
        #expect(output == [0x3F80, 0xC020, 0x3F80, 0x3F82, 0x3F80, 0x7F80, 0x7F62, 0x0001])
    }
}
