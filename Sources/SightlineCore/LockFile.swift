#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on a file, held until the object goes away: one daemon per state
/// directory, one pull or removal per model. The lock belongs to the open file, so the kernel
/// releases it when a holder dies, however it dies; no stale lock outlives a crash.
public final class LockFile: Sendable {
    public let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// Creates the file when missing (with `mode`) and takes its lock without waiting.
    /// Returns nil when another holder has it (another process, or another open of the file);
    /// the caller says who that is likely to be. Throws when the file cannot be opened or locked.
    public static func tryLock(_ path: String, mode: mode_t = 0o600) throws(SightlineError) -> LockFile? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SightlineError.failedCall("cannot open the lock file", path: path) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw SightlineError.failedCall("cannot lock", path: path, code: code)
        }
        return LockFile(path: path, fd: fd)
    }

    deinit { close(fd) }
}
