import Testing
import SightlineCore
@testable import SightlineGrounding

@Suite struct MetricsTests {
    /// A 5x5 mask with the given (x, y) pixels set.
    static func mask(_ pixels: [(Int, Int)], size: Int = 5) throws -> BinaryMask {
        var m = try BinaryMask(width: size, height: size)
        for (x, y) in pixels { m[x, y] = true }
        return m
    }

    static let square = [(1, 1), (2, 1), (1, 2), (2, 2)]
    static let squareRight = [(2, 1), (3, 1), (2, 2), (3, 2)]

    @Test func regionSimilarityByHand() throws {
        // Two 2x2 squares overlapping in one column: 2 shared of 6 pixels.
        #expect(try Metrics.regionSimilarity(Self.mask(Self.square), Self.mask(Self.squareRight)) == 2.0 / 6.0)
        #expect(try Metrics.regionSimilarity(Self.mask(Self.square), Self.mask(Self.square)) == 1)
        #expect(try Metrics.regionSimilarity(Self.mask([]), Self.mask(Self.square)) == 0)
        // DAVIS: both empty counts as a perfect frame.
        #expect(try Metrics.regionSimilarity(Self.mask([]), Self.mask([])) == 1)
    }

    @Test func boundaryMapAsDavis() throws {
        // The 2x2 square's boundary: pixels differing from a right, lower or lower-right neighbour.
        let b = Metrics.boundary(try Self.mask(Self.square))
        let on = Set(b.indices.filter { b[$0] == 1 }.map { [$0 % 5, $0 / 5] })
        #expect(on == Set([[0, 0], [1, 0], [2, 0], [0, 1], [2, 1], [0, 2], [1, 2], [2, 2]]))
    }

    @Test func boundaryFByHand() throws {
        let gt = try Self.mask(Self.square), shifted = try Self.mask(Self.squareRight)
        // Radius 0: the two 8-pixel boundaries share 4 pixels: P = R = 1/2.
        #expect(abs(try Metrics.boundaryF(shifted, gt, boundThreshold: 0) - 0.5) < 1e-12)
        // Radius 1 (a plus): every boundary pixel has the other boundary next to it.
        #expect(try Metrics.boundaryF(shifted, gt, boundThreshold: 1) == 1)
        // Default 0.008 of the diagonal of 5x5 (7.07) rounds up to 1 pixel.
        #expect(try Metrics.boundaryF(shifted, gt) == 1)
        // One pixel at (1, 1): boundary {(0,0), (1,0), (0,1), (1,1)}, 3 of them on the
        // square's: P = 3/4, R = 3/8, F = 2PR / (P + R) = 1/2.
        #expect(abs(try Metrics.boundaryF(Self.mask([(1, 1)]), gt, boundThreshold: 0) - 0.5) < 1e-12)
    }

    @Test func boundaryFOnEmptyMasks() throws {
        #expect(try Metrics.boundaryF(Self.mask([]), Self.mask([])) == 1)
        #expect(try Metrics.boundaryF(Self.mask([]), Self.mask(Self.square)) == 0)
        #expect(try Metrics.boundaryF(Self.mask(Self.square), Self.mask([])) == 0)
    }

    @Test func diskIsTheSkimageDisk() {
        // disk(2): 13 points with dx² + dy² <= 4.
        var map = [UInt8](repeating: 0, count: 25)
        map[12] = 1
        let d = Metrics.dilate(map, width: 5, height: 5, radius: 2)
        #expect(d.reduce(0) { $0 + Int($1) } == 13)
        #expect(d[0] == 0 && d[2] == 1 && d[6] == 1)
    }

    @Test func temporalIoUByHand() throws {
        #expect(try Metrics.temporalIoU(predicted: [true, true, false, false], truth: [false, true, true, false]) == 1.0 / 3.0)
        #expect(try Metrics.temporalIoU(predicted: [false, false], truth: [false, false]) == 1)
        #expect(throws: SightlineError.self) { try Metrics.temporalIoU(predicted: [true], truth: []) }
    }

    @Test func masksOfDifferentSizesAreAnError() throws {
        let a = try BinaryMask(width: 4, height: 4), b = try BinaryMask(width: 5, height: 4)
        #expect(throws: SightlineError.self) { try Metrics.regionSimilarity(a, b) }
        #expect(throws: SightlineError.self) { try Metrics.boundaryF(a, b) }
    }
}
