import SightlineCore
import SightlineGrounding
import Testing

/// The change detector on made pictures, where what moved is known exactly. The same checks
/// on real camera footage are in SightlinePipelineTests.
@Suite struct MotionDetectorTests {
    /// A textured scene (so that a shift of the picture would show), with per-pixel noise of
    /// at most `noise` levels, a `square` of 40x40 bright pixels at its top-left corner when
    /// given, and every value times `gain` plus `offset`.
    static func scene(width: Int = 640, height: Int = 360, seed: UInt64, noise: Int = 3, square: (x: Int, y: Int)? = nil,
                      gain: Double = 1, offset: Int = 0) throws -> RGBImage {
        var state = seed
        func random(_ range: ClosedRange<Int>) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return range.lowerBound + Int((state >> 33) % UInt64(range.count))
        }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                var value = 60 + ((x / 23 + y / 17) % 5) * 25
                if let square, (square.x..<square.x + 40).contains(x), (square.y..<square.y + 40).contains(y) { value = 250 }
                value = Int(Double(value) * gain) + offset + (noise > 0 ? random(-noise...noise) : 0)
                for c in 0..<3 { pixels[(y * width + x) * 3 + c] = UInt8(clamping: value) }
            }
        }
        return try RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test func aStillSceneWithNoiseIsNoMotionAfterItsFirstFrame() throws {
        var detector = MotionDetector()
        #expect(detector.update(try Self.scene(seed: 1)).globalChange)
        for seed in 2..<12 {
            let result = detector.update(try Self.scene(seed: UInt64(seed), noise: 6))
            #expect(!result.changed && result.fraction == 0, "\(result)")
        }
    }

    @Test func aMovingSquareIsBoxedWhereItIs() throws {
        var detector = MotionDetector()
        _ = detector.update(try Self.scene(seed: 1))
        for (step, x) in [100, 160, 220, 280].enumerated() {
            let result = detector.update(try Self.scene(seed: UInt64(10 + step), square: (x, 200)))
            #expect(!result.globalChange)
            // The square now (and, from the second step, where it was) is boxed; nothing else.
            let box = try #require(result.boxes.first { $0.x <= x && $0.x + $0.width >= x + 40 && $0.y <= 200 && $0.y + $0.height >= 240 },
                                   "step \(step): \(result.boxes)")
            #expect(box.width <= 40 + 60 + 32 && box.height <= 40 + 32, "\(box)")
            #expect(result.fraction > 0 && result.fraction < 0.05, "\(result.fraction)")
            #expect(result.boxes.count <= 2, "\(result.boxes)")
        }
    }

    /// A camera's gain step is one global change, after which the scene is still again; a
    /// slow brightness drift is never motion.
    @Test func exposureStepsRefreshOnceAndDriftIsIgnored() throws {
        var detector = MotionDetector()
        _ = detector.update(try Self.scene(seed: 1))
        for (i, offset) in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].enumerated() {
            let result = detector.update(try Self.scene(seed: UInt64(2 + i), offset: offset))
            #expect(!result.changed, "offset \(offset): \(result)")
        }
        let step = detector.update(try Self.scene(seed: 20, gain: 1.6, offset: 10))
        #expect(step.globalChange)
        for seed in 21..<26 {
            let after = detector.update(try Self.scene(seed: UInt64(seed), gain: 1.6, offset: 10))
            #expect(!after.changed, "\(after)")
        }
    }

    /// Noise over the whole picture (rain, snow on the lens, a failing sensor) is change at
    /// every frame: such a camera runs at full rate rather than having its motion hidden.
    @Test func noiseEverywhereChangesEveryFrame() throws {
        var detector = MotionDetector()
        _ = detector.update(try Self.scene(seed: 1, noise: 120))
        for seed in 2..<8 {
            let result = detector.update(try Self.scene(seed: UInt64(seed), noise: 120))
            #expect(result.changed && result.fraction > 0.3, "\(result.fraction) \(result.globalChange)")
        }
    }

    /// A source that comes back at another resolution starts over instead of comparing
    /// pictures of different sizes.
    @Test func aFrameOfAnotherSizeStartsOver() throws {
        var detector = MotionDetector()
        _ = detector.update(try Self.scene(seed: 1))
        #expect(!detector.update(try Self.scene(seed: 2)).changed)
        #expect(detector.update(try Self.scene(width: 320, height: 180, seed: 3)).globalChange)
        #expect(!detector.update(try Self.scene(width: 320, height: 180, seed: 4)).changed)
        // Tiny and odd sizes: one thumbnail pixel per frame pixel, partial cells at the edges.
        #expect(detector.update(try Self.scene(width: 7, height: 5, seed: 5)).globalChange)
        #expect(!detector.update(try Self.scene(width: 7, height: 5, seed: 6, noise: 0)).changed)
    }
}
