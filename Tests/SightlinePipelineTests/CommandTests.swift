import Foundation
import Testing
import SightlineCore
import SightlineGrounding
import SightlineMedia
import SightlineProtocol
@testable import SightlinePipeline

/// `sightline ground` and `sightline eval` end to end with the tiny test model. Its weights
/// are random, so these check that outputs are complete and valid, not what they find; with
/// no background words and no contrast between queries every query holds everywhere, which
/// makes tubes certain.
@Suite(.serialized) struct CommandTests {
    @Test func groundWritesEventsPicturesAndContactSheets() async throws {
        let out = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try await Support.run(["ground", Support.clip, "--query", "a boy riding a bike", "--query", "a tree",
                                      "--model", Support.tinyModel, "--out", out, "--background", "", "--no-query-contrast",
                                      "--refine-max-side", "64", "--sample-rate", "4"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("test model"))
        let lines = try String(contentsOfFile: out + "/events.jsonl", encoding: .utf8).split(separator: "\n")
        let events = try lines.map { try MatchEvent(json: JSONParser().parse(String($0))) }
        #expect(!events.isEmpty)
        #expect(Set(events.map(\.query)) == ["q1", "q2"])
        #expect(events.allSatisfy { $0.stream == Support.clip })
        var frames: [Int: [MatchFrame]] = [:]
        for e in events { frames[e.track, default: []] += e.frames }
        for (track, kinds) in Dictionary(grouping: events, by: \.track).mapValues({ $0.map(\.kind) }) {
            #expect(kinds.first == .start && kinds.last == .end, "track \(track): \(kinds)")
            #expect(kinds.dropFirst().dropLast().allSatisfy { $0 == .update })
        }
        for e in events where e.kind == .end {
            let pts = frames[e.track]!.map(\.pts)
            #expect(e.span == MatchSpan(startPts: pts.first!, endPts: pts.last!))
        }
        for f in frames.values.joined() {
            let mask = try #require(f.mask)
            #expect(mask.height == 240 && mask.width == 428)
            #expect(mask.area > 0 && mask.boundingBox == f.box)
            #expect((0...1).contains(f.score))
            #expect(mask.decoded()[f.point!.x, f.point!.y])
        }
        // A picture per track at least, readable, at frame size; a contact sheet per query.
        let pictures = try FileManager.default.subpathsOfDirectory(atPath: out + "/pictures").filter { $0.hasSuffix(".png") }
        #expect(pictures.count >= frames.count)
        let picture = try ImageFile.read(out + "/pictures/" + pictures[0])
        #expect(picture.width == 428 && picture.height == 240)
        for sheet in ["q1-a-boy-riding-a-bike.png", "q2-a-tree.png"] {
            let image = try ImageFile.read(out + "/" + sheet)
            #expect(image.width > 240)
        }
        #expect(result.stdout.contains("events: \(out)/events.jsonl (\(events.count) events)"))
        #expect(!result.stdout.contains("motion:"), "the change detector is drawn and counted only when asked")
    }

    /// `--show-motion` on a fixed camera whose first seconds are still: some frames changed,
    /// not all, and the pictures carry the motion boxes' colour.
    @Test func groundShowsMotionWhenAsked() async throws {
        let out = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try await Support.run(["ground", Support.fixtures + "/media/bottle-detection.mp4", "--query", "a bottle",
                                            "--model", Support.tinyModel, "--out", out, "--background", "", "--no-query-contrast",
                                            "--refine-max-side", "64", "--sample-rate", "2", "--show-motion"])
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("motion: ") }, "\(result.stdout)")
        let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        try #require(numbers.count == 3, "\(line)")
        #expect(numbers[1] >= 70 && numbers[0] > numbers[1] / 2 && numbers[0] < numbers[1] && numbers[2] >= 1, "\(line)")
        let pictures = try FileManager.default.subpathsOfDirectory(atPath: out + "/pictures").filter { $0.hasSuffix(".png") }
        var coloured = 0
        for name in pictures {
            let image = try ImageFile.read(out + "/pictures/" + name)
            let c = Colour.motion
            coloured += stride(from: 0, to: image.pixels.count, by: 3).filter {
                image.pixels[$0] == c.r && image.pixels[$0 + 1] == c.g && image.pixels[$0 + 2] == c.b
            }.count
        }
        #expect(coloured > 0, "no motion box drawn on \(pictures.count) pictures")
    }

    @Test func groundReportsBadInput() async throws {
        let out = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let missing = try await Support.run(["ground", out + "/nope.mp4", "--query", "x", "--model", Support.tinyModel, "--out", out])
        #expect(missing.status != 0 && missing.stderr.contains("file_not_found"), "\(missing.stderr)")
        let notVideo = out + "/text.mp4"
        try "not a video".write(toFile: notVideo, atomically: true, encoding: .utf8)
        let corrupt = try await Support.run(["ground", notVideo, "--query", "x", "--model", Support.tinyModel, "--out", out + "/o"])
        #expect(corrupt.status != 0 && corrupt.stderr.contains("invalid_file"), "\(corrupt.stderr)")
        let noModel = try await Support.run(["ground", Support.clip, "--query", "x", "--model", out + "/no-model", "--out", out + "/o"])
        #expect(noModel.status != 0 && noModel.stderr.contains("model directory"), "\(noModel.stderr)")
        let noQuery = try await Support.run(["ground", Support.clip, "--model", Support.tinyModel, "--out", out + "/o"])
        #expect(noQuery.status != 0 && noQuery.stderr.contains("--query"), "\(noQuery.stderr)")
    }

    @Test func evalScoresEveryCase() async throws {
        let out = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try await Support.run(["eval", "--davis", Support.davisSubset, "--expressions", Support.davisSubset + "/expressions.csv",
                                      "--model", Support.tinyModel, "--out", out + "/scores.json", "--fps", "3",
                                      "--background", "", "--refine-max-side", "64"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONDecoder().decode(EvaluationReport.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/scores.json")))
        #expect(report.testModel)
        // Without --precision, auto: the self-check chose one, and the report and the log say which.
        let precision = try #require(report.precision)
        #expect(["fp32", "int8", "bf16"].contains(precision))
        #expect(result.stderr.contains("engine precision \(precision) (auto"), "\(result.stderr)")
        #expect(result.stdout.contains("Engine precision: \(precision)."))
        #expect(report.cases.map(\.sequence) == ["bmx-trees", "horsejump-high", "soapbox"])
        for c in report.cases {
            #expect(c.frames == 6)
            #expect(c.tracks >= 1 && c.bestTrack != nil)
            for v in [c.j, c.f, c.jf] { #expect((0...1).contains(v)) }
            #expect(abs(c.jf - (c.j + c.f) / 2) < 1e-12)
        }
        #expect(abs(report.mean.j - report.cases.map(\.j).reduce(0, +) / 3) < 1e-12)
        for name in ["bmx-trees", "horsejump-high", "soapbox", "J&F", "mean", "mean nothing"] {
            #expect(result.stdout.contains(name), "table lacks \(name)")
        }
    }

    /// `--precision` on `ground` and `eval`: as asked, and a bad value is a usage error naming
    /// the choices; the help says that auto is the default.
    @Test func groundAndEvalTakeAPrecision() async throws {
        let out = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let fp32 = try await Support.run(["ground", Support.clip, "--query", "a tree", "--model", Support.tinyModel, "--out", out,
                                          "--refine-max-side", "64", "--sample-rate", "1", "--precision", "fp32"])
        #expect(fp32.status == 0, "\(fp32.stderr)")
        #expect(fp32.stderr.contains("engine precision fp32 (fp32 was asked for)"), "\(fp32.stderr)")
        let int8 = try await Support.run(["ground", Support.clip, "--query", "a tree", "--model", Support.tinyModel, "--out", out + "/int8",
                                          "--refine-max-side", "64", "--sample-rate", "1", "--precision", "int8"])
        #expect(int8.status == 0, "\(int8.stderr)")
        #expect(int8.stderr.contains("engine precision int8 (int8 was asked for"), "\(int8.stderr)")

        for command in [["ground", Support.clip, "--query", "x", "--out", out + "/bad"],
                        ["eval", "--davis", Support.davisSubset, "--expressions", Support.davisSubset + "/expressions.csv"]] {
            for bad in ["int4", "FP32", ""] {
                let refused = try await Support.run(command + ["--model", Support.tinyModel, "--precision", bad])
                #expect(refused.status != 0, "\(command[0]) --precision \(bad)")
                #expect(refused.stderr.contains("--precision must be auto, fp32, int8 or bf16, not \"\(bad)\""), "\(refused.stderr)")
            }
            let help = try await Support.run([command[0], "--help"])
            #expect(help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("auto (the default"), "\(help.stdout)")
        }
    }

    @Test func evalReportsBadDatasets() async throws {
        let bad = try await Support.run(["eval", "--davis", "/nonexistent", "--expressions", "/nonexistent.csv", "--model", Support.tinyModel])
        #expect(bad.status != 0 && bad.stderr.contains("DAVIS root"), "\(bad.stderr)")
    }
}
