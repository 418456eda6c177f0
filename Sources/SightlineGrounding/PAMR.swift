/// Pixel-adaptive mask refinement (PAMR; Araslanov & Roth, "Single-Stage Semantic
/// Segmentation from Image Labels", CVPR 2020), as the published code computes it.
///
/// For each pixel, its neighbours at offsets `{-d, 0, d}²` (without the centre) for each
/// dilation `d` get the affinity `-mean_c |I_c(p) - I_c(n)| / (1e-8 + 0.1 σ_c(p))`, where
/// `σ_c(p)` is the standard deviation (with Bessel's correction) of channel `c` over the
/// `9 × dilations` samples `{-d, 0, d}²` (the centre counted once per dilation); a softmax
/// over the neighbours turns affinities into weights. Each iteration replaces the mask by
/// the weighted sum of its neighbours. Beyond the edges of the region worked on, image and
/// mask repeat their edge pixels (replicate padding, as the published code pads).
struct PAMR {
    var iterations: Int
    var dilations: [Int]

    private static let directions = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]

    var offsets: [(dy: Int, dx: Int)] {
        dilations.flatMap { d in Self.directions.map { (dy: $0.0 * d, dx: $0.1 * d) } }
    }

    var pad: Int { dilations.max() ?? 0 }

    /// Refines `mask` (the pixels of `region`, row-major) guided by the colours of `region`.
    func refine(_ mask: inout [Float], region: PixelBox, colours: ColourPlanes) {
        guard iterations > 0, !dilations.isEmpty else { return }
        let weights = affinity(region: region, colours: colours)
        propagate(&mask, crop: region, weights: weights)
    }

    /// Neighbour weights over a region of the working image, shared by every query refined
    /// inside it.
    struct Weights {
        var region: PixelBox
        /// `[neighbour][y][x]` over the region.
        var values: [Float]
    }

    /// Copies `rect` of a `planeWidth`-wide plane into `out`, padded by `pad` on every side
    /// with repeated edge pixels.
    private func padded(_ plane: UnsafePointer<Float>, planeWidth: Int, rect: PixelBox, into out: UnsafeMutablePointer<Float>) {
        let p = pad
        let pw = rect.width + 2 * p
        for py in 0..<(rect.height + 2 * p) {
            let src = plane + (rect.y + min(max(py - p, 0), rect.height - 1)) * planeWidth + rect.x
            let dst = out + py * pw
            let first = src[0], last = src[rect.width - 1]
            for i in 0..<p { dst[i] = first }
            (dst + p).update(from: src, count: rect.width)
            for i in 0..<p { dst[p + rect.width + i] = last }
        }
    }

    func affinity(region: PixelBox, colours: ColourPlanes) -> Weights {
        let offsets = self.offsets
        let k = offsets.count
        let n = region.width * region.height
        let p = pad
        let w = region.width
        let pw = w + 2 * p
        let paddedCount = pw * (region.height + 2 * p)
        let samples = Float(9 * dilations.count)
        let centreRepeats = Float(dilations.count)
        var weights = [Float](repeating: 0, count: k * n)
        let planes = UnsafeMutablePointer<Float>.allocate(capacity: 3 * paddedCount)
        // Scratch rows: sum, sum of squares, three inverse spreads, running max, running total.
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 7 * w)
        defer { planes.deallocate(); scratch.deallocate() }
        for c in 0..<3 {
            colours.planes[c].withUnsafeBufferPointer { src in
                padded(src.baseAddress!, planeWidth: colours.width, rect: region, into: planes + c * paddedCount)
            }
        }
        let sum = scratch, sumSq = scratch + w, inv0 = scratch + 2 * w, inv1 = scratch + 3 * w, inv2 = scratch + 4 * w
        let maxA = scratch + 5 * w, total = scratch + 6 * w
        let r = planes, g = planes + paddedCount, b = planes + 2 * paddedCount
        weights.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress!
            for y in 0..<region.height {
                let centre = (y + p) * pw + p
                // Per-channel spread of the neighbourhood.
                for (c, inv) in [inv0, inv1, inv2].enumerated() {
                    let plane = planes + c * paddedCount
                    let ctr = plane + centre
                    for x in 0..<w {
                        let v = ctr[x]
                        sum[x] = centreRepeats * v
                        sumSq[x] = centreRepeats * v * v
                    }
                    for o in offsets {
                        let nb = ctr + (o.dy * pw + o.dx)
                        for x in 0..<w {
                            let v = nb[x]
                            sum[x] += v
                            sumSq[x] += v * v
                        }
                    }
                    for x in 0..<w {
                        let variance = max(0, (sumSq[x] - sum[x] * sum[x] / samples) / (samples - 1))
                        inv[x] = 1 / (3 * (1e-8 + 0.1 * variance.squareRoot()))
                    }
                }
                // Affinities (the mean over channels folded into the inverse spreads), then
                // the softmax over neighbours.
                for x in 0..<w { maxA[x] = -.infinity }
                let rc = r + centre, gc = g + centre, bc = b + centre
                for (j, o) in offsets.enumerated() {
                    let shift = o.dy * pw + o.dx
                    let rn = rc + shift, gn = gc + shift, bn = bc + shift
                    let dst = out + (j * n + y * w)
                    for x in 0..<w {
                        let a = -(abs(rc[x] - rn[x]) * inv0[x] + abs(gc[x] - gn[x]) * inv1[x] + abs(bc[x] - bn[x]) * inv2[x])
                        dst[x] = a
                        maxA[x] = max(maxA[x], a)
                    }
                }
                for x in 0..<w { total[x] = 0 }
                for j in 0..<k {
                    let dst = out + (j * n + y * w)
                    for x in 0..<w {
                        let e = fastExp(dst[x] - maxA[x])
                        dst[x] = e
                        total[x] += e
                    }
                }
                for x in 0..<w { total[x] = 1 / total[x] }
                for j in 0..<k {
                    let dst = out + (j * n + y * w)
                    for x in 0..<w { dst[x] *= total[x] }
                }
            }
        }
        return Weights(region: region, values: weights)
    }

    /// Runs the iterations on `mask`, the pixels of `crop` (inside the weights' region).
    func propagate(_ mask: inout [Float], crop: PixelBox, weights: Weights) {
        let region = weights.region
        let n = region.width * region.height
        let p = pad
        let w = crop.width
        let pw = w + 2 * p
        let paddedMask = UnsafeMutablePointer<Float>.allocate(capacity: pw * (crop.height + 2 * p))
        defer { paddedMask.deallocate() }
        let local = PixelBox(x: 0, y: 0, width: crop.width, height: crop.height)
        weights.values.withUnsafeBufferPointer { wt in
            for _ in 0..<iterations {
                mask.withUnsafeMutableBufferPointer { m in
                    let out = m.baseAddress!
                    padded(out, planeWidth: w, rect: local, into: paddedMask)
                    for y in 0..<crop.height {
                        let row = out + y * w
                        for x in 0..<w { row[x] = 0 }
                        let centre = paddedMask + ((y + p) * pw + p)
                        let weightRow = wt.baseAddress! + ((crop.y - region.y + y) * region.width + crop.x - region.x)
                        // The eight neighbours of one dilation per pass, so that the row is
                        // read and written once per dilation rather than once per neighbour.
                        for (g, d) in dilations.enumerated() {
                            let s0 = centre - d * pw - d, s1 = s0 + d, s2 = s1 + d
                            let s3 = centre - d, s4 = centre + d
                            let s5 = centre + d * pw - d, s6 = s5 + d, s7 = s6 + d
                            let w0 = weightRow + 8 * g * n, w1 = w0 + n, w2 = w1 + n, w3 = w2 + n
                            let w4 = w3 + n, w5 = w4 + n, w6 = w5 + n, w7 = w6 + n
                            for x in 0..<w {
                                let a = w0[x] * s0[x] + w1[x] * s1[x] + w2[x] * s2[x] + w3[x] * s3[x]
                                let b = w4[x] * s4[x] + w5[x] * s5[x] + w6[x] * s6[x] + w7[x] * s7[x]
                                row[x] += a + b
                            }
                        }
                    }
                }
            }
        }
    }
}
