@testable import SightlineMedia
import Testing

@Suite struct PixelPoolTests {
    @Test func reusesArraysTheConsumerReleased() {
        var pool = PixelPool(capacity: 8)
        for _ in 0..<100 {
            let pixels = pool.take(count: 12)
            pool.keep(pixels)
        }
        #expect(pool.allocations == 1)
    }

    @Test func growsToWhatTheConsumerHoldsThenStops() {
        var pool = PixelPool(capacity: 16)
        var held: [[UInt8]] = []
        for i in 0..<1000 {
            var pixels = pool.take(count: 12)
            pixels[0] = UInt8(i % 256)
            pool.keep(pixels)
            held.append(pixels)
            if held.count > 5 { held.removeFirst() }
        }
        let grown = pool.allocations
        for i in 0..<1000 {
            var pixels = pool.take(count: 12)
            pixels[0] = UInt8(i % 256)
            pool.keep(pixels)
            held.append(pixels)
            if held.count > 5 { held.removeFirst() }
        }
        #expect(pool.allocations == grown)
        #expect(grown <= 2 * 6)
    }

    @Test func framesTheConsumerHoldsAreNeverOverwritten() {
        var pool = PixelPool(capacity: 2)
        var held: [[UInt8]] = []
        for i in 0..<50 {
            var pixels = pool.take(count: 4)
            pixels.withUnsafeMutableBufferPointer { $0.update(repeating: UInt8(i)) }
            pool.keep(pixels)
            held.append(pixels)
        }
        // The pool is capped below what is held: it copies rather than reuse a held array.
        #expect(held.enumerated().allSatisfy { index, pixels in pixels == [UInt8](repeating: UInt8(index), count: 4) })
    }

    @Test func sizeChangeAllocates() {
        var pool = PixelPool(capacity: 4)
        pool.keep(pool.take(count: 12))
        pool.keep(pool.take(count: 12))
        pool.keep(pool.take(count: 30))
        #expect(pool.allocations == 2)
    }
}
