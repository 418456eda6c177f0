import Foundation
import Testing
import SightlineCore
@testable import SightlineGrounding

@Suite struct MatchEventTests {
    static let time = Date(timeIntervalSince1970: 1_795_342_503.120)   // 2026-11-22T10:15:03.120Z

    static func sampleMask() throws -> RLEMask {
        RLEMask(try BinaryMask(width: 4, height: 3, values: [0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0]))
    }

    static func sample(kind: MatchEvent.Kind = .start) throws -> MatchEvent {
        MatchEvent(kind: kind, stream: "cam1", query: "q-3f2a", text: "a person riding a bike", track: 12,
                   time: time, pts: 12.48,
                   frames: [MatchFrame(pts: 12.48, score: 0.81, box: PixelBox(x: 1, y: 0, width: 2, height: 3),
                                       point: PixelPoint(x: 2, y: 1), frameSize: PixelSize(width: 4, height: 3), mask: try sampleMask())],
                   span: kind == .end ? MatchSpan(startPts: 12.48, endPts: 15.02) : nil)
    }

    @Test func encodesTheDesignSchema() throws {
        let line = try Self.sample().jsonLine()
        let mask = try Self.sampleMask()
        #expect(line == #"{"event":"match.start","stream":"cam1","query":"q-3f2a","text":"a person riding a bike","track":12,"#
            + #""time":"2026-11-22T10:15:03.120Z","pts":12.48,"frames":[{"pts":12.48,"score":0.81,"box":[1,0,2,3],"point":[2,1],"frame_size":[4,3],"#
            + #""mask":{"size":[3,4],"counts":"\#(mask.compressed)"}}]}"#)
        #expect(!line.contains("\n"))
    }

    @Test(arguments: MatchEvent.Kind.allCases)
    func roundTrips(kind: MatchEvent.Kind) throws {
        let event = try Self.sample(kind: kind)
        let back = try JSONDecoder().decode(MatchEvent.self, from: Data(try event.jsonLine().utf8))
        #expect(back == event)
    }

    @Test func endCarriesSpan() throws {
        let line = try Self.sample(kind: .end).jsonLine()
        #expect(line.contains(#""span":{"start_pts":12.48,"end_pts":15.02}"#))
        #expect(!(try Self.sample(kind: .update).jsonLine()).contains("span"))
    }

    @Test func detailLevelsDropWhatTheySay() throws {
        let event = try Self.sample()
        let rle = event.with(detail: .rle)
        #expect(rle == event)
        let box = try event.with(detail: .box).jsonLine()
        #expect(!box.contains("mask") && box.contains(#""box":[1,0,2,3]"#) && box.contains(#""point":[2,1]"#))
        #expect(box.contains(#""frame_size":[4,3]"#))
        let none = try event.with(detail: .none).jsonLine()
        #expect(!none.contains("mask") && !none.contains("box") && !none.contains("point") && !none.contains("frame_size"))
        #expect(none.contains(#""frames":[{"pts":12.48,"score":0.81}]"#))
        #expect(none.contains(#""track":12"#))
    }

    @Test(arguments: [
        ("1970-01-01T00:00:00.000Z", 0.0),
        ("2026-11-22T10:15:03.120Z", 1_795_342_503.120),
        ("2000-02-29T23:59:59.999Z", 951_868_799.999),
        ("1969-12-31T23:59:59.500Z", -0.5),
    ])
    func timestampsAreUTCWithMilliseconds(text: String, seconds: Double) throws {
        #expect(WireTime.format(Date(timeIntervalSince1970: seconds)) == text)
        let parsed = try #require(WireTime.parse(text))
        #expect(abs(parsed.timeIntervalSince1970 - seconds) < 1e-6)
    }

    @Test(arguments: ["2026-11-22 10:15:03.120Z", "2026-11-22T10:15:03.120", "2026-11-22T10:15:03.120+01:00",
                      "2026-02-30T10:15:03Z", "2026-11-22T24:00:00Z", "2026-11-22T10:15:03.Z", "yesterday", ""])
    func rejectsOtherTimestamps(text: String) {
        #expect(WireTime.parse(text) == nil)
    }

    @Test(arguments: [
        (#""event":"match.start""#, #""event":"stream.status""#, "not a match event"),
        (#""time":"2026-11-22T10:15:03.120Z""#, #""time":"10:15""#, "ISO 8601"),
        (#""box":[1,0,2,3]"#, #""box":[1,0,2]"#, "[x, y, width, height]"),
        (#""box":[1,0,2,3]"#, #""box":[1,0,-2,3]"#, "negative"),
        (#""point":[2,1]"#, #""point":[2]"#, "[x, y]"),
        (#""size":[3,4]"#, #""size":[3,5]"#, "cover"),
        (#""track":12,"#, "", "track"),
    ])
    func rejectsMalformedEvents(replace: String, with: String, says: String) throws {
        let line = try Self.sample().jsonLine().replacingOccurrences(of: replace, with: with)
        do {
            _ = try JSONDecoder().decode(MatchEvent.self, from: Data(line.utf8))
            Issue.record("accepted \(line)")
        } catch {
            #expect("\(error)".contains(says), "\(error)")
        }
    }

    @Test func spanOnlyOnEnd() throws {
        let end = try Self.sample(kind: .end).jsonLine()
        let noSpan = end.replacingOccurrences(of: #","span":{"start_pts":12.48,"end_pts":15.02}"#, with: "")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(MatchEvent.self, from: Data(noSpan.utf8)) }
        let startWithSpan = end.replacingOccurrences(of: "match.end", with: "match.start")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(MatchEvent.self, from: Data(startWithSpan.utf8)) }
    }
}

@Suite struct MatchEventLineTests {
    @Test func escapesTextAndRejectsNonFiniteNumbers() throws {
        var event = try MatchEventTests.sample()
        event.text = "a \"quoted\" \\ query\nwith\tcontrol \u{1} chars and ünïcode"
        let line = try event.jsonLine()
        #expect(!line.contains("\n"))
        #expect(try JSONDecoder().decode(MatchEvent.self, from: Data(line.utf8)) == event)
        event.frames[0].score = .nan
        #expect(throws: SightlineError.self) { try event.jsonLine() }
    }

    @Test func wholeNumbersHaveNoFraction() throws {
        var event = try MatchEventTests.sample()
        event.pts = 3
        #expect(try event.jsonLine().contains(#""pts":3,"#))
    }
}
