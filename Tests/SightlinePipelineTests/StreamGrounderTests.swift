import Foundation
import Testing
import SightlineCore
import SightlineGrounding
import SightlineModel
@testable import SightlinePipeline

@Suite struct StreamGrounderTests {
    static let model: CLIPModel? = try? CLIPModel(directory: Support.tinyModel, logger: Support.logger)

    static func frames(_ count: Int, start: Int = 0, width: Int = 48, height: Int = 32) throws -> [Frame] {
        try (start..<(start + count)).map { i in
            var px = [UInt8](repeating: 0, count: width * height * 3)
            for p in px.indices { px[p] = UInt8(truncatingIfNeeded: p * 31 + i * 17) }
            return Frame(stream: "s", seq: UInt64(i), pts: Double(i) / 10, captureTime: Date(timeIntervalSince1970: Double(i)),
                         image: try RGBImage(width: width, height: height, pixels: px))
        }
    }

    static func settings(background: [String] = [], contrast: Bool = false) -> GroundingSettings {
        var s = GroundingSettings()
        s.backgroundWords = background
        s.contrastWithOtherQueries = contrast
        s.masks.refineMaxSide = 32
        s.shortSide = 16
        return s
    }

    @Test func everyQueryHoldsEverywhereWithoutContrast() throws {
        let model = try #require(Self.model)
        let grounder = try StreamGrounder(stream: "s", model: model, settings: Self.settings(),
                                          queries: [GroundingQuery(id: "a", text: "a dog"), GroundingQuery(id: "b", text: "a cat")],
                                          logger: Support.logger)
        let batch = try grounder.process(try Self.frames(5))
        #expect(batch.instances.count == 5 && batch.instances.allSatisfy { $0.count == 2 })
        // Probability 1 everywhere: one instance covering the frame, per query and frame.
        for perQuery in batch.instances.joined() {
            #expect(perQuery.count == 1 && perQuery[0].area == 48 * 32 && abs(perQuery[0].score - 1) < 1e-4)
        }
        #expect(batch.events.filter { $0.kind == .start }.count == 2)
        let ended = grounder.finish()
        #expect(ended.map(\.kind) == [.end, .end] && ended.allSatisfy { $0.reason == .streamEnded })
        #expect(batch.encoderSeconds > 0 && batch.groundingSeconds > 0)
    }

    @Test func queriesWithTheSameTextDoNotSplitPatches() throws {
        let model = try #require(Self.model)
        let grounder = try StreamGrounder(stream: "s", model: model, settings: Self.settings(contrast: true),
                                          queries: [GroundingQuery(id: "a", text: "a dog"), GroundingQuery(id: "b", text: "a dog")],
                                          logger: Support.logger)
        let batch = try grounder.process(try Self.frames(2))
        // Both queries see the same single class: probability 1, not 1/2 each.
        for perQuery in batch.instances.joined() { #expect(perQuery.count == 1 && abs(perQuery[0].score - 1) < 1e-4) }
    }

    @Test func removingAQueryEndsItsTubes() throws {
        let model = try #require(Self.model)
        let grounder = try StreamGrounder(stream: "s", model: model, settings: Self.settings(),
                                          queries: [GroundingQuery(id: "a", text: "a dog"), GroundingQuery(id: "b", text: "a cat")],
                                          logger: Support.logger)
        _ = try grounder.process(try Self.frames(5))
        let ended = try grounder.setQueries([GroundingQuery(id: "b", text: "a cat")])
        #expect(ended.map(\.kind) == [.end] && ended[0].query == "a" && ended[0].reason == .queryRemoved)
        let next = try grounder.process(try Self.frames(2, start: 5))
        #expect(next.instances.allSatisfy { $0.count == 1 })
        #expect(next.events.allSatisfy { $0.query == "b" })
        // A query that leaves this stream but is still defined (it watches other streams now)
        // ends here as reconfigured.
        let moved = try grounder.setQueries([], defined: ["b"])
        #expect(moved.map(\.kind) == [.end] && moved[0].query == "b" && moved[0].reason == .queryReconfigured)
    }

    @Test func changingAQuerysThresholdOrMinimumDurationEndsItsTubesOnly() throws {
        let model = try #require(Self.model)
        let grounder = try StreamGrounder(stream: "s", model: model, settings: Self.settings(),
                                          queries: [GroundingQuery(id: "a", text: "a dog"), GroundingQuery(id: "b", text: "a cat")],
                                          logger: Support.logger)
        _ = try grounder.process(try Self.frames(5))
        let ended = try grounder.setQueries([GroundingQuery(id: "a", text: "a dog", threshold: 0.7), GroundingQuery(id: "b", text: "a cat")])
        #expect(ended.map(\.kind) == [.end] && ended[0].query == "a" && ended[0].reason == .queryReconfigured)
        #expect(try grounder.setQueries([GroundingQuery(id: "a", text: "a dog", threshold: 0.7, minDuration: 2),
                                         GroundingQuery(id: "b", text: "a cat")]).isEmpty, "a's tube had not started again yet")
        // Probability 1 everywhere: a's new tube waits 2 s (20 frames), b's goes on.
        let next = try grounder.process(try Self.frames(10, start: 5))
        #expect(next.events.allSatisfy { $0.query == "b" })
        let later = try grounder.process(try Self.frames(12, start: 15))
        #expect(later.events.contains { $0.query == "a" && $0.kind == .start })
        #expect(throws: SightlineError.self) { try grounder.setQueries([GroundingQuery(id: "a", text: "a dog", threshold: 1)]) }
        #expect(throws: SightlineError.self) { try grounder.setQueries([GroundingQuery(id: "a", text: "a dog", minDuration: -1)]) }
    }

    @Test func contrastSplitsProbabilities() throws {
        let model = try #require(Self.model)
        let grounder = try StreamGrounder(stream: "s", model: model, settings: Self.settings(background: ["sky", "road"], contrast: true),
                                          queries: [GroundingQuery(id: "a", text: "a dog")], logger: Support.logger)
        let batch = try grounder.process(try Self.frames(1))
        // Against two background words a query can no longer be certain everywhere.
        #expect(batch.instances[0][0].allSatisfy { $0.score < 0.999 })
    }

    @Test func rejectsBadQueriesAndSettings() throws {
        let model = try #require(Self.model)
        let grounder = try StreamGrounder(stream: "s", model: model, settings: Self.settings(), logger: Support.logger)
        #expect(throws: SightlineError.self) { try grounder.setQueries([GroundingQuery(id: "a", text: "x"), GroundingQuery(id: "a", text: "y")]) }
        #expect(throws: SightlineError.self) { try grounder.setQueries([GroundingQuery(id: "a", text: "  ")]) }
        var bad = Self.settings()
        bad.templates = ["no placeholder"]
        #expect(throws: SightlineError.self) { try StreamGrounder(stream: "s", model: model, settings: bad, logger: Support.logger) }
        // With no query, frames still go through and nothing comes out.
        let batch = try grounder.process(try Self.frames(2))
        #expect(batch.events.isEmpty && batch.instances.allSatisfy { $0.isEmpty })
    }
}

@Suite struct StreamGrounderBatchTests {
    @Test func precomputedEmbeddingsGiveTheSameResult() throws {
        let model = try #require(StreamGrounderTests.model)
        let queries = [GroundingQuery(id: "a", text: "a dog")]
        let settings = StreamGrounderTests.settings(background: ["sky"], contrast: true)
        let frames = try StreamGrounderTests.frames(3)
        let one = try StreamGrounder(stream: "s", model: model, settings: settings, queries: queries, logger: Support.logger)
        let two = try StreamGrounder(stream: "s", model: model, settings: settings, queries: queries, logger: Support.logger)
        let direct = try one.process(frames)
        let dense = try model.encodeDense(frames.map(\.image), shortSide: settings.shortSide)
        let given = try two.process(frames, dense: dense)
        #expect(direct.instances == given.instances)
        #expect(throws: SightlineError.self) { try two.process(frames, dense: Array(dense.prefix(2))) }
    }

    @Test func framesOfAnotherSizeStartAFreshRun() throws {
        let model = try #require(StreamGrounderTests.model)
        let grounder = try StreamGrounder(stream: "s", model: model, settings: StreamGrounderTests.settings(),
                                          queries: [GroundingQuery(id: "a", text: "a dog")], logger: Support.logger)
        let frames = try StreamGrounderTests.frames(2) + StreamGrounderTests.frames(2, start: 2, width: 40, height: 40)
        let batch = try grounder.process(frames)
        #expect(batch.instances.count == 4)
        #expect(batch.instances[3][0].first?.mask.frameWidth == 40)
    }
}
