import SightlineCore

/// Bilinear resampling with PyTorch's `align_corners=False` convention: pixel centres sit at
/// half-integer positions, so destination pixel `x` reads source position
/// `(x + 0.5) * (srcSize / dstSize) - 0.5`, clamped to the first and last source pixel. A
/// patch's value then lands on the centre of the pixels the patch covered.
struct BilinearAxis {
    var lower: [Int]
    var upper: [Int]
    var weight: [Float]

    /// Taps for destination positions `range` of a `dstSize` axis read from a `srcSize` axis,
    /// with source positions clamped into `clamp` (a part of the source).
    init(srcSize: Int, dstSize: Int, range: Range<Int>, clamp: Range<Int>? = nil) {
        let clamp = clamp ?? 0..<srcSize
        let scale = Double(srcSize) / Double(dstSize)
        lower = []; upper = []; weight = []
        lower.reserveCapacity(range.count); upper.reserveCapacity(range.count); weight.reserveCapacity(range.count)
        let lo = Double(clamp.lowerBound), hi = Double(clamp.upperBound - 1)
        for x in range {
            let s = min(max((Double(x) + 0.5) * scale - 0.5, lo), hi)
            let i0 = Int(s.rounded(.down))
            let i1 = min(i0 + 1, clamp.upperBound - 1)
            lower.append(i0)
            upper.append(i1)
            weight.append(Float(s - Double(i0)))
        }
    }
}

/// Resamples the `srcWidth x srcHeight` plane `src` (row-major) to the part `region` of a
/// `dstWidth x dstHeight` plane, reading only inside `clamp` of the source when given.
func bilinear(_ src: [Float], srcWidth: Int, srcHeight: Int, dstWidth: Int, dstHeight: Int,
              region: PixelBox, clamp: PixelBox? = nil) -> [Float] {
    let xs = BilinearAxis(srcSize: srcWidth, dstSize: dstWidth, range: region.x..<(region.x + region.width),
                          clamp: clamp.map { $0.x..<($0.x + $0.width) })
    let ys = BilinearAxis(srcSize: srcHeight, dstSize: dstHeight, range: region.y..<(region.y + region.height),
                          clamp: clamp.map { $0.y..<($0.y + $0.height) })
    var out = [Float](repeating: 0, count: region.width * region.height)
    // Resample rows first into a buffer of the source rows needed, then columns.
    var rowA = [Float](repeating: 0, count: region.width)
    var rowB = [Float](repeating: 0, count: region.width)
    src.withUnsafeBufferPointer { s in
        out.withUnsafeMutableBufferPointer { o in
            var cachedA = -1, cachedB = -1
            func horizontal(_ sy: Int, into row: inout [Float]) {
                let base = sy * srcWidth
                for i in 0..<region.width {
                    let a = s[base + xs.lower[i]], b = s[base + xs.upper[i]]
                    row[i] = a + (b - a) * xs.weight[i]
                }
            }
            for j in 0..<region.height {
                let y0 = ys.lower[j], y1 = ys.upper[j], wy = ys.weight[j]
                if cachedA != y0 {
                    if cachedB == y0 { swap(&rowA, &rowB); swap(&cachedA, &cachedB) } else { horizontal(y0, into: &rowA); cachedA = y0 }
                }
                if cachedB != y1 { horizontal(y1, into: &rowB); cachedB = y1 }
                let outRow = j * region.width
                for i in 0..<region.width {
                    o[outRow + i] = rowA[i] + (rowB[i] - rowA[i]) * wy
                }
            }
        }
    }
    return out
}

/// A frame's colours as three planes of floats in 0...1, at a working resolution.
struct ColourPlanes {
    let width: Int
    let height: Int
    /// `[r plane, g plane, b plane]`, each row-major.
    var planes: [[Float]]

    /// Area-averages `image` down to `width x height` (each output pixel is the mean of the
    /// source pixels it covers), or copies it when the size is the same.
    init(_ image: RGBImage, width: Int, height: Int) {
        self.width = width
        self.height = height
        var r = [Float](repeating: 0, count: width * height)
        var g = r, b = r
        let xBounds = (0...width).map { $0 * image.width / width }
        let yBounds = (0...height).map { $0 * image.height / height }
        image.pixels.withUnsafeBufferPointer { px in
            for y in 0..<height {
                let sy0 = yBounds[y], sy1 = max(yBounds[y + 1], sy0 + 1)
                for x in 0..<width {
                    let sx0 = xBounds[x], sx1 = max(xBounds[x + 1], sx0 + 1)
                    var sr = 0, sg = 0, sb = 0
                    for sy in sy0..<sy1 {
                        var i = (sy * image.width + sx0) * 3
                        for _ in sx0..<sx1 {
                            sr += Int(px[i]); sg += Int(px[i + 1]); sb += Int(px[i + 2])
                            i += 3
                        }
                    }
                    let n = Float((sy1 - sy0) * (sx1 - sx0)) * 255
                    r[y * width + x] = Float(sr) / n
                    g[y * width + x] = Float(sg) / n
                    b[y * width + x] = Float(sb) / n
                }
            }
        }
        planes = [r, g, b]
    }
}
