import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Replacing a file so that a crash at any instant leaves the old contents or the new, never
/// a mix or a truncated file: write a temporary file in the same directory, fsync it, rename
/// it over the target, fsync the directory. The rename is atomic; the first fsync makes the
/// data durable before the name points at it, the second makes the new name durable before
/// the caller reports success. Every call blocks on the disk: run it on a `WorkerThread`.
public enum AtomicFile {
    /// Replaces (or creates) `path` with `bytes`; the file gets `mode`.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(SightlineError) {
        try replace(path, mode: mode) { temporary throws(SightlineError) in
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw SightlineError.failedCall("cannot create", path: temporary) }
            defer { close(fd) }
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SightlineError.failedCall("cannot write", path: temporary)
                }
                written += n
            }
        }
    }

    /// Replaces (or creates) `path` with the file `produce` writes at the temporary path it
    /// is given (a copy, an encoder's output); the file gets `mode` when one is given. The
    /// temporary file is removed when anything fails.
    public static func replace(_ path: String, mode: mode_t? = nil,
                               producing produce: (String) throws(SightlineError) -> Void) throws(SightlineError) {
        let directory = directoryOf(path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SightlineError(.fileNotFound, "cannot write \(path): the directory \(directory) does not exist",
                                 context: ["file": path, "directory": directory])
        }
        let temporary = temporaryPath(for: path)
        var done = false
        defer { if !done { unlink(temporary) } }
        try produce(temporary)
        if let mode, chmod(temporary, mode) != 0 { throw SightlineError.failedCall("cannot chmod", path: temporary) }
        try rename(temporary, to: path)
        done = true
    }

    /// rename(2) made durable: `from` (a regular file or a directory) is fsynced first, then
    /// renamed over `to` (atomically replacing a file or symlink there), then the directory
    /// of `to` is fsynced. A symlink at `from` is renamed as it is (there is nothing to sync).
    public static func rename(_ from: String, to: String) throws(SightlineError) {
        var info = stat()
        guard lstat(from, &info) == 0 else { throw SightlineError.failedCall("cannot rename", path: from) }
        let type = info.st_mode & S_IFMT
        if type == S_IFREG || type == S_IFDIR {
            let fd = open(from, (type == S_IFDIR ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC)
            guard fd >= 0 else { throw SightlineError.failedCall("cannot open", path: from) }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw SightlineError.failedCall("cannot fsync", path: from) }
        }
        guard Glibc.rename(from, to) == 0 else {
            let code = errno
            throw SightlineError(.system, "cannot rename \(from) to \(to): \(String(cString: strerror(code)))",
                                 context: ["from": from, "to": to, "errno": String(code)])
        }
        try syncDirectory(directoryOf(to))
    }

    /// fsync on a directory, so that entries created, renamed or removed in it survive a crash.
    public static func syncDirectory(_ path: String) throws(SightlineError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SightlineError.failedCall("cannot open directory", path: path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SightlineError.failedCall("cannot fsync directory", path: path) }
    }

    /// A fresh name beside `path` for its next version: `<path>.tmp-<pid>-<random>`.
    public static func temporaryPath(for path: String) -> String {
        "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Removes temporary files a crash left beside `path` (they hold nothing that was ever
    /// reported as written). Only for a file no other process replaces at the same time.
    public static func removeLeftovers(of path: String) {
        let directory = directoryOf(path)
        let prefix = (path as NSString).lastPathComponent + ".tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) {
            unlink(directory + "/" + name)
        }
    }

    private static func directoryOf(_ path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? "." : directory
    }
}
