import Foundation
import GRDB
import SightlineCore

/// One event as the log keeps it: its sequence number, when it happened, what it is about (for
/// queries) and its wire line, exactly as subscribers receive it.
public struct LoggedEvent: Sendable, Equatable {
    public var sequence: Int64
    public var time: Date
    /// The event's name on the wire, e.g. `match.start` or `stream.status`.
    public var kind: String
    public var stream: String?
    public var query: String?
    public var track: String?
    /// The JSON line, without its newline.
    public var line: [UInt8]

    public init(sequence: Int64, time: Date, kind: String, stream: String? = nil, query: String? = nil, track: String? = nil,
                line: [UInt8]) {
        self.sequence = sequence
        self.time = time
        self.kind = kind
        self.stream = stream
        self.query = query
        self.track = track
        self.line = line
    }
}

/// What `EventLog.search` selects; every field left nil matches everything.
public struct EventFilter: Sendable, Equatable {
    public var from: Date?
    public var to: Date?
    public var stream: String?
    public var query: String?
    public var track: String?
    public var kinds: [String]?

    public init(from: Date? = nil, to: Date? = nil, stream: String? = nil, query: String? = nil, track: String? = nil,
                kinds: [String]? = nil) {
        self.from = from
        self.to = to
        self.stream = stream
        self.query = query
        self.track = track
        self.kinds = kinds
    }
}

/// The durable event log: every event with a sequence number that rises by one from event to
/// event, across restarts, in a SQLite database (GRDB) in the state directory.
///
/// Sequence numbers are handed out by `nextSequence` before an event is written, so that it
/// can be delivered at once; `append` writes them in order, one transaction per batch. In WAL
/// mode with `synchronous = NORMAL` a committed batch survives the process being killed; a
/// power loss can lose the batches of the last moments, never corrupt earlier ones. Numbers
/// stay unique after retention has deleted every event (SQLite's AUTOINCREMENT keeps the
/// highest number ever written).
public final class EventLog: Sendable {
    public let path: String
    private let database: DatabasePool

    /// Opens the log at `path`, creating it (and its schema) if it does not exist. A file that
    /// is not a SQLite database, or one written by a newer Sightline, is an error naming it;
    /// so is one another process holds locked for longer than `busyTimeout`.
    public init(path: String, busyTimeout: TimeInterval = 5) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch let error as DatabaseError {
            throw Self.openError(error, path: path)
        }
        let applied = try database.read { try Self.migrator.appliedIdentifiers($0) }
        let known = Set(Self.migrator.migrations)
        if let unknown = applied.first(where: { !known.contains($0) }) {
            throw SightlineError(.invalidFile, "the event log was written by a newer Sightline (schema \(unknown)); move it aside or upgrade",
                                 context: ["file": path])
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1 events") { db in
            try db.execute(sql: """
                CREATE TABLE events (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    time REAL NOT NULL,
                    kind TEXT NOT NULL,
                    stream TEXT,
                    query TEXT,
                    track TEXT,
                    line BLOB NOT NULL
                );
                CREATE INDEX events_time ON events(time);
                CREATE INDEX events_stream_time ON events(stream, time);
                CREATE INDEX events_track ON events(track) WHERE track IS NOT NULL;
                """)
        }
        return migrator
    }

    private static func openError(_ error: DatabaseError, path: String) -> SightlineError {
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            SightlineError(.invalidFile, "the event log is not a readable SQLite database: \(error.message ?? "\(error.resultCode)"); move it aside and a new one is made",
                           context: ["file": path])
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            SightlineError(.system, "the event log is locked by another process (another sightlined on the same state directory?)", context: ["file": path])
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY:
            SightlineError(.fileNotFound, "cannot open the event log for writing: \(error.message ?? "\(error.resultCode)")", context: ["file": path])
        case .SQLITE_FULL:
            SightlineError(.system, "the disk holding the event log is full", context: ["file": path])
        default:
            SightlineError(.system, "the event log failed: \(error.message ?? "\(error.resultCode)")", context: ["file": path])
        }
    }

    private func run<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as DatabaseError { throw Self.openError(error, path: path) }
    }

    /// The highest sequence number ever written (0 for a new log).
    public func lastSequence() throws -> Int64 {
        try run {
            try database.read { db in
                try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'events'") ?? 0
            }
        }
    }

    /// The lowest sequence number still in the log, nil when it is empty.
    public func firstSequence() throws -> Int64? {
        try run { try database.read { try Int64.fetchOne($0, sql: "SELECT MIN(sequence) FROM events") } }
    }

    /// The first sequence number at or after `time`, nil when no event is that recent.
    public func firstSequence(since time: Date) throws -> Int64? {
        try run {
            try database.read {
                try Int64.fetchOne($0, sql: "SELECT MIN(sequence) FROM events WHERE time >= ?", arguments: [time.timeIntervalSince1970])
            }
        }
    }

    /// Writes `events` in one transaction. Their sequence numbers must continue the log's.
    public func append(_ events: [LoggedEvent]) throws {
        guard !events.isEmpty else { return }
        try run {
            try database.write { db in
                let last = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'events'") ?? 0
                guard events.first!.sequence == last + 1,
                      zip(events, events.dropFirst()).allSatisfy({ $1.sequence == $0.sequence + 1 }) else {
                    throw SightlineError(.invalidArgument, "events appended out of sequence: the log ends at \(last), the batch starts at \(events.first!.sequence)",
                                         context: ["file": path])
                }
                let statement = try db.cachedStatement(sql: "INSERT INTO events (sequence, time, kind, stream, query, track, line) VALUES (?, ?, ?, ?, ?, ?, ?)")
                for event in events {
                    try statement.execute(arguments: [event.sequence, event.time.timeIntervalSince1970, event.kind, event.stream,
                                                      event.query, event.track, Data(event.line)])
                }
            }
        }
    }

    /// Up to `limit` events after `sequence`, in order.
    public func events(after sequence: Int64, limit: Int) throws -> [LoggedEvent] {
        try search(EventFilter(), after: sequence, limit: limit)
    }

    /// Up to `limit` events that `filter` selects, after sequence number `after`, in order:
    /// page on by passing the last one's sequence number.
    public func search(_ filter: EventFilter, after: Int64 = 0, limit: Int) throws -> [LoggedEvent] {
        var conditions = ["sequence > ?"]
        var arguments: [DatabaseValue] = [after.databaseValue]
        func add(_ condition: String, _ values: [any DatabaseValueConvertible]) {
            conditions.append(condition)
            arguments += values.map(\.databaseValue)
        }
        if let from = filter.from { add("time >= ?", [from.timeIntervalSince1970]) }
        if let to = filter.to { add("time < ?", [to.timeIntervalSince1970]) }
        if let stream = filter.stream { add("stream = ?", [stream]) }
        if let query = filter.query { add("query = ?", [query]) }
        if let track = filter.track { add("track = ?", [track]) }
        if let kinds = filter.kinds, !kinds.isEmpty {
            add("kind IN (\(kinds.map { _ in "?" }.joined(separator: ", ")))", kinds)
        }
        let sql = "SELECT sequence, time, kind, stream, query, track, line FROM events WHERE \(conditions.joined(separator: " AND ")) ORDER BY sequence LIMIT ?"
        arguments.append(max(0, limit).databaseValue)
        let bound = arguments
        return try run {
            try database.read { db in
                try Row.fetchAll(db, sql: sql, arguments: StatementArguments(bound)).map { row in
                    LoggedEvent(sequence: row[0], time: Date(timeIntervalSince1970: row[1]), kind: row[2], stream: row[3], query: row[4],
                                track: row[5], line: [UInt8](row[6] as Data))
                }
            }
        }
    }

    /// Deletes events older than `maxAge`, then the oldest until the events take at most
    /// `maxBytes` (their lines' size; the file is larger by its indexes and pages). Returns
    /// how many were deleted. Deletes in short transactions, so appends go on meanwhile.
    @discardableResult
    public func applyRetention(maxAge: TimeInterval?, maxBytes: Int64?, now: Date = Date()) throws -> Int {
        var deleted = 0
        try run {
            if let maxAge {
                deleted += try database.write { db in
                    try db.execute(sql: "DELETE FROM events WHERE time < ?", arguments: [now.timeIntervalSince1970 - maxAge])
                    return db.changesCount
                }
            }
            if let maxBytes {
                // The newest events whose lines fit in maxBytes stay; everything up to the
                // newest one that does not fit goes, a thousand at a time.
                let cutoff = try database.read { db in
                    try Int64.fetchOne(db, sql: """
                        SELECT MAX(sequence) FROM (
                            SELECT sequence, SUM(LENGTH(line)) OVER (ORDER BY sequence DESC) AS newer FROM events
                        ) WHERE newer > ?
                        """, arguments: [maxBytes])
                }
                while let cutoff {
                    let removed = try database.write { db -> Int in
                        try db.execute(sql: "DELETE FROM events WHERE sequence IN (SELECT sequence FROM events WHERE sequence <= ? ORDER BY sequence LIMIT 1000)",
                                       arguments: [cutoff])
                        return db.changesCount
                    }
                    if removed == 0 { break }
                    deleted += removed
                }
            }
        }
        return deleted
    }
}
