#if canImport(Glibc)
import Glibc
#endif
import SightlineCore

/// An exclusive advisory lock (flock) on a file, held until the object is released, so that
/// two pulls or a pull and a removal of the same model never interleave.
final class DirectoryLock {
    private let fd: Int32

    /// Takes the lock, or throws at once when another holder has it.
    init(path: String, purpose: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SightlineError(.system, "cannot open the lock file \(path): \(String(cString: strerror(errno)))", context: ["file": path])
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            close(fd)
            throw SightlineError(busy ? .invalidArgument : .system, busy ? "another sightline process is \(purpose) right now; try again when it is done" : "cannot lock \(path): \(String(cString: strerror(errno)))", context: ["lock": path])
        }
        self.fd = fd
    }

    /// Takes the lock, trying again for up to `patience` while it is busy: a process forked
    /// by another thread holds a copy of the descriptor (and so the lock) for the moment
    /// until it executes, which must not fail a pull.
    static func acquire(path: String, purpose: String, patience: Duration = .seconds(1)) async throws -> DirectoryLock {
        let deadline = ContinuousClock.now + patience
        while true {
            do {
                return try DirectoryLock(path: path, purpose: purpose)
            } catch let error as SightlineError where error.code == .invalidArgument && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    deinit { close(fd) }
}

enum Durability {
    /// fsync on a directory, so that a rename inside it survives a crash.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// rename(2): atomic, and replaces `to` when it exists (unlike FileManager.moveItem).
    static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            throw SightlineError(.system, "cannot rename \(from) to \(to): \(String(cString: strerror(errno)))", context: ["from": from, "to": to])
        }
    }
}
