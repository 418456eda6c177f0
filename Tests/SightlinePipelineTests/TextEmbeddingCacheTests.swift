import Foundation
@testable import SightlinePipeline
import Testing

/// The daemon's streams share their text embeddings: a text is encoded once, whichever
/// stream asks first, and the cache stays within its bound.
@Suite struct TextEmbeddingCacheTests {
    final class Encoder: @unchecked Sendable {
        var asked: [[String]] = []
        func encode(_ texts: [String]) -> [[Float]] {
            asked.append(texts)
            return texts.map { [Float($0.count)] }
        }
    }

    @Test func aTextIsEncodedOnceForEveryStream() throws {
        let cache = TextEmbeddingCache()
        let encoder = Encoder()
        let first = try cache.embeddings(of: ["a bike", "a car", "road"], encode: encoder.encode)
        let second = try cache.embeddings(of: ["a car", "road", "a dog"], encode: encoder.encode)
        #expect(encoder.asked == [["a bike", "a car", "road"], ["a dog"]])
        #expect(first["a car"] == [5] && second["a car"] == [5] && second["a dog"] == [5] && second["a bike"] == nil)
    }

    @Test func pastItsCapacityItKeepsTheTextsAskedLast() throws {
        let cache = TextEmbeddingCache(capacity: 3)
        let encoder = Encoder()
        _ = try cache.embeddings(of: ["a", "b", "c"], encode: encoder.encode)
        _ = try cache.embeddings(of: ["d"], encode: encoder.encode)
        _ = try cache.embeddings(of: ["d", "a"], encode: encoder.encode)
        #expect(encoder.asked == [["a", "b", "c"], ["d"], ["a"]])
    }

    @Test func aFailedEncodingKeepsNothing() throws {
        let cache = TextEmbeddingCache()
        struct Failure: Error {}
        #expect(throws: Failure.self) { try cache.embeddings(of: ["x"]) { _ in throw Failure() } }
        let encoder = Encoder()
        _ = try cache.embeddings(of: ["x"], encode: encoder.encode)
        #expect(encoder.asked == [["x"]])
    }
}
