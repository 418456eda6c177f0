import SightlineCore

/// The scores of video object segmentation and spatio-temporal grounding, as the DAVIS
/// benchmark (Perazzi et al., CVPR 2016; the davis2017-evaluation code) defines them.
public enum Metrics {
    /// J, region similarity: intersection over union; 1 when both masks are empty.
    public static func regionSimilarity(_ prediction: BinaryMask, _ truth: BinaryMask) throws -> Double {
        try checkSameSize(prediction, truth)
        var inter = 0, union = 0
        for i in prediction.bits.indices {
            let a = prediction.bits[i], b = truth.bits[i]
            inter += Int(a & b)
            union += Int(a | b)
        }
        return union == 0 ? 1 : Double(inter) / Double(union)
    }

    /// F, contour accuracy: the F-measure of boundary precision and recall, a boundary pixel
    /// counting as matched when the other mask's boundary lies within a disk of radius
    /// `ceil(boundThreshold * diagonal)` pixels (`boundThreshold >= 1` is a radius in pixels).
    /// Both boundaries empty: 1; exactly one empty: 0.
    public static func boundaryF(_ prediction: BinaryMask, _ truth: BinaryMask, boundThreshold: Double = 0.008) throws -> Double {
        try checkSameSize(prediction, truth)
        let w = prediction.width, h = prediction.height
        let radius = boundThreshold >= 1 ? Int(boundThreshold)
            : Int((boundThreshold * Double(w * w + h * h).squareRoot()).rounded(.up))
        let fg = boundary(prediction), gt = boundary(truth)
        let nFg = fg.reduce(0) { $0 + Int($1) }, nGt = gt.reduce(0) { $0 + Int($1) }
        let precision: Double, recall: Double
        switch (nFg, nGt) {
        case (0, 0): return 1
        case (0, _): precision = 1; recall = 0
        case (_, 0): precision = 0; recall = 1
        default:
            let fgDilated = dilate(fg, width: w, height: h, radius: radius)
            let gtDilated = dilate(gt, width: w, height: h, radius: radius)
            var fgMatch = 0, gtMatch = 0
            for i in fg.indices {
                fgMatch += Int(fg[i] & gtDilated[i])
                gtMatch += Int(gt[i] & fgDilated[i])
            }
            precision = Double(fgMatch) / Double(nFg)
            recall = Double(gtMatch) / Double(nGt)
        }
        return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
    }

    /// Temporal IoU of two frame sets (a frame is in a set when its flag is true); 1 when
    /// both are empty.
    public static func temporalIoU(predicted: [Bool], truth: [Bool]) throws -> Double {
        guard predicted.count == truth.count else {
            throw SightlineError(.invalidArgument, "temporal IoU needs one flag per frame on both sides",
                                 context: ["predicted": "\(predicted.count)", "truth": "\(truth.count)"])
        }
        var inter = 0, union = 0
        for (p, t) in zip(predicted, truth) {
            if p && t { inter += 1 }
            if p || t { union += 1 }
        }
        return union == 0 ? 1 : Double(inter) / Double(union)
    }

    /// The boundary map of the davis2017-evaluation code (`_seg2bmap`): a pixel is on the
    /// boundary when it differs from its right, lower or lower-right neighbour; on the last
    /// row only the right neighbour counts, on the last column only the lower one, and the
    /// bottom-right pixel is never on it.
    static func boundary(_ mask: BinaryMask) -> [UInt8] {
        let w = mask.width, h = mask.height
        let s = mask.bits
        var b = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                let v = s[i]
                let e: UInt8 = x + 1 < w ? s[i + 1] : 0
                let so: UInt8 = y + 1 < h ? s[i + w] : 0
                let se: UInt8 = x + 1 < w && y + 1 < h ? s[i + w + 1] : 0
                if y == h - 1 && x == w - 1 {
                    b[i] = 0
                } else if y == h - 1 {
                    b[i] = v ^ e
                } else if x == w - 1 {
                    b[i] = v ^ so
                } else {
                    b[i] = (v ^ e) | (v ^ so) | (v ^ se)
                }
            }
        }
        return b
    }

    /// Dilation by a disk of `radius` (the points with `dx² + dy² <= radius²`, as
    /// `skimage.morphology.disk`), ignoring what lies outside the image.
    static func dilate(_ map: [UInt8], width w: Int, height h: Int, radius r: Int) -> [UInt8] {
        var spans: [(dy: Int, half: Int)] = []
        for dy in -r...r {
            let half = Int(Double(r * r - dy * dy).squareRoot().rounded(.down))
            spans.append((dy, half))
        }
        var out = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w where map[y * w + x] != 0 {
                for s in spans {
                    let yy = y + s.dy
                    guard yy >= 0, yy < h else { continue }
                    let x0 = max(0, x - s.half), x1 = min(w - 1, x + s.half)
                    for xx in x0...x1 { out[yy * w + xx] = 1 }
                }
            }
        }
        return out
    }

    private static func checkSameSize(_ a: BinaryMask, _ b: BinaryMask) throws {
        guard a.width == b.width, a.height == b.height else {
            throw SightlineError(.invalidArgument, "masks of different sizes cannot be compared",
                                 context: ["prediction": "\(a.width)x\(a.height)", "truth": "\(b.width)x\(b.height)"])
        }
    }
}
