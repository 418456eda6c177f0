import SightlineCore

/// Prompt ensembling: a query is encoded through several sentence templates, and its text
/// embedding is the renormalised mean of the normalised template embeddings (as CLIP's
/// zero-shot classifiers do), which is steadier than any one phrasing.
public enum PromptEnsemble {
    /// `{}` stands for the query's text.
    public static let defaultTemplates = [
        "a photo of {}.",
        "a photo of the {}.",
        "a photo of a small {}.",
        "a photo of a large {}.",
        "a cropped photo of {}.",
        "a close-up photo of {}.",
        "a bright photo of {}.",
        "there is {} in the scene.",
    ]

    /// The sentences to encode for one text, in template order.
    public static func prompts(for text: String, templates: [String] = defaultTemplates) -> [String] {
        templates.map { $0.replacingAll("{}", with: text) }
    }

    /// Averages `count` embeddings of `dimension` values each (rows of `rows`), each first
    /// scaled to unit length, and scales the mean to unit length.
    public static func combine(rows: [Float], count: Int, dimension: Int) throws -> [Float] {
        guard count > 0, dimension > 0, rows.count == count * dimension else {
            throw SightlineError(.invalidArgument, "prompt embeddings hold \(rows.count) values, \(count) rows of \(dimension) need \(count * dimension)")
        }
        var mean = [Float](repeating: 0, count: dimension)
        for r in 0..<count {
            let row = rows[(r * dimension)..<((r + 1) * dimension)]
            let norm = row.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0, norm.isFinite else {
                throw SightlineError(.invalidArgument, "prompt embedding \(r) has no direction (norm \(norm))")
            }
            for (i, v) in row.enumerated() { mean[i] += v / norm }
        }
        let norm = mean.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else {
            throw SightlineError(.invalidArgument, "prompt embeddings cancel out: their mean has no direction")
        }
        return mean.map { $0 / norm }
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        var out = ""
        var rest = self[...]
        while let range = rest.range(of: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}
