import SightlineCore

/// How probability maps become masks and instances. `Docs/grounding.md` explains each.
public struct MaskParameters: Sendable, Equatable, Codable {
    /// A pixel belongs to the mask when the query's refined probability there is at least this.
    public var threshold: Float = 0.5
    /// Refine with PAMR at all (off: bilinear upsampling only).
    public var refine: Bool = true
    /// PAMR runs on the frame scaled down so that its longer side is at most this many pixels.
    public var refineMaxSide: Int = 320
    public var refineIterations: Int = 10
    /// Neighbourhood dilations of PAMR, as published.
    public var refineDilations: [Int] = [1, 2, 4, 8, 12, 24]
    /// PAMR runs only on the box of patches at or above the threshold, grown by this many patches.
    public var refineMargin: Int = 1
    /// Connected components smaller than this fraction of the frame are dropped.
    public var minAreaFraction: Double = 0.001
    /// At most this many instances per query and frame, the largest probability mass first.
    public var maxInstances: Int = 3

    public init() {}

    public func validate() throws {
        func fail(_ what: String, _ value: Any) -> SightlineError {
            SightlineError(.invalidArgument, "mask parameter \(what)", context: ["value": "\(value)"])
        }
        guard threshold > 0, threshold < 1 else { throw fail("threshold must be between 0 and 1", threshold) }
        guard refineMaxSide >= 8 else { throw fail("refineMaxSide must be at least 8", refineMaxSide) }
        guard refineIterations >= 0 else { throw fail("refineIterations must not be negative", refineIterations) }
        guard refineDilations.allSatisfy({ $0 >= 1 && $0 <= 64 }) else { throw fail("refineDilations must be 1...64", refineDilations) }
        guard refineMargin >= 1 else { throw fail("refineMargin must be at least 1 patch", refineMargin) }
        guard minAreaFraction >= 0, minAreaFraction < 1 else { throw fail("minAreaFraction must be in 0..<1", minAreaFraction) }
        guard maxInstances >= 1 else { throw fail("maxInstances must be at least 1", maxInstances) }
    }
}

/// One connected region where a query holds, in one frame.
public struct GroundedInstance: Sendable, Equatable {
    public var mask: RegionMask
    /// `[x, y, width, height]` in frame pixels.
    public var box: PixelBox { mask.box }
    /// The most confident pixel of the region.
    public var point: PixelPoint
    /// Mean refined probability over the region's pixels.
    public var score: Float
    public var area: Int { mask.area }
    /// Found on a frame whose result was carried from the stream's last encoded frame.
    public var carried = false

    public init(mask: RegionMask, point: PixelPoint, score: Float) {
        self.mask = mask
        self.point = point
        self.score = score
    }
}
