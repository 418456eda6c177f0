import Foundation

/// A lock that is handed out in the order it was asked for (a ticket lock), guarding `Value`.
///
/// The engine's lock is one: the live-stream scheduler asks for it again as soon as it lets
/// go, and an ordinary mutex lets the thread that just unlocked take it back before a woken
/// waiter runs, so a `ground` request could wait behind every live batch (or starve them).
/// Here a waiter that arrived first is served first, whoever calls next. Holders block: use
/// it from threads of your own (a `WorkerThread`), never from the cooperative pool.
public final class FairLock<Value>: @unchecked Sendable {
    // `value`, `next` and `serving` are guarded by `condition`; `value` is touched by the
    // holder of the current ticket only.
    private let condition = NSCondition()
    private var value: Value
    private var next: UInt64 = 0
    private var serving: UInt64 = 0

    public init(_ value: Value) {
        self.value = value
    }

    /// Waits for this caller's turn, runs `body` with the value, and passes the lock to the
    /// caller that asked next.
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        condition.lock()
        let ticket = next
        next += 1
        while serving != ticket { condition.wait() }
        condition.unlock()
        defer {
            condition.lock()
            serving += 1
            // Every waiter checks its ticket; only the next one proceeds.
            condition.broadcast()
            condition.unlock()
        }
        return try body(&value)
    }

    /// Callers waiting for their turn, the holder not counted (tests and metrics).
    public var waiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return Int(next - serving) - (next > serving ? 1 : 0)
    }
}
