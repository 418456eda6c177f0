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
    private let lock: LockFile

    /// Creates the directory (0700) when missing and takes its lock.
    public init(directory: String) throws(SightlineError) {
        self.directory = directory
        try Self.makeDirectory(directory, mode: 0o700)
        let lockPath = directory + "/lock"
        guard let lock = try LockFile.tryLock(lockPath) else {
            throw SightlineError(.unavailable, "another sightlined is using the state directory \(directory)", context: ["file": lockPath])
        }
        self.lock = lock
        AtomicFile.removeLeftovers(of: stateFile)
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
        try AtomicFile.write(bytes, to: stateFile, mode: 0o600)
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
