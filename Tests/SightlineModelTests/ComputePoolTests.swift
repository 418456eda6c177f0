import Synchronization
import Testing
@testable import SightlineModel

@Suite("Compute pool")
struct ComputePoolTests {
    @Test("every share runs exactly once, also on a pool used right after it starts", .timeLimit(.minutes(1)))
    func sharesRunOnce() {
        for _ in 0..<200 {
            let pool = ComputePool(threads: 3)
            let counts = Mutex([Int](repeating: 0, count: 3))
            for _ in 0..<5 {
                pool.run { share in counts.withLock { $0[share] += 1 } }
            }
            #expect(counts.withLock { $0 } == [5, 5, 5])
        }
    }

    @Test("parts cover the range without overlap", arguments: [0, 1, 7, 197, 1576])
    func parts(count: Int) {
        for shares in 1...5 {
            let ranges = (0..<shares).map { ComputePool.part(count, share: $0, of: shares) }
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == count)
            for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
        }
    }
}
