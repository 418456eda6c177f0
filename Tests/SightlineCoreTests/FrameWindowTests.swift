import Foundation
import SightlineCore
import Testing

@Suite struct FrameWindowTests {
    static func frame(_ seq: UInt64, width: Int = 2, height: Int = 2) -> Frame {
        Frame(stream: "cam", seq: seq, pts: Double(seq) / 2, captureTime: Date(), image: RGBImage(width: width, height: height))
    }

    /// Feeds frames 0..<count and returns the sequence numbers of each window handed out.
    static func windows(size: Int, stride: Int, count: UInt64) throws -> [[UInt64]] {
        var window = try FrameWindow(size: size, stride: stride)
        return (0..<count).compactMap { window.append(frame($0))?.map(\.seq) }
    }

    @Test func firstWindowWhenFullThenEveryStride() throws {
        #expect(try Self.windows(size: 3, stride: 2, count: 8) == [[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    }

    @Test func strideOfOneSlidesByOne() throws {
        #expect(try Self.windows(size: 2, stride: 1, count: 4) == [[0, 1], [1, 2], [2, 3]])
    }

    @Test func strideLargerThanSizeSkipsFrames() throws {
        #expect(try Self.windows(size: 2, stride: 5, count: 13) == [[0, 1], [5, 6], [10, 11]])
    }

    @Test func strideEqualToSizeTilesTheStream() throws {
        #expect(try Self.windows(size: 4, stride: 4, count: 12) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
    }

    @Test(arguments: [(0, 1), (1, 0), (-3, 2)])
    func rejectsNonPositiveSizeOrStride(size: Int, stride: Int) {
        #expect(throws: SightlineError.self) { try FrameWindow(size: size, stride: stride) }
    }

    @Test func holdsNoMoreThanItsSize() throws {
        var window = try FrameWindow(size: 5, stride: 3)
        for seq in 0..<10_000 as Range<UInt64> { _ = window.append(Self.frame(seq)) }
        #expect(window.count == 5)
        #expect(window.frames.map(\.seq) == [9995, 9996, 9997, 9998, 9999])
    }

    @Test func resolutionChangeStartsANewWindow() throws {
        var window = try FrameWindow(size: 3, stride: 1)
        #expect(window.append(Self.frame(0)) == nil)
        #expect(window.append(Self.frame(1)) == nil)
        #expect(window.append(Self.frame(2, width: 4)) == nil)
        #expect(window.count == 1)
        #expect(window.append(Self.frame(3, width: 4)) == nil)
        #expect(window.append(Self.frame(4, width: 4))?.map(\.seq) == [2, 3, 4])
    }

    @Test func resetForgetsFramesAndWaitsForAFullWindow() throws {
        var window = try FrameWindow(size: 2, stride: 1)
        _ = window.append(Self.frame(0))
        #expect(window.append(Self.frame(1)) != nil)
        window.reset()
        #expect(window.count == 0)
        #expect(window.append(Self.frame(2)) == nil)
        #expect(window.append(Self.frame(3))?.map(\.seq) == [2, 3])
    }
}

extension [Frame]? {
    static func == (lhs: Self, rhs: [UInt64]?) -> Bool { lhs?.map(\.seq) == rhs }
}
