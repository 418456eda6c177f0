import Logging
import SightlineCore
import Testing
@testable import SightlineModel

@Suite("Patch-text similarities")
struct SimilarityTests {
    @Test("cosineSimilarities is the dot product of every patch with every text, patches x texts")
    func matchesDotProducts() throws {
        let model = try CLIPModel(directory: Fixtures.directory("tiny-gelu-p14"), threads: 2, logger: Logger(label: "test"))
        let texts = try model.encodeTexts(["a person riding a bike", "a white car", "a tree"])
        let dense = try model.encodeDense([Fixtures.image(width: 120, height: 70, seed: 11)], shortSide: 42)[0]
        #expect(dense.gridWidth == 5 && dense.gridHeight == 3)
        let scores = cosineSimilarities(dense, texts)
        #expect(scores.count == dense.patchCount * texts.rows)
        for patch in 0..<dense.patchCount {
            let p = dense.values[(patch * dense.dim)..<((patch + 1) * dense.dim)]
            #expect(abs(p.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5, "patch \(patch) is not unit length")
            for t in 0..<texts.rows {
                let dot = zip(p, texts[t]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                #expect(abs(scores[patch * texts.rows + t] - dot) < 1e-5)
            }
        }
    }

    @Test("no patches or no texts give an empty result")
    func empty() {
        let dense = DenseEmbeddings(gridWidth: 2, gridHeight: 1, dim: 2, values: [1, 0, 0, 1])
        #expect(cosineSimilarities(dense, EmbeddingMatrix(rows: 0, dim: 2, values: [])).isEmpty)
        #expect(cosineSimilarities(dense, EmbeddingMatrix(rows: 1, dim: 2, values: [0.6, 0.8])) == [0.6, 0.8])
    }
}
