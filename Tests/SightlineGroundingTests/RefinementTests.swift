import Foundation
import Testing
import SightlineCore
@testable import SightlineGrounding

@Suite struct RefinementTests {
    @Test func bilinearUsesHalfPixelCentres() {
        // align_corners=False: 2 -> 4 samples at source positions -0.25, 0.25, 0.75, 1.25.
        let out = bilinear([0, 1], srcWidth: 2, srcHeight: 1, dstWidth: 4, dstHeight: 1,
                           region: PixelBox(x: 0, y: 0, width: 4, height: 1))
        #expect(out == [0, 0.25, 0.75, 1])
        let part = bilinear([0, 1, 2, 3], srcWidth: 2, srcHeight: 2, dstWidth: 4, dstHeight: 4,
                            region: PixelBox(x: 1, y: 1, width: 2, height: 2))
        // Rows 0.25 and 0.75 between source rows [0, 1] and [2, 3].
        #expect(abs(part[0] - 0.75) < 1e-6 && abs(part[1] - 1.25) < 1e-6 && abs(part[2] - 1.75) < 1e-6 && abs(part[3] - 2.25) < 1e-6)
    }

    @Test func pamrMatchesThePublishedFormulation() throws {
        struct Golden: Decodable { var width, height, iterations: Int; var dilations: [Int]; var rgb: [UInt8]; var mask, refined: [Float] }
        let g = try JSONDecoder().decode(Golden.self, from: Fixtures.data("pamr/pamr-golden.json"))
        let image = try RGBImage(width: g.width, height: g.height, pixels: g.rgb)
        var mask = g.mask
        PAMR(iterations: g.iterations, dilations: g.dilations)
            .refine(&mask, region: PixelBox(x: 0, y: 0, width: g.width, height: g.height),
                    colours: ColourPlanes(image, width: g.width, height: g.height))
        let worst = zip(mask, g.refined).map { abs($0 - $1) }.max() ?? 1
        #expect(worst < 2e-3, "largest difference to PyTorch: \(worst)")
        // And it did change the mask, so the comparison means something.
        #expect((zip(g.mask, g.refined).map { abs($0 - $1) }.max() ?? 0) > 0.05)
    }

    @Test func pamrKeepsMasksInsideColourRegions() throws {
        // Left half black, right half white; a ramp mask across both.
        let w = 32, h = 8
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 16..<w { for c in 0..<3 { px[(y * w + x) * 3 + c] = 255 } } }
        let image = try RGBImage(width: w, height: h, pixels: px)
        var mask = (0..<(w * h)).map { Float(1 - Double($0 % w) / Double(w - 1)) }
        let before = mask
        PAMR(iterations: 10, dilations: [1, 2, 4]).refine(&mask, region: PixelBox(x: 0, y: 0, width: w, height: h),
                                                           colours: ColourPlanes(image, width: w, height: h))
        func spread(_ m: [Float], _ xs: Range<Int>) -> Float {
            let v = (0..<h).flatMap { y in xs.map { m[y * w + $0] } }
            return v.max()! - v.min()!
        }
        #expect(spread(mask, 0..<16) < spread(before, 0..<16) / 2)
        // The step at the colour edge grows: no averaging across it.
        #expect(mask[15] - mask[16] > 2 * (before[15] - before[16]))
        #expect(mask.allSatisfy { $0 >= before.min()! - 1e-4 && $0 <= before.max()! + 1e-4 })
    }

    @Test func componentsAreFourConnected() {
        // 1 1 0 1
        // 0 1 0 1
        // 1 0 0 0      the diagonal neighbour at (0,2) is its own component
        let fg: [Bool] = [1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0].map { $0 == 1 }
        let cc = ConnectedComponents(values: fg.map { $0 ? 1 : 0 }, width: 4, height: 3, threshold: 0.5)
        #expect(cc.count == 3)
        #expect(cc.labels == [1, 1, 0, 2, 0, 1, 0, 2, 3, 0, 0, 0])
    }

    @Test func componentsMergeUShapes() {
        // A U shape is labelled twice in the first pass and must come out as one.
        let fg: [Bool] = [1, 0, 1, 1, 0, 1, 1, 1, 1].map { $0 == 1 }
        let cc = ConnectedComponents(values: fg.map { $0 ? 1 : 0 }, width: 3, height: 3, threshold: 0.5)
        #expect(cc.count == 1)
    }

    /// A grey frame with a red square, and a patch grid that is confident on the square's patches.
    static func squareScene(gridValue: Float = 0.9) throws -> (RGBImage, ProbabilityMap, square: BinaryMask) {
        let w = 96, h = 64, patch = 8
        var px = [UInt8](repeating: 128, count: w * h * 3)
        var square = try BinaryMask(width: w, height: h)
        for y in 20..<44 { for x in 36..<62 {
            px[(y * w + x) * 3] = 230; px[(y * w + x) * 3 + 1] = 20; px[(y * w + x) * 3 + 2] = 20
            square[x, y] = true
        } }
        let gw = w / patch, gh = h / patch
        var values = [Float](repeating: 0.05, count: gw * gh)
        for gy in 0..<gh { for gx in 0..<gw {
            // Patches mostly covered by the square.
            let cx = gx * patch + patch / 2, cy = gy * patch + patch / 2
            if cx >= 36 && cx < 62 && cy >= 20 && cy < 44 { values[gy * gw + gx] = gridValue }
        } }
        return (try RGBImage(width: w, height: h, pixels: px), try ProbabilityMap(width: gw, height: gh, values: values), square)
    }

    @Test func extractsOneInstanceAlignedWithTheObject() throws {
        let (frame, map, square) = try Self.squareScene()
        var p = MaskParameters()
        p.refineMaxSide = 96
        let refined = try MaskExtractor(parameters: p).instances(maps: [map], frame: frame)[0]
        p.refine = false
        let plain = try MaskExtractor(parameters: p).instances(maps: [map], frame: frame)[0]
        #expect(refined.count == 1 && plain.count == 1)
        let r = try #require(refined.first), q = try #require(plain.first)
        let jRefined = try Metrics.regionSimilarity(r.mask.binary(), square)
        let jPlain = try Metrics.regionSimilarity(q.mask.binary(), square)
        #expect(jRefined > 0.85, "J refined \(jRefined)")
        #expect(jRefined >= jPlain, "refinement should not hurt: \(jRefined) vs \(jPlain)")
        #expect(square[r.point.x, r.point.y])
        #expect(r.score > 0.5 && r.score <= 0.9 + 1e-4)
        #expect(r.box == r.mask.binary().boundingBox)
        #expect(r.area == r.mask.binary().area)
    }

    @Test func mapsBelowThresholdYieldNothing() throws {
        let (frame, map, _) = try Self.squareScene(gridValue: 0.49)
        #expect(try MaskExtractor().instances(maps: [map], frame: frame) == [[]])
    }

    @Test func croppedWorkEqualsWholeFrameWork() throws {
        // Without refinement, working on the active box must give what upsampling the whole
        // map and thresholding everywhere gives.
        var rng = SeededRandom(seed: 3)
        let frame = RGBImage(width: 80, height: 50)
        for _ in 0..<20 {
            var values = [Float](repeating: 0.1, count: 10 * 5)
            for _ in 0..<3 { values[Int(rng.next() % 50)] = 0.5 + rng.nextUnitFloat() * 0.5 }
            let map = try ProbabilityMap(width: 10, height: 5, values: values)
            var p = MaskParameters()
            p.refine = false
            p.minAreaFraction = 0
            p.maxInstances = 50
            p.refineMaxSide = 80
            let got = try MaskExtractor(parameters: p).instances(maps: [map], frame: frame)[0]
            let full = bilinear(values, srcWidth: 10, srcHeight: 5, dstWidth: 80, dstHeight: 50, region: PixelBox(x: 0, y: 0, width: 80, height: 50))
            let expected = try BinaryMask(width: 80, height: 50, values: full.map { $0 >= 0.5 ? 1 : 0 })
            var union = try BinaryMask(width: 80, height: 50)
            for inst in got { for y in 0..<50 { for x in 0..<80 where inst.mask[x, y] { union[x, y] = true } } }
            #expect(union == expected)
        }
    }

    @Test func keepsLargestInstancesAndDropsSpecks() throws {
        let frame = RGBImage(width: 64, height: 64)
        var values = [Float](repeating: 0, count: 64)
        // A 2x2-patch blob, a 1-patch blob, far apart.
        for (x, y) in [(1, 1), (2, 1), (1, 2), (2, 2)] { values[y * 8 + x] = 0.9 }
        values[6 * 8 + 6] = 0.95
        let map = try ProbabilityMap(width: 8, height: 8, values: values)
        var p = MaskParameters()
        p.refine = false
        p.minAreaFraction = 0
        let both = try MaskExtractor(parameters: p).instances(maps: [map], frame: frame)[0]
        #expect(both.count == 2)
        #expect(both[0].area > both[1].area)
        p.maxInstances = 1
        #expect(try MaskExtractor(parameters: p).instances(maps: [map], frame: frame)[0].count == 1)
        p.maxInstances = 3
        p.minAreaFraction = Double(both[1].area + 1) / Double(64 * 64)
        let big = try MaskExtractor(parameters: p).instances(maps: [map], frame: frame)[0]
        #expect(big.count == 1 && big[0].area == both[0].area)
    }

    @Test func regionMaskEncodesAsTheFullMask() throws {
        var rng = SeededRandom(seed: 11)
        for _ in 0..<50 {
            let w = Int(rng.next() % 30) + 1, h = Int(rng.next() % 30) + 1
            let values = (0..<(w * h)).map { _ in rng.next() % 3 == 0 ? UInt8(1) : 0 }
            let mask = try BinaryMask(width: w, height: h, values: values)
            let region = RegionMask(mask)
            #expect(region.rle() == RLEMask(mask))
            #expect(region.binary() == mask)
            #expect(region.area == mask.area)
        }
    }

    @Test func rejectsBadParametersAndGrids() throws {
        var p = MaskParameters()
        p.threshold = 1.5
        #expect(throws: SightlineError.self) { try MaskExtractor(parameters: p) }
        p = MaskParameters()
        p.refineDilations = [0]
        #expect(throws: SightlineError.self) { try MaskExtractor(parameters: p) }
        p = MaskParameters()
        p.maxInstances = 0
        #expect(throws: SightlineError.self) { try MaskExtractor(parameters: p) }
        let a = try ProbabilityMap(width: 2, height: 2, values: [0, 0, 0, 0])
        let b = try ProbabilityMap(width: 1, height: 1, values: [0])
        #expect(throws: SightlineError.self) { try MaskExtractor().instances(maps: [a, b], frame: RGBImage(width: 4, height: 4)) }
    }
}
