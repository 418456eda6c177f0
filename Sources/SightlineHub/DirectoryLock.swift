import SightlineCore

/// The lock on one model's folder in a store, held until the object is released, so that
/// two pulls or a pull and a removal of the same model never interleave.
final class DirectoryLock {
    private let lock: LockFile

    /// Takes the lock, or throws at once when another holder has it.
    init(path: String, purpose: String) throws {
        guard let lock = try LockFile.tryLock(path, mode: 0o644) else {
            throw SightlineError(.invalidArgument, "another sightline process is \(purpose) right now; try again when it is done", context: ["lock": path])
        }
        self.lock = lock
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
}
