import Foundation
import SightlineCore
import SightlineProtocol

#if canImport(Glibc)
import Glibc
#endif

/// What the daemon keeps across restarts: the streams and the standing queries.
public struct PersistedState: Sendable, Equatable {
    public static let formatVersion = 1

    public var streams: [StreamRecord]
    public var queries: [QueryRecord]

    public init(streams: [StreamRecord] = [], queries: [QueryRecord] = []) {
        self.streams = streams
        self.queries = queries
    }

    public var json: JSONValue {
        ["version": JSONValue(Self.formatVersion), "streams": .array(streams.map(\.json)), "queries": .array(queries.map(\.json))]
    }

    public init(json: JSONValue, file: String) throws(SightlineError) {
        var r = try FieldReader(json, path: file, code: .invalidFile)
        let version = try r.int("version")
        guard version == Self.formatVersion else {
            throw SightlineError(.invalidFile, "\(file): format version \(version.map(String.init) ?? "missing") is not \(Self.formatVersion)")
        }
        func records(_ key: String) throws(SightlineError) -> [JSONValue] {
            guard let value = r.value(key) else { return [] }
            guard let array = value.arrayValue else { throw SightlineError(.invalidFile, "\(file).\(key): expected array, got \(value.typeName)") }
            return array
        }
        var streams: [StreamRecord] = []
        for (i, v) in try records("streams").enumerated() { streams.append(try StreamRecord(json: v, path: "\(file).streams[\(i)]")) }
        var queries: [QueryRecord] = []
        for (i, v) in try records("queries").enumerated() { queries.append(try QueryRecord(json: v, path: "\(file).queries[\(i)]")) }
        try r.finish()
        self.streams = streams
        self.queries = queries
    }
}

/// The state directory: `state.json` written atomically (a temporary file in the same
/// directory, fsync, rename over the old file, fsync the directory), so that a crash at any
/// instant leaves either the old or the new state, never a mix; and `lock`, held with
/// `flock` for the daemon's life so that two daemons never share one directory.
///
/// Every call does blocking file I/O: call it from a dedicated thread, never from the
/// cooperative pool.
public final class StateStore: Sendable {
    public let directory: String
    public var stateFile: String { directory + "/state.json" }
    private let lockDescriptor: Int32

    /// Creates the directory (0700) when missing and takes its lock.
    public init(directory: String) throws(SightlineError) {
        self.directory = directory
        try Self.makeDirectory(directory, mode: 0o700)
        let lockPath = directory + "/lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SightlineError.fromErrno("cannot open the state lock", path: lockPath) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            close(fd)
            if busy {
                throw SightlineError(.unavailable, "another sightlined is using the state directory \(directory)", context: ["file": lockPath])
            }
            throw SightlineError.fromErrno("cannot lock the state directory", path: lockPath)
        }
        lockDescriptor = fd
        removeLeftoverTemporaryFiles()
    }

    deinit {
        close(lockDescriptor)
    }

    /// The stored state; empty when nothing was stored yet. A file that cannot be read is an
    /// error naming it: the daemon refuses to start rather than overwrite what it cannot read.
    public func load() throws(SightlineError) -> PersistedState {
        let path = stateFile
        guard FileManager.default.fileExists(atPath: path) else { return PersistedState() }
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw SightlineError(.fileNotFound, "cannot read \(path): \(error.localizedDescription)", context: ["file": path])
        }
        do {
            return try PersistedState(json: try JSONParser().parse(bytes), file: "state.json")
        } catch {
            throw SightlineError(.invalidFile, "\(path) is damaged (\(error.message)); move it aside to start with no streams and queries",
                                 context: ["file": path])
        }
    }

    public func save(_ state: PersistedState) throws(SightlineError) {
        var bytes = JSONWriter.bytes(state.json)
        bytes.append(UInt8(ascii: "\n"))
        try Self.writeAtomically(bytes, to: stateFile)
    }

    /// Temp file, fsync, rename, fsync of the directory: the rename is atomic, and the two
    /// fsyncs make the data and then the new directory entry durable before we report success.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(SightlineError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SightlineError.fromErrno("cannot create", path: temporary) }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let error = SightlineError.fromErrno("cannot write", path: temporary)
                close(fd)
                throw error
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let error = SightlineError.fromErrno("cannot fsync", path: temporary)
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw SightlineError.fromErrno("cannot rename over", path: path) }
        ok = true
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw SightlineError.fromErrno("cannot open directory", path: directory) }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw SightlineError.fromErrno("cannot fsync directory", path: directory) }
    }

    /// A crash between creating and renaming a temporary file leaves it behind; it holds
    /// nothing that was ever reported as saved.
    private func removeLeftoverTemporaryFiles() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix("state.json.tmp-") {
            unlink(directory + "/" + name)
        }
    }

    /// `mkdir -p` where the last component gets `mode`.
    static func makeDirectory(_ path: String, mode: mode_t) throws(SightlineError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw SightlineError(.invalidArgument, "\(path) exists and is not a directory") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path { try makeDirectory(parent, mode: 0o755) }
        guard mkdir(path, mode) == 0 || errno == EEXIST else { throw SightlineError.fromErrno("cannot create directory", path: path) }
    }
}

extension SightlineError {
    /// The current `errno` as an error naming the call's purpose and path.
    static func fromErrno(_ what: String, path: String) -> SightlineError {
        let code = errno
        return SightlineError(.system, "\(what) \(path): \(String(cString: strerror(code)))", context: ["file": path, "errno": String(code)])
    }
}
