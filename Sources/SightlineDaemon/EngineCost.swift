/// What one frame costs the engine, learnt from the batches it grounds: seconds per encoded
/// frame and per carried frame (grounding only), as moving averages. The scheduler sizes its
/// batches by it so that a batch, and the wait behind it, fits the latency bound.
struct EngineCost: Sendable, Equatable {
    /// Seconds per frame that was encoded (its grounding included); nil until measured.
    private(set) var encoded: Double?
    /// Seconds per carried frame; nil until measured.
    private(set) var carried: Double?
    /// Weight of the newest batch in the averages.
    private let weight = 0.3

    /// A batch of `encoded` encoded and `carried` carried frames took `seconds`.
    mutating func record(encoded e: Int, carried c: Int, seconds: Double) {
        guard seconds >= 0, e + c > 0 else { return }
        if e == 0 {
            carried = Self.average(carried, seconds / Double(c), weight)
        } else {
            // The carried frames' share, as measured so far, is not the encoder's.
            let rest = max(0, seconds - Double(c) * (carried ?? 0))
            encoded = Self.average(encoded, rest / Double(e), weight)
        }
    }

    private static func average(_ old: Double?, _ new: Double, _ weight: Double) -> Double {
        old.map { $0 + weight * (new - $0) } ?? new
    }

    /// Expected seconds of a batch.
    func seconds(encoded e: Int, carried c: Int) -> Double {
        Double(e) * (encoded ?? 0) + Double(c) * (carried ?? 0)
    }

    /// The batch limits under `maxLatency` (seconds; 0 sets none): at most `maxBatch`
    /// encoded frames, and no more than fit in half the bound, so that a frame's wait behind
    /// the running batch and its own batch together fit in it; carried frames likewise, at
    /// most `maxCarried`. Frames older than the bound less their batch's time are stale.
    /// Without a bound a batch holds `maxBatch` frames at most, carried or not, as before
    /// there was one: nothing says how long a batch may take.
    func plan(maxBatch: Int, maxCarried: Int, maxLatency: Double) -> (encoded: Int, total: Int, staleAfter: Double?) {
        guard maxLatency > 0 else { return (maxBatch, maxBatch, nil) }
        let half = maxLatency / 2
        let e = encoded.map { $0 > 0 ? max(1, min(maxBatch, Int(half / $0))) : maxBatch } ?? maxBatch
        let c = carried.map { $0 > 0 ? max(1, min(maxCarried, Int(half / $0))) : maxCarried } ?? maxCarried
        return (e, e + c, max(0, maxLatency - seconds(encoded: e, carried: 0)))
    }
}
