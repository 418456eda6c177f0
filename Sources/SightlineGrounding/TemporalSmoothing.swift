import Foundation
import SightlineCore

/// Smooths probability maps through time inside a window of frames: each frame's map
/// becomes the Gaussian-weighted mean of the maps within `radius` frames of it that the
/// window holds (weights renormalised at the window's edges), which steadies flickering
/// patches before masks are cut.
public struct TemporalSmoothing: Sendable, Equatable, Codable {
    /// Frames on each side; 0 turns smoothing off.
    public var radius: Int = 1
    /// Standard deviation of the Gaussian, in frames.
    public var sigma: Double = 1.0

    public init(radius: Int = 1, sigma: Double = 1.0) {
        self.radius = radius
        self.sigma = sigma
    }

    public func validate() throws {
        guard radius >= 0, radius <= 16 else {
            throw SightlineError(.invalidArgument, "smoothing radius must be 0...16 frames", context: ["radius": "\(radius)"])
        }
        guard sigma > 0, sigma.isFinite else {
            throw SightlineError(.invalidArgument, "smoothing sigma must be positive", context: ["sigma": "\(sigma)"])
        }
    }

    /// The map of frame `index` smoothed with its neighbours in `frames` (one query's maps,
    /// oldest first, all on one grid).
    public func smooth(_ frames: [ProbabilityMap], at index: Int) throws -> ProbabilityMap {
        guard frames.indices.contains(index) else {
            throw SightlineError(.invalidArgument, "frame \(index) is outside a window of \(frames.count)")
        }
        let centre = frames[index]
        guard radius > 0 else { return centre }
        let lo = max(0, index - radius), hi = min(frames.count - 1, index + radius)
        var values = [Float](repeating: 0, count: centre.values.count)
        var total: Float = 0
        for j in lo...hi {
            let map = frames[j]
            guard map.width == centre.width, map.height == centre.height else {
                throw SightlineError(.invalidArgument, "maps of one window must share one grid",
                                     context: ["grid": "\(map.width)x\(map.height)", "expected": "\(centre.width)x\(centre.height)"])
            }
            let d = Double(j - index)
            let w = Float(exp(-d * d / (2 * sigma * sigma)))
            total += w
            for i in values.indices { values[i] += w * map.values[i] }
        }
        for i in values.indices { values[i] /= total }
        return ProbabilityMap(uncheckedWidth: centre.width, height: centre.height, values: values)
    }
}
