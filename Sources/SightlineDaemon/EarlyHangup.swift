import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP's default action ends the process, and the daemon's signal service only takes it
/// over once every part is built, after the model has loaded (seconds for a real checkpoint).
/// `sightlined` calls `catchUntilServing()` first thing, so that a SIGHUP in between (a
/// reload sent while the daemon starts) is remembered instead of killing it; the signal
/// service carries the reload out once the socket serves.
public enum EarlyHangup {
    private static let received = Atomic<Bool>(false)

    public static func catchUntilServing() {
        // Only an atomic store: a signal handler may do nothing that could take a lock.
        signal(SIGHUP) { _ in EarlyHangup.received.store(true, ordering: .relaxed) }
    }

    /// Whether a SIGHUP came before the signal service took over; clears it.
    static func take() -> Bool {
        received.exchange(false, ordering: .relaxed)
    }
}
