import Foundation
import Testing
import SightlineClient
import SightlineProtocol

/// What one subscriber heard of each match, checked as the events come: which matches are
/// open at any moment, which ended and why, and any event that breaks "one `match.end` for
/// each `match.start`" (an end or update of a match that is not open, a second start).
///
/// A match is its stream and track. Track numbers start again when a stream does (a
/// reconfigured stream, one added again), so a key may open again once it ended.
struct MatchLedger {
    struct End: Equatable {
        var key: String
        var query: String
        var reason: String?
    }

    /// Each open match's `match.start`, by key.
    private(set) var open: [String: JSONObject] = [:]
    private(set) var starts: [String] = []
    private(set) var ends: [End] = []
    private(set) var problems: [String] = []
    /// Every event taken, in order, for failure messages.
    private(set) var log: [String] = []

    static func key(_ event: JSONObject) -> String {
        "\(event["stream"]?.stringValue ?? "?")/\(event["track"]?.intValue ?? -1)"
    }

    mutating func take(_ event: JSONObject) {
        let kind = event["event"]?.stringValue ?? "?"
        let key = Self.key(event)
        switch kind {
        case "match.start":
            log.append("start \(key) \(event["query"]?.stringValue ?? "")")
            if open[key] != nil { problems.append("a second match.start of \(key) while it is open") }
            open[key] = event
            starts.append(key)
        case "match.update":
            if open[key] == nil { problems.append("match.update of \(key), which is not open") }
        case "match.end":
            let reason = event["reason"]?.stringValue
            log.append("end \(key) \(reason ?? "(no reason)")")
            if open.removeValue(forKey: key) == nil { problems.append("match.end of \(key), which is not open (a second end?)") }
            ends.append(End(key: key, query: event["query"]?.stringValue ?? "", reason: reason))
        case "stream.status":
            log.append("status \(event["stream"]?.stringValue ?? "?") \(event["state"]?.stringValue ?? "?") \(event["error"]?.stringValue ?? "")")
        default:
            log.append(kind)
        }
    }

    /// Keys of the matches open on `stream`.
    func open(on stream: String) -> Set<String> {
        Set(open.keys.filter { $0.hasPrefix(stream + "/") })
    }

    /// Why each of `keys` ended, for those that did, counting the ends from `ends[since]` on.
    func reasons(of keys: Set<String>, since: Int = 0) -> [String: String] {
        var reasons: [String: String] = [:]
        for end in ends[since...] where keys.contains(end.key) { reasons[end.key] = end.reason ?? "(no reason)" }
        return reasons
    }

    var summary: String { log.suffix(40).joined(separator: "\n") }
}

extension DaemonClient {
    /// Reads events into `ledger` until `stop` is true for one (returned), the connection
    /// ends or `deadline` passes (nil). The deadline is checked between events, so a test
    /// that waits with it keeps a stream running that sends them.
    func read(into ledger: inout MatchLedger, deadline: ContinuousClock.Instant,
              until stop: (JSONObject, MatchLedger) -> Bool) async throws -> JSONObject? {
        while ContinuousClock.now < deadline {
            guard let event = try await nextEvent() else { return nil }
            ledger.take(event)
            if stop(event, ledger) { return event }
        }
        return nil
    }

    /// Reads events into `ledger` until a match starts; fails the test if none does in time.
    @discardableResult
    func waitForAMatch(into ledger: inout MatchLedger, within patience: Duration, _ what: String = "") async throws -> JSONObject {
        let started = try await read(into: &ledger, deadline: .now + patience) { event, _ in event.isMatchStart }
        return try #require(started, "no match started\(what): \(ledger.summary)")
    }
}

extension JSONObject {
    func isStatus(of stream: String, _ state: String) -> Bool {
        self["event"] == "stream.status" && self["stream"] == .string(stream) && self["state"] == .string(state)
    }

    var isMatchStart: Bool { self["event"] == "match.start" }
}
