import Dispatch
import SightlineCore
import Synchronization

/// Turns a frame's per-query probability maps (on the encoder's patch grid) into instances
/// at frame resolution: bilinear upsampling, PAMR guided by the frame's colours, threshold,
/// connected components.
///
/// Work is spent only where a query can hold: a map whose every patch is below the
/// threshold yields nothing at once (upsampling and PAMR average values, so they never
/// exceed the map's maximum), and the rest is done only on the box of patches at or above
/// the threshold, grown by `refineMargin` patches. Outside that box the upsampled values are
/// below the threshold, so the box loses no mask pixel before refinement.
public struct MaskExtractor: Sendable {
    public let parameters: MaskParameters

    public init(parameters: MaskParameters = MaskParameters()) throws {
        try parameters.validate()
        self.parameters = parameters
    }

    /// Instances for each map, in the order of `maps`. `thresholds[i]`, when given, takes the
    /// place of `parameters.threshold` for `maps[i]` (queries with thresholds of their own).
    public func instances(maps: [ProbabilityMap], frame: RGBImage, thresholds: [Float]? = nil) throws -> [[GroundedInstance]] {
        guard let first = maps.first else { return [] }
        guard maps.allSatisfy({ $0.width == first.width && $0.height == first.height }) else {
            throw SightlineError(.invalidArgument, "probability maps of one frame must share one grid")
        }
        if let thresholds {
            guard thresholds.count == maps.count else {
                throw SightlineError(.invalidArgument, "\(thresholds.count) thresholds for \(maps.count) probability maps")
            }
            guard thresholds.allSatisfy({ $0 > 0 && $0 < 1 }) else {
                throw SightlineError(.invalidArgument, "mask thresholds must be between 0 and 1", context: ["thresholds": "\(thresholds)"])
            }
        }
        let perMap = thresholds ?? Array(repeating: parameters.threshold, count: maps.count)
        let threshold = { @Sendable (q: Int) -> Float in perMap[q] }
        let fw = frame.width, fh = frame.height
        let scale = min(1, Double(parameters.refineMaxSide) / Double(max(fw, fh)))
        let ww = max(1, Int((Double(fw) * scale).rounded())), wh = max(1, Int((Double(fh) * scale).rounded()))
        // The working-resolution regions of the active queries; PAMR weights are computed
        // once per frame on the box around all of them.
        let regions: [PixelBox?] = maps.indices.map { q in
            let map = maps[q]
            return activeCells(map, threshold: threshold(q)).map { cells in
                let wx0 = cells.x * ww / map.width, wx1 = min(ww, ((cells.x + cells.width) * ww + map.width - 1) / map.width)
                let wy0 = cells.y * wh / map.height, wy1 = min(wh, ((cells.y + cells.height) * wh + map.height - 1) / map.height)
                return PixelBox(x: wx0, y: wy0, width: max(1, wx1 - wx0), height: max(1, wy1 - wy0))
            }
        }
        let pamr = PAMR(iterations: parameters.refineIterations, dilations: parameters.refineDilations)
        let union = regions.compactMap { $0 }.reduce(nil) { (u: PixelBox?, r: PixelBox) in u.map { $0.union(r) } ?? r }
        let weights: PAMR.Weights? = if let union, parameters.refine, parameters.refineIterations > 0, !parameters.refineDilations.isEmpty {
            pamr.affinity(region: union, colours: ColourPlanes(frame, width: ww, height: wh))
        } else {
            nil
        }
        // Queries are independent from here on: they share the cores.
        let active = regions.indices.filter { regions[$0] != nil }
        let results = Mutex([[GroundedInstance]](repeating: [], count: maps.count))
        let work: @Sendable (Int) -> Void = { k in
            let q = active[k]
            let found = self.instances(map: maps[q], threshold: threshold(q), region: regions[q]!, pamr: pamr, weights: weights,
                                       working: (ww, wh), frame: (fw, fh))
            results.withLock { $0[q] = found }
        }
        if active.count > 1 {
            DispatchQueue.concurrentPerform(iterations: active.count, execute: work)
        } else {
            active.indices.forEach(work)
        }
        return results.withLock { $0 }
    }

    private func instances(map: ProbabilityMap, threshold: Float, region: PixelBox, pamr: PAMR, weights: PAMR.Weights?,
                           working: (width: Int, height: Int), frame: (width: Int, height: Int)) -> [GroundedInstance] {
        let (ww, wh) = working, (fw, fh) = frame
        var refined = bilinear(map.values, srcWidth: map.width, srcHeight: map.height, dstWidth: ww, dstHeight: wh, region: region)
        if let weights { pamr.propagate(&refined, crop: region, weights: weights) }
        // The frame pixels whose centres fall in the region.
        let fx0 = Int((Double(region.x) * Double(fw) / Double(ww)).rounded(.down))
        let fx1 = min(fw, Int((Double(region.x + region.width) * Double(fw) / Double(ww)).rounded(.up)))
        let fy0 = Int((Double(region.y) * Double(fh) / Double(wh)).rounded(.down))
        let fy1 = min(fh, Int((Double(region.y + region.height) * Double(fh) / Double(wh)).rounded(.up)))
        let frameRegion = PixelBox(x: fx0, y: fy0, width: fx1 - fx0, height: fy1 - fy0)
        let probabilities = resampleRegion(refined, region: region, workingWidth: ww, workingHeight: wh,
                                           frameWidth: fw, frameHeight: fh, frameRegion: frameRegion)
        return components(probabilities, threshold: threshold, frameRegion: frameRegion, frameWidth: fw, frameHeight: fh)
    }

    /// The box of grid cells at or above the threshold, grown by the margin; nil when none is.
    func activeCells(_ map: ProbabilityMap, threshold: Float? = nil) -> PixelBox? {
        var x0 = map.width, y0 = map.height, x1 = -1, y1 = -1
        let t = threshold ?? parameters.threshold
        for y in 0..<map.height {
            for x in 0..<map.width where map.values[y * map.width + x] >= t {
                x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
            }
        }
        guard x1 >= 0 else { return nil }
        let m = parameters.refineMargin
        x0 = max(0, x0 - m); y0 = max(0, y0 - m)
        x1 = min(map.width - 1, x1 + m); y1 = min(map.height - 1, y1 + m)
        return PixelBox(x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1)
    }

    private func resampleRegion(_ refined: [Float], region: PixelBox, workingWidth ww: Int, workingHeight wh: Int,
                                frameWidth fw: Int, frameHeight fh: Int, frameRegion: PixelBox) -> [Float] {
        guard frameRegion.width > 0, frameRegion.height > 0 else { return [] }
        // Bilinear taps in working coordinates, clamped into the region, then made local.
        var xs = BilinearAxis(srcSize: ww, dstSize: fw, range: frameRegion.x..<(frameRegion.x + frameRegion.width),
                              clamp: region.x..<(region.x + region.width))
        var ys = BilinearAxis(srcSize: wh, dstSize: fh, range: frameRegion.y..<(frameRegion.y + frameRegion.height),
                              clamp: region.y..<(region.y + region.height))
        for i in xs.lower.indices { xs.lower[i] -= region.x; xs.upper[i] -= region.x }
        for i in ys.lower.indices { ys.lower[i] -= region.y; ys.upper[i] -= region.y }
        var out = [Float](repeating: 0, count: frameRegion.width * frameRegion.height)
        let rw = region.width
        refined.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                for j in 0..<frameRegion.height {
                    let r0 = ys.lower[j] * rw, r1 = ys.upper[j] * rw, wy = ys.weight[j]
                    let row = j * frameRegion.width
                    for i in 0..<frameRegion.width {
                        let a = s[r0 + xs.lower[i]] + (s[r0 + xs.upper[i]] - s[r0 + xs.lower[i]]) * xs.weight[i]
                        let b = s[r1 + xs.lower[i]] + (s[r1 + xs.upper[i]] - s[r1 + xs.lower[i]]) * xs.weight[i]
                        o[row + i] = a + (b - a) * wy
                    }
                }
            }
        }
        return out
    }

    private func components(_ probabilities: [Float], threshold: Float, frameRegion: PixelBox, frameWidth: Int, frameHeight: Int) -> [GroundedInstance] {
        let w = frameRegion.width, h = frameRegion.height
        guard w > 0, h > 0 else { return [] }
        let cc = ConnectedComponents(values: probabilities, width: w, height: h, threshold: threshold)
        guard cc.count > 0 else { return [] }
        struct Stats { var area = 0; var sum: Double = 0; var best: Float = -1; var bestAt = 0
                       var x0 = Int.max, y0 = Int.max, x1 = -1, y1 = -1; var runs: [Int] = [] }
        var stats = [Stats](repeating: Stats(), count: cc.count + 1)
        probabilities.withUnsafeBufferPointer { p in
            for (index, run) in cc.runs.enumerated() {
                let row = p.baseAddress! + run.y * w
                var sum: Float = 0, best: Float = -1, bestAt = run.x0
                for x in run.x0..<run.x1 {
                    sum += row[x]
                    if row[x] > best { best = row[x]; bestAt = x }
                }
                let l = run.component
                stats[l].area += run.x1 - run.x0
                stats[l].sum += Double(sum)
                if best > stats[l].best { stats[l].best = best; stats[l].bestAt = run.y * w + bestAt }
                stats[l].x0 = min(stats[l].x0, run.x0); stats[l].x1 = max(stats[l].x1, run.x1 - 1)
                stats[l].y0 = min(stats[l].y0, run.y); stats[l].y1 = max(stats[l].y1, run.y)
                stats[l].runs.append(index)
            }
        }
        let minArea = max(1, Int((parameters.minAreaFraction * Double(frameWidth * frameHeight)).rounded(.up)))
        let kept = (1...cc.count).filter { stats[$0].area >= minArea }
            .sorted { stats[$0].sum != stats[$1].sum ? stats[$0].sum > stats[$1].sum : $0 < $1 }
            .prefix(parameters.maxInstances)
        return kept.map { l in
            let s = stats[l]
            let box = PixelBox(x: frameRegion.x + s.x0, y: frameRegion.y + s.y0, width: s.x1 - s.x0 + 1, height: s.y1 - s.y0 + 1)
            var bits = [UInt8](repeating: 0, count: box.area)
            for index in s.runs {
                let run = cc.runs[index]
                let base = (run.y - s.y0) * box.width - s.x0
                for x in run.x0..<run.x1 { bits[base + x] = 1 }
            }
            let mask = RegionMask(frameWidth: frameWidth, frameHeight: frameHeight, box: box, bits: bits, area: s.area)
            let point = PixelPoint(x: frameRegion.x + s.bestAt % w, y: frameRegion.y + s.bestAt / w)
            return GroundedInstance(mask: mask, point: point, score: Float(s.sum / Double(s.area)))
        }
    }
}
