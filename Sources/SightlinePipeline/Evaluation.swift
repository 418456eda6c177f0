import Foundation
import SightlineCore
import SightlineGrounding

/// Scores of one evaluation case (a sequence and its query).
public struct CaseScore: Sendable, Codable, Equatable {
    public var sequence: String
    public var query: String
    /// Annotated frames scored.
    public var frames: Int
    /// Means over the annotated frames.
    public var j: Double
    public var f: Double
    public var jf: Double
    /// Temporal IoU, only where the ground truth has empty frames.
    public var tIoU: Double?
    /// Tubes the query produced, and the one taken as the prediction.
    public var tracks: Int
    public var bestTrack: Int?
    public var bestTrackMeanScore: Double?

    enum CodingKeys: String, CodingKey {
        case sequence, query, frames, j = "J", f = "F", jf = "J&F", tIoU = "tIoU", tracks
        case bestTrack = "best_track", bestTrackMeanScore = "best_track_mean_score"
    }
}

/// Everything an evaluation reports; written as JSON by `sightline eval`.
public struct EvaluationReport: Sendable, Codable, Equatable {
    public struct Mean: Sendable, Codable, Equatable {
        public var j: Double
        public var f: Double
        public var jf: Double
        /// Over the cases that have a tIoU; nil when none has.
        public var tIoU: Double?
        enum CodingKeys: String, CodingKey { case j = "J", f = "F", jf = "J&F", tIoU = "tIoU" }
    }

    public var model: String
    public var testModel: Bool
    /// The engine's precision (`fp32`, `int8`, `bf16`): scores at a lower one differ slightly,
    /// so a comparison of two reports needs it. Nil in reports written before it was recorded.
    public var precision: String?
    public var cases: [CaseScore]
    public var mean: Mean

    enum CodingKeys: String, CodingKey { case model, testModel = "test_model", precision, cases, mean }

    public init(model: String, testModel: Bool, precision: String? = nil, cases: [CaseScore]) {
        self.model = model
        self.testModel = testModel
        self.precision = precision
        self.cases = cases
        func average(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }
        let t = cases.compactMap(\.tIoU)
        mean = Mean(j: average(cases.map(\.j)), f: average(cases.map(\.f)), jf: average(cases.map(\.jf)),
                    tIoU: t.isEmpty ? nil : average(t))
    }

    /// A table for the terminal.
    public func table() -> String {
        func pct(_ v: Double?) -> String {
            guard let v else { return "-" }
            let tenths = Int((v * 1000).rounded())
            return "\(tenths / 10).\(tenths % 10)"
        }
        let header = ["sequence", "query", "frames", "J", "F", "J&F", "tIoU", "tracks"]
        var rows: [[String]] = cases.map { (c: CaseScore) -> [String] in
            [c.sequence, c.query, String(c.frames), pct(c.j), pct(c.f), pct(c.jf), pct(c.tIoU), String(c.tracks)]
        }
        let totalFrames: Int = cases.reduce(0) { $0 + $1.frames }
        rows.append(["mean", "", String(totalFrames), pct(mean.j), pct(mean.f), pct(mean.jf), pct(mean.tIoU), ""])
        let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let padding = String(repeating: " ", count: widths[i] - cell.count)
                return i < 2 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        var out = [line(header), rule] + rows.dropLast().map(line) + [rule, line(rows.last!)]
        out.append("J, F, J&F and tIoU in percent; J&F = (J + F) / 2; tIoU only where the ground truth has empty frames.")
        if let precision { out.append("Engine precision: \(precision).") }
        if testModel { out.append("Model \(model) is a test model with random weights: these scores mean nothing.") }
        return out.joined(separator: "\n")
    }
}

/// Scores a query's events against a sequence's ground truth: the prediction of each frame is
/// the mask of the query's best tube (highest mean score over its frames) where that tube has
/// a frame, and empty elsewhere.
public enum CaseScorer {
    /// - Parameters:
    ///   - events: the case's match events (one query).
    ///   - pts: each frame's presentation time, in frame order.
    ///   - truth: each frame's ground truth, nil where the frame is not annotated.
    public static func score(sequence: String, query: String, events: [MatchEvent], pts: [Double],
                             truth: [BinaryMask?]) throws -> CaseScore {
        guard pts.count == truth.count else {
            throw SightlineError(.invalidArgument, "one presentation time per frame needed", context: ["sequence": sequence])
        }
        var frames: [Int: [MatchFrame]] = [:]
        for e in events { frames[e.track, default: []] += e.frames }
        var best: (track: Int, mean: Double)?
        for (track, f) in frames.sorted(by: { $0.key < $1.key }) {
            let total: Double = f.reduce(0) { $0 + $1.score }
            let mean = total / Double(max(f.count, 1))
            if best == nil || mean > best!.mean { best = (track, mean) }
        }
        var byPts: [Double: RLEMask] = [:]
        if let best { for f in frames[best.track] ?? [] { if let m = f.mask { byPts[f.pts] = m } } }
        var js: [Double] = [], fs: [Double] = [], predicted: [Bool] = [], present: [Bool] = []
        for (i, gt) in truth.enumerated() {
            guard let gt else { continue }
            let prediction: BinaryMask
            if let rle = byPts[pts[i]] {
                guard rle.width == gt.width, rle.height == gt.height else {
                    throw SightlineError(.invalidArgument, "the ground truth is \(gt.width)x\(gt.height) but frames were \(rle.width)x\(rle.height)",
                                         context: ["sequence": sequence, "frame": "\(i)"])
                }
                prediction = rle.decoded()
            } else {
                prediction = try BinaryMask(width: gt.width, height: gt.height)
            }
            js.append(try Metrics.regionSimilarity(prediction, gt))
            fs.append(try Metrics.boundaryF(prediction, gt))
            predicted.append(!prediction.isEmpty)
            present.append(!gt.isEmpty)
        }
        guard !js.isEmpty else {
            throw SightlineError(.invalidArgument, "no annotated frame to score", context: ["sequence": sequence])
        }
        let j = js.reduce(0, +) / Double(js.count), f = fs.reduce(0, +) / Double(fs.count)
        let tIoU = present.contains(false) ? try Metrics.temporalIoU(predicted: predicted, truth: present) : nil
        return CaseScore(sequence: sequence, query: query, frames: js.count, j: j, f: f, jf: (j + f) / 2, tIoU: tIoU,
                         tracks: frames.count, bestTrack: best?.track, bestTrackMeanScore: best.map { ($0.mean * 10_000).rounded() / 10_000 })
    }
}
