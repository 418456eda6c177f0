import SightlineCore

/// How instances are linked into tubes. `Docs/grounding.md` explains each.
public struct TubeParameters: Sendable, Equatable, Codable {
    /// An instance may start a tube only with a score at least this.
    public var startScore: Float = 0.6
    /// An instance may continue a tube with a score at least this (lower: hysteresis).
    public var continueScore: Float = 0.5
    /// An instance continues a tube when its mask overlaps the tube's last mask, moved by
    /// the tube's predicted motion, with at least this IoU...
    public var minIoU: Double = 0.3
    /// ...or else when its box centre lies within this fraction of the frame's diagonal of
    /// the tube's predicted centre.
    public var maxCenterDistance: Double = 0.1
    /// A tube is reported (`match.start`) once it spans at least this many seconds.
    public var minDuration: Double = 0.3
    /// A tube survives this many seconds without a matching instance before it ends.
    public var gracePeriod: Double = 0.5
    /// A match whose area differs from the tube's last mask by more than this factor (two
    /// objects merging or one splitting) continues the tube without replacing its shape and
    /// motion, unless the change lasts longer than the grace period.
    public var areaChangeLimit: Double = 1.25
    /// Seconds (of presentation time) between two `match.update` events of a reported tube;
    /// 0: one at every `flush()` that has new frames.
    public var updateInterval: Double = 0

    public init() {}

    public func validate() throws {
        func fail(_ what: String, _ value: Any) -> SightlineError {
            SightlineError(.invalidArgument, "tube parameter \(what)", context: ["value": "\(value)"])
        }
        guard continueScore > 0, continueScore <= 1 else { throw fail("continueScore must be in 0...1", continueScore) }
        guard startScore >= continueScore, startScore <= 1 else { throw fail("startScore must be between continueScore and 1", startScore) }
        guard minIoU > 0, minIoU <= 1 else { throw fail("minIoU must be in 0...1", minIoU) }
        guard maxCenterDistance >= 0, maxCenterDistance <= 1 else { throw fail("maxCenterDistance must be in 0...1", maxCenterDistance) }
        guard minDuration >= 0, minDuration.isFinite else { throw fail("minDuration must not be negative", minDuration) }
        guard gracePeriod >= 0, gracePeriod.isFinite else { throw fail("gracePeriod must not be negative", gracePeriod) }
        guard areaChangeLimit > 1 else { throw fail("areaChangeLimit must be above 1", areaChangeLimit) }
        guard updateInterval >= 0, updateInterval.isFinite else { throw fail("updateInterval must not be negative", updateInterval) }
    }
}

/// A standing query as grounding sees it.
///
/// `threshold` and `minDuration`, when set, govern this query's masks and tubes in place of
/// the stream's `MaskParameters.threshold`, `TubeParameters.continueScore` and
/// `TubeParameters.minDuration`; its start score keeps the stream's margin above the
/// continue score (`startScore - continueScore`), capped at 1. Queries of one stream may so
/// differ in how sure and how lasting a match must be.
public struct GroundingQuery: Sendable, Hashable, Codable {
    public var id: String
    public var text: String
    /// Probability, in 0 < t < 1, a pixel needs to join this query's mask, and an instance
    /// to continue its tube; nil: the stream's.
    public var threshold: Float?
    /// Seconds this query's tube must span before `match.start`; nil: the stream's.
    public var minDuration: Double?

    public init(id: String, text: String, threshold: Float? = nil, minDuration: Double? = nil) {
        self.id = id
        self.text = text
        self.threshold = threshold
        self.minDuration = minDuration
    }

    public func validate() throws {
        if let threshold, !(threshold > 0 && threshold < 1) {
            throw SightlineError(.invalidArgument, "query threshold must be between 0 and 1", context: ["query": id, "value": "\(threshold)"])
        }
        if let minDuration, !(minDuration >= 0 && minDuration.isFinite) {
            throw SightlineError(.invalidArgument, "query minimum duration must not be negative", context: ["query": id, "value": "\(minDuration)"])
        }
    }
}

extension TubeParameters {
    /// The scores that start and continue `query`'s tubes.
    public func scores(for query: GroundingQuery) -> (start: Float, continue: Float) {
        guard let t = query.threshold else { return (startScore, continueScore) }
        return (min(1, max(t, t + startScore - continueScore)), t)
    }

    public func minDuration(for query: GroundingQuery) -> Double { query.minDuration ?? minDuration }
}
