import Foundation
import Testing
import SightlineCore
@testable import SightlineGrounding

/// Synthetic probability maps with known objects, run through mask extraction and linking.
struct SyntheticScene {
    struct Object { var x: Double; var y: Double; var radius: Double = 3; var probability: Float = 0.9 }

    static let gridWidth = 32, gridHeight = 24, patch = 2
    static let frame = RGBImage(width: gridWidth * patch, height: gridHeight * patch)
    static let fps = 10.0

    static func map(_ objects: [Object]) throws -> ProbabilityMap {
        var values = [Float](repeating: 0.05, count: gridWidth * gridHeight)
        for o in objects {
            for y in 0..<gridHeight {
                for x in 0..<gridWidth where (Double(x) - o.x) * (Double(x) - o.x) + (Double(y) - o.y) * (Double(y) - o.y) <= o.radius * o.radius {
                    values[y * gridWidth + x] = max(values[y * gridWidth + x], o.probability)
                }
            }
        }
        return try ProbabilityMap(width: gridWidth, height: gridHeight, values: values)
    }

    /// Runs frames through extraction and the linker; returns every event in order.
    static func run(_ frames: [[GroundingQuery: [Object]]], queries: [GroundingQuery],
                    tube: TubeParameters = TubeParameters()) throws -> [MatchEvent] {
        var p = MaskParameters()
        p.refine = false
        let extractor = try MaskExtractor(parameters: p)
        var linker = try TubeLinker(stream: "cam1", parameters: tube)
        var events: [MatchEvent] = []
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for (i, objects) in frames.enumerated() {
            let maps = try queries.map { try map(objects[$0] ?? []) }
            let instances = try extractor.instances(maps: maps, frame: frame, thresholds: queries.map { $0.threshold ?? p.threshold })
            let pts = Double(i) / fps
            events += linker.observe(pts: pts, time: start.addingTimeInterval(pts), detections: Array(zip(queries, instances)).map { ($0.0, $0.1) })
            events += linker.flush()
        }
        return events + linker.finish()
    }

    /// Frames of each track, from its start, updates and end, in order.
    static func frames(of events: [MatchEvent]) -> [Int: [MatchFrame]] {
        var out: [Int: [MatchFrame]] = [:]
        for e in events { out[e.track, default: []] += e.frames }
        return out
    }
}

@Suite struct TubeLinkerTests {
    static let person = GroundingQuery(id: "q-1", text: "a person")
    static let car = GroundingQuery(id: "q-2", text: "a car")

    /// Checks what every event stream must satisfy: one start first, one end last, spans
    /// that agree with the frames, frames in time order.
    static func checkLifecycles(_ events: [MatchEvent]) {
        var started = Set<Int>(), ended = Set<Int>()
        for e in events {
            switch e.kind {
            case .start:
                #expect(started.insert(e.track).inserted, "track \(e.track) started twice")
                #expect(!e.frames.isEmpty)
            case .update:
                #expect(started.contains(e.track) && !ended.contains(e.track))
                #expect(!e.frames.isEmpty)
            case .end:
                #expect(started.contains(e.track))
                #expect(ended.insert(e.track).inserted)
            }
            #expect(e.frames.allSatisfy { $0.pts <= e.pts + 1e-9 && $0.mask != nil && $0.box != nil && $0.point != nil })
        }
        #expect(started == ended, "every started track ends")
        for (track, frames) in SyntheticScene.frames(of: events) {
            let pts = frames.map(\.pts)
            #expect(pts == pts.sorted() && Set(pts).count == pts.count, "track \(track) frames out of order")
            if let end = events.first(where: { $0.kind == .end && $0.track == track }), let span = end.span {
                #expect(span.startPts == pts.first && span.endPts == pts.last)
            }
        }
    }

    @Test func appearsMovesSurvivesShortOcclusionAndLeaves() throws {
        // Visible in frames 5...25 moving right one patch a frame, hidden in 12 and 13.
        var frames: [[GroundingQuery: [SyntheticScene.Object]]] = Array(repeating: [:], count: 35)
        for i in 5...25 where i != 12 && i != 13 {
            frames[i] = [Self.person: [.init(x: Double(i - 2), y: 12)]]
        }
        let events = try SyntheticScene.run(frames, queries: [Self.person])
        Self.checkLifecycles(events)
        #expect(events.filter { $0.kind == .start }.count == 1)
        #expect(events.filter { $0.kind == .end }.count == 1)
        let start = try #require(events.first)
        #expect(start.kind == .start && start.track == 1 && start.stream == "cam1" && start.text == "a person")
        // Confirmed once it spans minDuration 0.3 s: at frame 8, carrying frames 5...8.
        #expect(abs(start.pts - 0.8) < 1e-9)
        #expect(start.frames.map(\.pts) == [0.5, 0.6, 0.7, 0.8])
        let frames1 = SyntheticScene.frames(of: events)[1] ?? []
        #expect(frames1.map { Int(($0.pts * 10).rounded()) } == Array(5...11) + Array(14...25))
        // Ends when the grace period (0.5 s) after frame 25 has passed: at frame 31.
        let end = try #require(events.last)
        #expect(end.kind == .end && abs(end.pts - 3.1) < 1e-9)
        #expect(end.span == MatchSpan(startPts: 0.5, endPts: 2.5))
        // The boxes follow the object to the right.
        let xs = frames1.map { $0.box!.centerX }
        #expect(xs == xs.sorted())
    }

    @Test func flickersShorterThanMinDurationAreNotReported() throws {
        var frames: [[GroundingQuery: [SyntheticScene.Object]]] = Array(repeating: [:], count: 12)
        frames[3] = [Self.person: [.init(x: 10, y: 10)]]
        frames[4] = [Self.person: [.init(x: 10, y: 10)]]
        #expect(try SyntheticScene.run(frames, queries: [Self.person]).isEmpty)
    }

    @Test func hysteresisStartsHighContinuesLow() throws {
        // 0.55 alone never starts (start 0.6); after starting at 0.8 it carries the tube; 0.45 ends it.
        var frames: [[GroundingQuery: [SyntheticScene.Object]]] = Array(repeating: [:], count: 40)
        for i in 0..<8 { frames[i] = [Self.person: [.init(x: 8, y: 8, probability: 0.55)]] }
        for i in 10..<15 { frames[i] = [Self.person: [.init(x: 20, y: 12, probability: 0.8)]] }
        for i in 15..<25 { frames[i] = [Self.person: [.init(x: 20, y: 12, probability: 0.55)]] }
        for i in 25..<40 { frames[i] = [Self.person: [.init(x: 20, y: 12, probability: 0.45)]] }
        let events = try SyntheticScene.run(frames, queries: [Self.person])
        Self.checkLifecycles(events)
        #expect(events.filter { $0.kind == .start }.count == 1)
        let end = try #require(events.first { $0.kind == .end })
        #expect(end.span == MatchSpan(startPts: 1.0, endPts: 2.4))
        #expect(abs(end.pts - 3.0) < 1e-9)
    }

    @Test func twoObjectsCrossingKeepTheirIdentities() throws {
        // A moves right, B moves left along the same row; they overlap mid-way.
        var frames: [[GroundingQuery: [SyntheticScene.Object]]] = []
        for i in 0..<24 {
            frames.append([Self.person: [.init(x: 4 + Double(i), y: 12), .init(x: 27 - Double(i), y: 12)]])
        }
        let events = try SyntheticScene.run(frames, queries: [Self.person])
        Self.checkLifecycles(events)
        let tracks = SyntheticScene.frames(of: events)
        #expect(tracks.count == 2, "tracks: \(tracks.keys.sorted())")
        for (track, frames) in tracks {
            let xs = frames.map { $0.box!.centerX }
            let rising = xs.first! < xs.last!
            // Each track moves one way only (in frames where it is not merged with the other).
            let steps = zip(xs, xs.dropFirst()).map { $1 - $0 }
            #expect(steps.allSatisfy { rising ? $0 >= 0 : $0 <= 0 }, "track \(track) turned back: \(xs)")
            #expect(abs(xs.first! - xs.last!) > 30, "track \(track) did not cross: \(xs)")
        }
    }

    @Test func tracksAreNumberedPerStreamAcrossQueries() throws {
        var frames: [[GroundingQuery: [SyntheticScene.Object]]] = Array(repeating: [:], count: 10)
        for i in 0..<6 { frames[i] = [Self.person: [.init(x: 6, y: 6)], Self.car: [.init(x: 24, y: 16)]] }
        let events = try SyntheticScene.run(frames, queries: [Self.person, Self.car])
        Self.checkLifecycles(events)
        let starts = events.filter { $0.kind == .start }
        #expect(Set(starts.map(\.track)) == [1, 2])
        #expect(Set(starts.map(\.query)) == ["q-1", "q-2"])
    }

    @Test func ptsGoingBackwardsEndsTubes() throws {
        var linker = try TubeLinker(stream: "s")
        let inst = try SyntheticScene.map([.init(x: 10, y: 10)])
        var p = MaskParameters(); p.refine = false
        let instances = try MaskExtractor(parameters: p).instances(maps: [inst], frame: SyntheticScene.frame)[0]
        var events: [MatchEvent] = []
        for i in 0..<6 { events += linker.observe(pts: Double(i) / 10, time: Date(), detections: [(Self.person, instances)]) }
        #expect(events.map(\.kind) == [.start])
        let restart = linker.observe(pts: 0, time: Date(), detections: [(Self.person, instances)])
        #expect(restart.map(\.kind) == [.end])
        #expect(restart[0].reason == .streamRestarted)
        #expect(restart[0].span == MatchSpan(startPts: 0, endPts: 0.5))
        #expect(restart[0].frames.map(\.pts) == [0.4, 0.5])
    }

    @Test func removingAQueryEndsItsTubes() throws {
        var linker = try TubeLinker(stream: "s")
        var p = MaskParameters(); p.refine = false
        let instances = try MaskExtractor(parameters: p).instances(maps: [SyntheticScene.map([.init(x: 10, y: 10)])], frame: SyntheticScene.frame)[0]
        for i in 0..<5 { _ = linker.observe(pts: Double(i) / 10, time: Date(), detections: [(Self.person, instances)]) }
        #expect(linker.remove(query: Self.car.id).isEmpty)
        let ended = linker.remove(query: Self.person.id, reason: .queryReconfigured)
        #expect(ended.map(\.kind) == [.end] && ended[0].reason == .queryReconfigured)
        #expect(linker.activeTracks.isEmpty)
        // Gone, so nothing ends it a second time.
        #expect(linker.finish(reason: .shutdown).isEmpty && linker.remove(query: Self.person.id).isEmpty)
    }

    /// Each way a tube ends says which it was; whichever comes first ends it, once.
    @Test func endsNameTheirReasonAndComeOnce() throws {
        var p = MaskParameters(); p.refine = false
        let instances = try MaskExtractor(parameters: p).instances(maps: [SyntheticScene.map([.init(x: 10, y: 10)])], frame: SyntheticScene.frame)[0]
        var linker = try TubeLinker(stream: "s")
        for i in 0..<5 { _ = linker.observe(pts: Double(i) / 10, time: Date(), detections: [(Self.person, instances)]) }
        let unseen = linker.observe(pts: 5, time: Date(), detections: [])
        #expect(unseen.map(\.kind) == [.end] && unseen[0].reason == .notSeen)
        for i in 60..<65 { _ = linker.observe(pts: Double(i) / 10, time: Date(), detections: [(Self.person, instances)]) }
        let finished = linker.finish(reason: .streamFailed)
        #expect(finished.map(\.kind) == [.end] && finished[0].reason == .streamFailed)
        #expect(linker.finish().isEmpty)
    }

    /// Three queries see the same object at probability 0.45: each query's own threshold
    /// decides whether it matches, and its own minimum duration when its tube starts.
    @Test func eachQueryHasItsOwnThresholdAndMinimumDuration() throws {
        let loose = GroundingQuery(id: "q-loose", text: "a person", threshold: 0.3, minDuration: 0)
        let strict = GroundingQuery(id: "q-strict", text: "a person", threshold: 0.5, minDuration: 0)
        let patient = GroundingQuery(id: "q-patient", text: "a person", threshold: 0.3, minDuration: 1)
        let looseScores = TubeParameters().scores(for: loose)
        #expect(abs(looseScores.start - 0.4) < 1e-6 && looseScores.continue == 0.3)
        #expect(TubeParameters().scores(for: GroundingQuery(id: "x", text: "x", threshold: 0.95)) == (start: 1, continue: 0.95))
        var frames: [[GroundingQuery: [SyntheticScene.Object]]] = []
        for _ in 0..<20 {
            frames.append([loose: [.init(x: 10, y: 10, probability: 0.45)], strict: [.init(x: 10, y: 10, probability: 0.45)],
                           patient: [.init(x: 10, y: 10, probability: 0.45)]])
        }
        let events = try SyntheticScene.run(frames, queries: [loose, strict, patient])
        Self.checkLifecycles(events)
        let starts = Dictionary(grouping: events.filter { $0.kind == .start }, by: \.query)
        #expect(starts["q-strict"] == nil, "0.45 is below q-strict's own threshold")
        #expect(starts["q-loose"]?.map(\.pts) == [0])
        #expect(starts["q-patient"]?.count == 1)
        #expect(abs((starts["q-patient"]?.first?.pts ?? 0) - 1.0) < 1e-9, "starts once its tube spans 1 s")
    }

    @Test func perMapThresholdsMustMatchTheMaps() throws {
        let map = try SyntheticScene.map([.init(x: 10, y: 10, probability: 0.45)])
        var p = MaskParameters(); p.refine = false
        let extractor = try MaskExtractor(parameters: p)
        let found = try extractor.instances(maps: [map, map], frame: SyntheticScene.frame, thresholds: [0.3, 0.5])
        #expect(found[0].count == 1 && found[1].isEmpty)
        #expect(throws: SightlineError.self) { try extractor.instances(maps: [map, map], frame: SyntheticScene.frame, thresholds: [0.3]) }
        #expect(throws: SightlineError.self) { try extractor.instances(maps: [map], frame: SyntheticScene.frame, thresholds: [0]) }
    }

    @Test func rejectsInconsistentParameters() {
        var t = TubeParameters()
        t.startScore = 0.4
        #expect(throws: SightlineError.self) { try TubeLinker(stream: "s", parameters: t) }
        t = TubeParameters()
        t.gracePeriod = -1
        #expect(throws: SightlineError.self) { try TubeLinker(stream: "s", parameters: t) }
        t = TubeParameters()
        t.areaChangeLimit = 1
        #expect(throws: SightlineError.self) { try TubeLinker(stream: "s", parameters: t) }
        t = TubeParameters()
        t.updateInterval = -0.5
        #expect(throws: SightlineError.self) { try TubeLinker(stream: "s", parameters: t) }
    }

    /// While a match holds, `match.update` comes at the configured cadence (here 1 s of a
    /// 10 fps stream, flushed every frame), and together the events still hold every frame.
    @Test func updatesComeAtTheConfiguredCadenceAndLoseNoFrame() throws {
        var frames: [[GroundingQuery: [SyntheticScene.Object]]] = Array(repeating: [:], count: 40)
        for i in 0..<32 { frames[i] = [Self.person: [.init(x: 10, y: 12)]] }
        var tube = TubeParameters()
        tube.updateInterval = 1
        let events = try SyntheticScene.run(frames, queries: [Self.person], tube: tube)
        Self.checkLifecycles(events)
        let kinds = events.map(\.kind)
        #expect(kinds.first == .start && kinds.last == .end)
        let updates = events.filter { $0.kind == .update }
        // Started at 0.3 s, then one update a second; the object goes after 3.1 s, so the
        // last update holds its last eight frames.
        #expect(updates.map { ($0.pts * 10).rounded() / 10 } == [1.3, 2.3, 3.3])
        #expect(updates.map(\.frames.count) == [10, 10, 8])
        #expect(SyntheticScene.frames(of: events)[1]?.count == 32)
        // With no cadence, an update follows every frame.
        let every = try SyntheticScene.run(frames, queries: [Self.person])
        #expect(every.filter { $0.kind == .update }.count == 31 - 3)
    }
}
