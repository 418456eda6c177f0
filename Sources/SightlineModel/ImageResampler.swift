import SightlineCore

/// Pillow's resampling of 8-bit images (`Image.resize` in `libImaging/Resample.c`), reproduced
/// bit for bit: separable convolution whose support widens with the scale factor (so a
/// downscale is antialiased), coefficients rounded to 22-bit fixed point, a horizontal pass
/// into an 8-bit image, then a vertical pass. This is what `CLIPImageProcessor` runs.
enum ResampleFilter: Int, Sendable {
    case bilinear = 2
    case bicubic = 3

    var support: Double { self == .bilinear ? 1 : 2 }

    func weight(_ value: Double) -> Double {
        let x = value < 0 ? -value : value
        switch self {
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

enum ImageResampler {
    private static let precisionBits = 32 - 8 - 2

    /// Fixed-point coefficients for one axis: for output index i, input indices
    /// `first[i] ..< first[i] + count[i]` weighted by `weights[i * width ..< i * width + count[i]]`.
    struct Coefficients {
        var first: [Int]
        var count: [Int]
        var weights: [Int]
        var width: Int
    }

    static func coefficients(inputSize: Int, outputSize: Int, filter: ResampleFilter) -> Coefficients {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let width = Int(support.rounded(.up)) * 2 + 1
        var result = Coefficients(first: [], count: [], weights: [Int](repeating: 0, count: outputSize * width), width: width)
        var row = [Double](repeating: 0, count: width)
        for out in 0..<outputSize {
            let center = (Double(out) + 0.5) * scale
            let inverse = 1 / filterScale
            let lower = max(0, Int(center - support + 0.5))
            let count = min(inputSize, Int(center + support + 0.5)) - lower
            var total = 0.0
            for k in 0..<count {
                let w = filter.weight((Double(k + lower) - center + 0.5) * inverse)
                row[k] = w
                total += w
            }
            for k in 0..<count {
                let w = total != 0 ? row[k] / total : row[k]
                let fixed = w * Double(1 << precisionBits)
                result.weights[out * width + k] = Int(w < 0 ? -0.5 + fixed : 0.5 + fixed)
            }
            result.first.append(lower)
            result.count.append(max(0, count))
        }
        return result
    }

    @inline(__always)
    private static func clip8(_ value: Int) -> UInt8 {
        if value >= 1 << (precisionBits + 8) { return 255 }
        if value <= 0 { return 0 }
        return UInt8(truncatingIfNeeded: value >> precisionBits)
    }

    static func resize(_ image: RGBImage, width: Int, height: Int, filter: ResampleFilter) -> RGBImage {
        if width == image.width && height == image.height { return image }
        let horizontal = coefficients(inputSize: image.width, outputSize: width, filter: filter)
        let vertical = coefficients(inputSize: image.height, outputSize: height, filter: filter)
        let needHorizontal = width != image.width
        let needVertical = height != image.height

        var source = image.pixels
        var sourceWidth = image.width
        var rowOffset = 0
        if needHorizontal {
            // Only the rows the vertical pass will read.
            let firstRow = needVertical ? vertical.first[0] : 0
            let lastRow = needVertical ? vertical.first[height - 1] + vertical.count[height - 1] : image.height
            var output = [UInt8](repeating: 0, count: width * (lastRow - firstRow) * 3)
            image.pixels.withUnsafeBufferPointer { input in
                output.withUnsafeMutableBufferPointer { out in
                    for y in firstRow..<lastRow {
                        let inRow = input.baseAddress! + y * image.width * 3
                        let outRow = out.baseAddress! + (y - firstRow) * width * 3
                        for x in 0..<width {
                            let first = horizontal.first[x]
                            let base = x * horizontal.width
                            var r = 1 << (precisionBits - 1), g = r, b = r
                            for k in 0..<horizontal.count[x] {
                                let w = horizontal.weights[base + k]
                                let p = inRow + (first + k) * 3
                                r += Int(p[0]) * w
                                g += Int(p[1]) * w
                                b += Int(p[2]) * w
                            }
                            outRow[x * 3] = clip8(r)
                            outRow[x * 3 + 1] = clip8(g)
                            outRow[x * 3 + 2] = clip8(b)
                        }
                    }
                }
            }
            source = output
            sourceWidth = width
            rowOffset = firstRow
        }
        guard needVertical else { return makeImage(width: width, height: height, pixels: source) }
        var output = [UInt8](repeating: 0, count: width * height * 3)
        source.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                for y in 0..<height {
                    let first = vertical.first[y] - rowOffset
                    let base = y * vertical.width
                    let outRow = out.baseAddress! + y * width * 3
                    for x in 0..<(sourceWidth * 3) {
                        var sum = 1 << (precisionBits - 1)
                        for k in 0..<vertical.count[y] {
                            sum += Int(input[(first + k) * sourceWidth * 3 + x]) * vertical.weights[base + k]
                        }
                        outRow[x] = clip8(sum)
                    }
                }
            }
        }
        return makeImage(width: width, height: height, pixels: output)
    }

    static func makeImage(width: Int, height: Int, pixels: [UInt8]) -> RGBImage {
        var image = RGBImage(width: width, height: height)
        image.pixels = pixels
        return image
    }
}
