import SightlineCore
import Synchronization

extension SightlineError.Code {
    /// The daemon already serves `socket.max_connections` connections; this one was closed
    /// after this error, in place of the greeting.
    public static let tooManyConnections = Self(rawValue: "too_many_connections")
}

/// How many connections are open, against a limit a reload may change. A connection takes a
/// slot before anything else is done for it (even reading its credentials), so that a peer
/// opening thousands costs the daemon one counter step and one short write for each extra.
final class ConnectionLimit: Sendable {
    private let state: Mutex<(open: Int, limit: Int)>

    init(limit: Int) { state = Mutex((0, limit)) }

    func update(limit: Int) { state.withLock { $0.limit = limit } }

    /// A slot, or the limit in force when there is none.
    func acquire() -> Result<Void, LimitReached> {
        state.withLock { s in
            guard s.open < s.limit else { return .failure(LimitReached(limit: s.limit)) }
            s.open += 1
            return .success(())
        }
    }

    func release() { state.withLock { $0.open -= 1 } }

    var open: Int { state.withLock { $0.open } }

    struct LimitReached: Error { var limit: Int }
}
