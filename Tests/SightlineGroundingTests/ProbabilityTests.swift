import Foundation
import Testing
import SightlineCore
@testable import SightlineGrounding

@Suite struct ProbabilityTests {
    @Test func softmaxOverQueriesAndBackground() throws {
        // One patch, classes [query 0, query 1, background]; logits 3, 1, 2.
        let sims: [Float] = [0.3, 0.1, 0.2]
        let shared = try QueryProbabilities(logitScale: 10).maps(similarities: sims, gridWidth: 1, gridHeight: 1, classes: 3, queryCount: 2)
        let total = exp(3.0) + exp(1.0) + exp(2.0)
        #expect(abs(Double(shared[0].values[0]) - exp(3.0) / total) < 1e-5)
        #expect(abs(Double(shared[1].values[0]) - exp(1.0) / total) < 1e-5)
        let alone = try QueryProbabilities(logitScale: 10, contrastWithOtherQueries: false)
            .maps(similarities: sims, gridWidth: 1, gridHeight: 1, classes: 3, queryCount: 2)
        #expect(abs(Double(alone[0].values[0]) - exp(3.0) / (exp(3.0) + exp(2.0))) < 1e-5)
        #expect(abs(Double(alone[1].values[0]) - exp(1.0) / (exp(1.0) + exp(2.0))) < 1e-5)
    }

    @Test func mapsArePerQueryRowMajorOverPatches() throws {
        // 2x1 grid, 2 classes (1 query + 1 background): the query wins the right patch only.
        let sims: [Float] = [0.0, 0.5, 0.5, 0.0]
        let maps = try QueryProbabilities(logitScale: 100).maps(similarities: sims, gridWidth: 2, gridHeight: 1, classes: 2, queryCount: 1)
        #expect(maps.count == 1)
        #expect(maps[0].values[0] < 0.01 && maps[0].values[1] > 0.99)
    }

    @Test func largeLogitsStayFinite() throws {
        let maps = try QueryProbabilities(logitScale: 100).maps(similarities: [50, -50, 49], gridWidth: 1, gridHeight: 1, classes: 3, queryCount: 2)
        #expect(maps.allSatisfy { $0.values.allSatisfy(\.isFinite) })
    }

    @Test func rejectsMismatchedShapes() throws {
        let p = try QueryProbabilities(logitScale: 100)
        #expect(throws: SightlineError.self) { try p.maps(similarities: [0, 0, 0], gridWidth: 2, gridHeight: 1, classes: 2, queryCount: 1) }
        #expect(throws: SightlineError.self) { try p.maps(similarities: [0, 0], gridWidth: 1, gridHeight: 1, classes: 2, queryCount: 3) }
        #expect(throws: SightlineError.self) { try p.maps(similarities: [], gridWidth: 0, gridHeight: 1, classes: 2, queryCount: 1) }
        #expect(throws: SightlineError.self) { try QueryProbabilities(logitScale: 0) }
        #expect(throws: SightlineError.self) { try QueryProbabilities(logitScale: .infinity) }
    }

    @Test func ensembleAveragesNormalisedEmbeddings() throws {
        let combined = try PromptEnsemble.combine(rows: [3, 4, 0, 2], count: 2, dimension: 2)
        // Normalised [0.6, 0.8] and [0, 1]; mean [0.3, 0.9]; renormalised.
        let n = (0.3 * 0.3 + 0.9 * 0.9).squareRoot()
        #expect(abs(Double(combined[0]) - 0.3 / n) < 1e-6)
        #expect(abs(Double(combined[1]) - 0.9 / n) < 1e-6)
    }

    @Test func ensembleRejectsDegenerateInput() {
        #expect(throws: SightlineError.self) { try PromptEnsemble.combine(rows: [1, 2, 3], count: 2, dimension: 2) }
        #expect(throws: SightlineError.self) { try PromptEnsemble.combine(rows: [0, 0, 1, 0], count: 2, dimension: 2) }
        #expect(throws: SightlineError.self) { try PromptEnsemble.combine(rows: [1, 0, -1, 0], count: 2, dimension: 2) }
    }

    @Test func promptsFillTemplates() {
        let prompts = PromptEnsemble.prompts(for: "a red car", templates: ["a photo of {}.", "{} and {}"])
        #expect(prompts == ["a photo of a red car.", "a red car and a red car"])
        #expect(PromptEnsemble.prompts(for: "x").count == PromptEnsemble.defaultTemplates.count)
    }

    @Test func smoothingIsGaussianAndRenormalisedAtEdges() throws {
        let frames = try [0.0, 1.0, 0.0].map { try ProbabilityMap(width: 1, height: 1, values: [Float($0)]) }
        let s = TemporalSmoothing(radius: 1, sigma: 1)
        let w = exp(-0.5)
        // Centre: weights w, 1, w over values 0, 1, 0.
        #expect(abs(Double(try s.smooth(frames, at: 1).values[0]) - 1 / (1 + 2 * w)) < 1e-6)
        // Edge: only itself and one neighbour.
        #expect(abs(Double(try s.smooth(frames, at: 0).values[0]) - w / (1 + w)) < 1e-6)
        #expect(try TemporalSmoothing(radius: 0).smooth(frames, at: 1) == frames[1])
    }

    @Test func smoothingRejectsBadInput() throws {
        let a = try ProbabilityMap(width: 1, height: 1, values: [0])
        let b = try ProbabilityMap(width: 2, height: 1, values: [0, 0])
        #expect(throws: SightlineError.self) { try TemporalSmoothing().smooth([a, b], at: 0) }
        #expect(throws: SightlineError.self) { try TemporalSmoothing().smooth([a], at: 1) }
        #expect(throws: SightlineError.self) { try TemporalSmoothing(radius: -1).validate() }
        #expect(throws: SightlineError.self) { try TemporalSmoothing(radius: 1, sigma: 0).validate() }
        #expect(throws: SightlineError.self) { try ProbabilityMap(width: 2, height: 2, values: [0]) }
    }
}
