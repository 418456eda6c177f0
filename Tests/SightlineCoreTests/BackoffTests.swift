import SightlineCore
import Testing

@Suite struct BackoffTests {
    @Test func doublesFromOneSecondToThirty() throws {
        var backoff = try Backoff()
        let delays = (0..<8).map { _ in backoff.failure(healthyFor: 0) }
        #expect(delays == [1, 2, 4, 8, 16, 30, 30, 30])
        #expect(backoff.attempt == 8)
    }

    @Test func healthyMinuteResets() throws {
        var backoff = try Backoff()
        for _ in 0..<5 { _ = backoff.failure(healthyFor: 10) }
        #expect(backoff.failure(healthyFor: 59) == 30)
        #expect(backoff.failure(healthyFor: 60) == 1)
        #expect(backoff.failure(healthyFor: 0) == 2)
    }

    @Test func manyFailuresDoNotOverflow() throws {
        var backoff = try Backoff(initial: 0.5, maximum: 7)
        var last = 0.0
        for _ in 0..<1000 { last = backoff.failure(healthyFor: 0) }
        #expect(last == 7)
    }

    @Test(arguments: [(0.0, 30.0, 60.0), (5, 1, 60), (1, 30, -1)])
    func rejectsInconsistentSettings(initial: Double, maximum: Double, resetAfter: Double) {
        #expect(throws: SightlineError.self) { try Backoff(initial: initial, maximum: maximum, resetAfter: resetAfter) }
    }
}
