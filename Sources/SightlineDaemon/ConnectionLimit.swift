import SightlineCore
import Synchronization

/// How many connections are open, in all and per peer user, against limits a reload may
/// change. A connection takes a slot in all before anything else is done for it (even reading
/// its credentials), so that a peer opening thousands costs the daemon one counter step and
/// one short write for each extra; then one of its user's slots, so that one user's runaway
/// script cannot take every slot and lock the other users out.
final class ConnectionLimit: Sendable {
    struct Limits: Sendable, Equatable {
        var total: Int
        var perUser: Int
    }

    private struct State {
        var limits: Limits
        var open = 0
        var byUser: [UInt32: Int] = [:]
    }

    private let state: Mutex<State>

    init(_ limits: Limits) { state = Mutex(State(limits: limits)) }

    func update(_ limits: Limits) { state.withLock { $0.limits = limits } }

    /// A slot in all, or the limit in force when there is none.
    func acquire() -> Result<Void, LimitReached> {
        state.withLock { s in
            guard s.open < s.limits.total else { return .failure(LimitReached(limit: s.limits.total, user: nil)) }
            s.open += 1
            return .success(())
        }
    }

    func release() { state.withLock { $0.open -= 1 } }

    /// One of `user`'s slots, taken with a slot in all already held.
    func acquire(user: UInt32) -> Result<Void, LimitReached> {
        state.withLock { s in
            let held = s.byUser[user, default: 0]
            guard held < s.limits.perUser else { return .failure(LimitReached(limit: s.limits.perUser, user: user)) }
            s.byUser[user] = held + 1
            return .success(())
        }
    }

    func release(user: UInt32) {
        state.withLock { s in
            let held = s.byUser[user, default: 1] - 1
            s.byUser[user] = held > 0 ? held : nil
        }
    }

    var open: Int { state.withLock { $0.open } }

    /// `user` is nil when the limit in all was reached.
    struct LimitReached: Error {
        var limit: Int
        var user: UInt32?
    }
}
