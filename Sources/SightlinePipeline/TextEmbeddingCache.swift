import Synchronization

/// Prompt-ensembled text embeddings by text, for streams that share a model and prompt
/// templates: the daemon's streams share one, so that a stream added with queries that other
/// streams watch already costs no text encoding (which, with a real model, holds up the engine
/// and so every stream for seconds). Bounded: past `capacity` texts it keeps only those asked
/// for last.
public final class TextEmbeddingCache: Sendable {
    private let entries = Mutex<[String: [Float]]>([:])
    public let capacity: Int

    public init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The embeddings of `texts`; those not known are made by `encode` (given them in order)
    /// and kept.
    func embeddings(of texts: [String], encode: ([String]) throws -> [[Float]]) throws -> [String: [Float]] {
        let known = entries.withLock { entries in texts.compactMap { text in entries[text].map { (text, $0) } } }
        var found = Dictionary(known, uniquingKeysWith: { first, _ in first })
        let missing = Array(Set(texts.filter { found[$0] == nil })).sorted()
        if !missing.isEmpty {
            for (text, embedding) in zip(missing, try encode(missing)) { found[text] = embedding }
        }
        entries.withLock { entries in
            if entries.count + missing.count > capacity { entries = [:] }
            for text in texts { entries[text] = found[text] }
        }
        return found
    }
}
