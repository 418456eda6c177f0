/// Reconnect delays for a live source: `initial` seconds, doubling up to `maximum`, and back
/// to `initial` once the source has been healthy for `resetAfter` seconds.
public struct Backoff: Sendable, Hashable, Codable {
    public var initial: Double
    public var maximum: Double
    public var resetAfter: Double
    /// Failures since the last healthy spell.
    public private(set) var attempt = 0

    /// The defaults are the rule every live source follows: 1 s doubling to 30 s, reset after
    /// a healthy minute.
    public init(initial: Double = 1, maximum: Double = 30, resetAfter: Double = 60) throws {
        guard initial > 0, maximum >= initial, resetAfter >= 0 else {
            throw SightlineError(
                .invalidArgument, "backoff needs 0 < initial <= maximum and resetAfter >= 0",
                context: ["initial": "\(initial)", "maximum": "\(maximum)", "resetAfter": "\(resetAfter)"]
            )
        }
        self.initial = initial
        self.maximum = maximum
        self.resetAfter = resetAfter
    }

    /// Records a failure and returns how long to wait before the next attempt.
    /// - Parameter healthyFor: how long the source delivered frames before this failure
    ///   (0 if it never came online).
    public mutating func failure(healthyFor: Double) -> Double {
        if healthyFor >= resetAfter { attempt = 0 }
        // 2^attempt overflows long after the cap is reached; stop doubling once there.
        let exponent = min(attempt, 62)
        let delay = min(maximum, initial * Double(1 << exponent))
        attempt += 1
        return delay
    }

    public mutating func reset() {
        attempt = 0
    }
}
