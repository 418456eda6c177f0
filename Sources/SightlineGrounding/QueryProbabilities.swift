import Foundation
import SightlineCore

/// A query's probability at each patch of the encoder's grid, row-major over (y, x).
public struct ProbabilityMap: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var values: [Float]

    public init(width: Int, height: Int, values: [Float]) throws {
        guard width > 0, height > 0, values.count == width * height else {
            throw SightlineError(.invalidArgument, "probability map holds \(values.count) values for a \(width)x\(height) grid")
        }
        self.width = width
        self.height = height
        self.values = values
    }

    init(uncheckedWidth width: Int, height: Int, values: [Float]) {
        self.width = width
        self.height = height
        self.values = values
    }

    public var maximum: Float { values.max() ?? 0 }
}

/// Per-query probabilities from cosine similarities between patches and class embeddings.
///
/// The classes of a stream are its queries followed by its background words. A query's
/// probability at a patch is the softmax of `logitScale * cosine` over the query and its
/// contrast set: the background words and, when `contrastWithOtherQueries` is on, the
/// stream's other queries. With it on, every query shares one softmax per patch.
public struct QueryProbabilities: Sendable {
    public var logitScale: Float
    public var contrastWithOtherQueries: Bool

    public init(logitScale: Float, contrastWithOtherQueries: Bool = true) throws {
        guard logitScale > 0, logitScale.isFinite else {
            throw SightlineError(.invalidArgument, "logit scale must be positive and finite", context: ["logitScale": "\(logitScale)"])
        }
        self.logitScale = logitScale
        self.contrastWithOtherQueries = contrastWithOtherQueries
    }

    /// - Parameters:
    ///   - similarities: patches × classes, row-major (patch-major), as the engine's
    ///     `cosineSimilarities` returns; patches row-major over the grid.
    ///   - queryCount: the first `queryCount` classes are queries, the rest background.
    /// - Returns: one map per query.
    public func maps(similarities: [Float], gridWidth: Int, gridHeight: Int, classes: Int, queryCount: Int) throws -> [ProbabilityMap] {
        let patches = gridWidth * gridHeight
        guard gridWidth > 0, gridHeight > 0 else {
            throw SightlineError(.invalidArgument, "grid size must be positive", context: ["grid": "\(gridWidth)x\(gridHeight)"])
        }
        guard queryCount >= 0, classes >= queryCount else {
            throw SightlineError(.invalidArgument, "\(queryCount) queries cannot be among \(classes) classes")
        }
        guard similarities.count == patches * classes else {
            throw SightlineError(.invalidArgument, "similarity matrix holds \(similarities.count) values, \(patches) patches x \(classes) classes need \(patches * classes)")
        }
        var out = [[Float]](repeating: [Float](repeating: 0, count: patches), count: queryCount)
        var logits = [Float](repeating: 0, count: classes)
        similarities.withUnsafeBufferPointer { sim in
            for p in 0..<patches {
                let row = p * classes
                for c in 0..<classes { logits[c] = logitScale * sim[row + c] }
                if contrastWithOtherQueries {
                    var m = -Float.infinity
                    for c in 0..<classes { m = max(m, logits[c]) }
                    var sum: Float = 0
                    for c in 0..<classes {
                        logits[c] = exp(logits[c] - m)
                        sum += logits[c]
                    }
                    for q in 0..<queryCount { out[q][p] = logits[q] / sum }
                } else {
                    var backgroundMax = -Float.infinity
                    for c in queryCount..<classes { backgroundMax = max(backgroundMax, logits[c]) }
                    for q in 0..<queryCount {
                        let m = max(backgroundMax, logits[q])
                        var sum: Float = 0
                        for c in queryCount..<classes { sum += exp(logits[c] - m) }
                        let e = exp(logits[q] - m)
                        out[q][p] = e / (e + sum)
                    }
                }
            }
        }
        return out.map { ProbabilityMap(uncheckedWidth: gridWidth, height: gridHeight, values: $0) }
    }
}

