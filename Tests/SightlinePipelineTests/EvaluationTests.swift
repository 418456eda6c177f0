import Foundation
import Testing
import SightlineCore
import SightlineGrounding
@testable import SightlinePipeline

@Suite struct EvaluationTests {
    static func mask(_ rect: PixelBox?, width: Int = 8, height: Int = 6) throws -> BinaryMask {
        var m = try BinaryMask(width: width, height: height)
        if let r = rect { for y in r.y..<(r.y + r.height) { for x in r.x..<(r.x + r.width) { m[x, y] = true } } }
        return m
    }

    static func frame(_ pts: Double, _ rect: PixelBox, score: Double) throws -> MatchFrame {
        MatchFrame(pts: pts, score: score, box: rect, point: PixelPoint(x: rect.x, y: rect.y), mask: RLEMask(try mask(rect)))
    }

    static func event(_ kind: MatchEvent.Kind, track: Int, _ frames: [MatchFrame]) -> MatchEvent {
        MatchEvent(kind: kind, stream: "s", query: "q1", text: "x", track: track, time: Date(), pts: frames.last?.pts ?? 0,
                   frames: frames, span: kind == .end ? MatchSpan(startPts: 0, endPts: 0) : nil)
    }

    @Test func predictionIsTheBestTubeByMeanScore() throws {
        let a = PixelBox(x: 0, y: 0, width: 4, height: 3), b = PixelBox(x: 4, y: 3, width: 4, height: 3)
        // Track 1 (mean 0.6) covers frames 0 and 1 at a; track 2 (mean 0.9) covers frame 1 at b.
        let events = [
            Self.event(.start, track: 1, [try Self.frame(0, a, score: 0.7), try Self.frame(1, a, score: 0.5)]),
            Self.event(.start, track: 2, [try Self.frame(1, b, score: 0.9)]),
            Self.event(.end, track: 1, []), Self.event(.end, track: 2, []),
        ]
        // Truth: b in frame 1 only; frame 2 is empty and frame 0 has a.
        let truth = [try Self.mask(a), try Self.mask(b), try Self.mask(nil)]
        let score = try CaseScorer.score(sequence: "s", query: "x", events: events, pts: [0, 1, 2], truth: truth)
        #expect(score.bestTrack == 2 && score.tracks == 2 && score.bestTrackMeanScore == 0.9)
        // Frame 0: prediction empty vs a: J 0. Frame 1: b vs b: J 1. Frame 2: both empty: J 1.
        #expect(abs(score.j - 2.0 / 3.0) < 1e-12)
        // F: frame 0 is 0 (empty prediction), frames 1 and 2 are 1.
        #expect(abs(score.f - 2.0 / 3.0) < 1e-12)
        // Truth present in frames 0 and 1; prediction in frame 1 only: tIoU 1/2.
        #expect(score.tIoU == 0.5)
    }

    @Test func unannotatedFramesAreNotScoredAndNoEmptyTruthMeansNoTIoU() throws {
        let a = PixelBox(x: 0, y: 0, width: 4, height: 3)
        let events = [Self.event(.start, track: 1, [try Self.frame(0, a, score: 0.7)]), Self.event(.end, track: 1, [])]
        let score = try CaseScorer.score(sequence: "s", query: "x", events: events, pts: [0, 1], truth: [try Self.mask(a), nil])
        #expect(score.frames == 1 && score.j == 1 && score.f == 1 && score.tIoU == nil)
        #expect(throws: SightlineError.self) { try CaseScorer.score(sequence: "s", query: "x", events: [], pts: [0], truth: [nil]) }
        #expect(throws: SightlineError.self) { try CaseScorer.score(sequence: "s", query: "x", events: [], pts: [0, 1], truth: [nil]) }
        // Masks of another size than the truth are an error, not a silent zero.
        let wrong = [Self.event(.start, track: 1, [try Self.frame(0, a, score: 0.7)])]
        #expect(throws: SightlineError.self) {
            try CaseScorer.score(sequence: "s", query: "x", events: wrong, pts: [0], truth: [try Self.mask(a, width: 9, height: 6)])
        }
    }

    @Test func reportAveragesAndPrintsATable() {
        let cases = [
            CaseScore(sequence: "a", query: "qa", frames: 2, j: 0.5, f: 0.7, jf: 0.6, tIoU: nil, tracks: 1, bestTrack: 1, bestTrackMeanScore: 0.8),
            CaseScore(sequence: "b", query: "qb", frames: 3, j: 0.3, f: 0.1, jf: 0.2, tIoU: 0.5, tracks: 0, bestTrack: nil, bestTrackMeanScore: nil),
        ]
        let report = EvaluationReport(model: "m", testModel: false, cases: cases)
        #expect(abs(report.mean.j - 0.4) < 1e-12 && abs(report.mean.jf - 0.4) < 1e-12 && report.mean.tIoU == 0.5)
        let table = report.table()
        #expect(table.contains("50.0") && table.contains("40.0") && !table.contains("mean nothing"))
    }

    @Test func datasetChecksLayoutAndExpressions() throws {
        let root = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fm = FileManager.default
        let csv = root + "/cases.csv"
        func expectError(_ says: String, _ text: String?) {
            if let text { try? text.write(toFile: csv, atomically: true, encoding: .utf8) }
            do {
                _ = try DAVISDataset(root: root, expressions: csv)
                Issue.record("accepted; expected \(says)")
            } catch let error as SightlineError {
                #expect(error.description.contains(says), "\(error)")
            } catch { Issue.record("\(error)") }
        }
        expectError("JPEGImages/480p is missing", "sequence;query\nseq;a dog\n")
        try fm.createDirectory(atPath: root + "/JPEGImages/480p/seq", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/Annotations/480p/seq", withIntermediateDirectories: true)
        expectError("holds no frames", nil)
        try Data([0xFF, 0xD8]).write(to: URL(fileURLWithPath: root + "/JPEGImages/480p/seq/00000.jpg"))
        expectError("has no annotations", nil)
        try Data([0x89]).write(to: URL(fileURLWithPath: root + "/Annotations/480p/seq/00000.png"))
        expectError("expected `sequence;query`", "sequence;query\nseq a dog\n")
        expectError("no frames for sequence other", "sequence;query\nother;a dog\n")
        expectError("must not be empty", "sequence;query\nseq;\n")
        expectError("no case", "sequence;query\n")
        expectError("no frames for sequence ..", "sequence;query\n..;a dog\n")
        try "sequence;query\nseq;a dog; with a semicolon\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let dataset = try DAVISDataset(root: root, expressions: csv)
        #expect(dataset.cases == [DAVISDataset.Case(sequence: "seq", query: "a dog; with a semicolon",
                                                    frames: [root + "/JPEGImages/480p/seq/00000.jpg"],
                                                    annotations: [root + "/Annotations/480p/seq/00000.png"])])
        #expect(throws: SightlineError.self) { try DAVISDataset(root: root, expressions: root + "/missing.csv") }
    }
}
