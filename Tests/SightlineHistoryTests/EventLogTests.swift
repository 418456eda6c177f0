#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SightlineCore
import Testing
@testable import SightlineHistory

/// The event log on real SQLite files in a temporary directory.
@Suite struct EventLogTests {
    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-history-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func event(_ sequence: Int64, at time: Date, kind: String = "match.update", stream: String = "door", query: String = "q-1",
                      track: String? = "t-1") -> LoggedEvent {
        LoggedEvent(sequence: sequence, time: time, kind: kind, stream: stream, query: query, track: track,
                    line: Array(#"{"event":"\#(kind)","seq":\#(sequence)}"#.utf8))
    }

    @Test func sequenceNumbersContinueAcrossReopeningAndAfterRetentionEmptiesTheLog() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/events.sqlite"
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        do {
            let log = try EventLog(path: path)
            #expect(try log.lastSequence() == 0)
            #expect(try log.firstSequence() == nil)
            try log.append((1...5).map { Self.event($0, at: start + Double($0)) })
            #expect(try log.lastSequence() == 5)
        }
        let reopened = try EventLog(path: path)
        #expect(try reopened.lastSequence() == 5)
        #expect(try reopened.events(after: 0, limit: 100).map(\.sequence) == [1, 2, 3, 4, 5])
        // Everything deleted by age: the next number is still 6.
        #expect(try reopened.applyRetention(maxAge: 60, maxBytes: nil, now: start + 3600) == 5)
        #expect(try reopened.firstSequence() == nil)
        #expect(try reopened.lastSequence() == 5)
        try reopened.append([Self.event(6, at: start + 3601)])
        #expect(try reopened.events(after: 0, limit: 10).map(\.sequence) == [6])
    }

    @Test func aBatchOutOfSequenceIsRefusedAndWritesNothing() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try EventLog(path: "\(directory)/events.sqlite")
        let now = Date()
        try log.append([Self.event(1, at: now)])
        for batch in [[Self.event(3, at: now)], [Self.event(1, at: now)], [Self.event(2, at: now), Self.event(4, at: now)]] {
            #expect(throws: SightlineError.self) { try log.append(batch) }
        }
        #expect(try log.events(after: 0, limit: 10).map(\.sequence) == [1])
        #expect(try log.lastSequence() == 1)
    }

    @Test func searchFiltersByTimeStreamQueryTrackAndKindAndPages() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try EventLog(path: "\(directory)/events.sqlite")
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var events: [LoggedEvent] = []
        for i in 1...40 {
            let kind = i % 10 == 1 ? "match.start" : i % 10 == 0 ? "match.end" : "match.update"
            events.append(Self.event(Int64(i), at: start + Double(i), kind: kind, stream: i <= 20 ? "door" : "yard",
                                     query: i % 2 == 0 ? "q-even" : "q-odd", track: "t-\((i - 1) / 10)"))
        }
        try log.append(events)
        #expect(try log.search(EventFilter(stream: "yard"), limit: 100).map(\.sequence) == Array(21...40))
        #expect(try log.search(EventFilter(track: "t-1"), limit: 100).map(\.sequence) == Array(11...20))
        #expect(try log.search(EventFilter(query: "q-even", kinds: ["match.end"]), limit: 100).map(\.sequence) == [10, 20, 30, 40])
        #expect(try log.search(EventFilter(kinds: ["match.start", "match.end"]), limit: 100).count == 8)
        #expect(try log.search(EventFilter(from: start + 5, to: start + 8), limit: 100).map(\.sequence) == [5, 6, 7])
        #expect(try log.firstSequence(since: start + 12.5) == 13)
        #expect(try log.firstSequence(since: start + 1000) == nil)
        // Pages of 15: each starts after the last one's sequence number; no gap, no repeat.
        var seen: [Int64] = []
        var after: Int64 = 0
        while case let page = try log.search(EventFilter(), after: after, limit: 15), !page.isEmpty {
            seen += page.map(\.sequence)
            after = page.last!.sequence
        }
        #expect(seen == Array(1...40))
        let first = try #require(try log.events(after: 0, limit: 1).first)
        #expect(first == events[0], "a logged event comes back as written")
    }

    @Test func retentionBySizeDropsTheOldestFirst() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try EventLog(path: "\(directory)/events.sqlite")
        let now = Date()
        let events = (1...3000).map { Self.event(Int64($0), at: now) }
        try log.append(events)
        let size = Int64(events[0].line.count)
        let removed = try log.applyRetention(maxAge: nil, maxBytes: size * 500)
        let left = try log.search(EventFilter(), limit: 5000)
        #expect(removed + left.count == 3000)
        #expect(Int64(left.map(\.line.count).reduce(0, +)) <= size * 500)
        // Exactly the newest events whose lines fit stay.
        var fitting = 0, total = 0
        for event in events.reversed() {
            total += event.line.count
            if Int64(total) > size * 500 { break }
            fitting += 1
        }
        #expect(left.map(\.sequence) == Array(Int64(3001 - fitting)...3000), "\(left.first?.sequence ?? 0)...\(left.last?.sequence ?? 0)")
        #expect(try log.applyRetention(maxAge: nil, maxBytes: size * 500) == 0, "a second pass has nothing to do")
    }

    @Test func aFileThatIsNotADatabaseIsAClearErrorAndNotOverwritten() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/events.sqlite"
        let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: path))
        do {
            _ = try EventLog(path: path)
            Issue.record("a garbage file opened as an event log")
        } catch let error as SightlineError {
            #expect(error.code == .invalidFile, "\(error)")
            #expect(error.message.contains("not a readable SQLite database") && error.context["file"] == path, "\(error)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage, "the file is left as it was")
    }

    @Test func aLogFromANewerSightlineIsRefused() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/events.sqlite"
        _ = try EventLog(path: path)
        // What a later version's migration would leave in GRDB's table of applied migrations.
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sqlite.arguments = ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO grdb_migrations VALUES ('9 future')\"); c.commit()", path]
        try sqlite.run()
        sqlite.waitUntilExit()
        try #require(sqlite.terminationStatus == 0)
        #expect {
            _ = try EventLog(path: path)
        } throws: { error in
            (error as? SightlineError).map { $0.code == .invalidFile && $0.message.contains("newer Sightline") } ?? false
        }
    }

    @Test func aLogLockedByAnotherProcessIsAClearError() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/events.sqlite"
        let log = try EventLog(path: path, busyTimeout: 0.2)
        try log.append([Self.event(1, at: Date())])
        // Another process takes the write lock and keeps it.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["python3", "-c", "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)", path]
        let output = Pipe()
        holder.standardOutput = output
        try holder.run()
        // SIGKILL: the test process may ignore SIGTERM, and a child inherits that.
        func stopHolder() {
            if holder.isRunning { kill(holder.processIdentifier, SIGKILL) }
            holder.waitUntilExit()
        }
        defer { stopHolder() }
        let line = output.fileHandleForReading.availableData
        try #require(String(decoding: line, as: UTF8.self).contains("locked"))
        #expect {
            try log.append([Self.event(2, at: Date())])
        } throws: { error in
            (error as? SightlineError).map { $0.message.contains("locked by another process") } ?? false
        }
        stopHolder()
        // Once the other process lets go, writing goes on where it stopped.
        try log.append([Self.event(2, at: Date())])
        #expect(try log.lastSequence() == 2)
    }
}
