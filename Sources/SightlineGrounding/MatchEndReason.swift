/// Why a tube ended: the `reason` of a `match.end`.
///
/// A string rather than an enum, so that a client reading a later daemon's events takes a
/// reason it does not know yet as it is instead of rejecting the event.
public struct MatchEndReason: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// Not matched for longer than the grace period: the thing left the picture.
    public static let notSeen = MatchEndReason(rawValue: "not_seen")
    /// Presentation times went backwards: a looping file began its next pass, or a source
    /// reconnected and counts from zero again.
    public static let streamRestarted = MatchEndReason(rawValue: "stream_restarted")
    /// The stream reached its end (a file that does not loop).
    public static let streamEnded = MatchEndReason(rawValue: "stream_ended")
    /// The stream failed, stalled or lost its connection; a live one may come back, with new tubes.
    public static let streamFailed = MatchEndReason(rawValue: "stream_failed")
    /// `stream.remove`, or the stream's definition left the configuration file.
    public static let streamRemoved = MatchEndReason(rawValue: "stream_removed")
    /// The stream's definition in the configuration file changed: a reload restarts it.
    public static let streamReconfigured = MatchEndReason(rawValue: "stream_reconfigured")
    /// `query.remove`, or the query's definition left the configuration file.
    public static let queryRemoved = MatchEndReason(rawValue: "query_removed")
    /// The query's text, threshold, minimum duration or streams changed; its tubes start afresh.
    public static let queryReconfigured = MatchEndReason(rawValue: "query_reconfigured")
    /// The daemon is stopping.
    public static let shutdown = MatchEndReason(rawValue: "shutdown")

    public var description: String { rawValue }
}
