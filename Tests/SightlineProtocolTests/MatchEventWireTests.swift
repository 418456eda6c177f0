import Foundation
import SightlineCore
import SightlineGrounding
import SightlineProtocol
import Testing

/// The wire form of match events, defined in `MatchEventWire.swift` and written by
/// `JSONWriter`: the schema of Docs/protocol.md, read back by `MatchEvent(json:)`.
@Suite struct MatchEventWireTests {
    static let time = Date(timeIntervalSince1970: 1_795_342_503.120)   // 2026-11-22T10:15:03.120Z

    static func sampleMask() throws -> RLEMask {
        RLEMask(try BinaryMask(width: 4, height: 3, values: [0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0]))
    }

    static func sample(kind: MatchEvent.Kind = .start) throws -> MatchEvent {
        MatchEvent(kind: kind, stream: "cam1", query: "q-3f2a", text: "a person riding a bike", track: 12,
                   time: time, pts: 12.48,
                   frames: [MatchFrame(pts: 12.48, score: 0.81, box: PixelBox(x: 1, y: 0, width: 2, height: 3),
                                       point: PixelPoint(x: 2, y: 1), frameSize: PixelSize(width: 4, height: 3), mask: try sampleMask())],
                   span: kind == .end ? MatchSpan(startPts: 12.48, endPts: 15.02) : nil,
                   reason: kind == .end ? .streamRemoved : nil)
    }

    static func line(_ event: MatchEvent) -> String {
        JSONWriter.string(event.json)
    }

    static func read(_ line: String) throws(SightlineError) -> MatchEvent {
        try MatchEvent(json: JSONParser().parse(line))
    }

    @Test func writesTheDocumentedSchema() throws {
        let line = Self.line(try Self.sample())
        let mask = try Self.sampleMask()
        #expect(line == #"{"event":"match.start","stream":"cam1","query":"q-3f2a","text":"a person riding a bike","track":12,"#
            + #""time":"2026-11-22T10:15:03.120Z","pts":12.48,"frames":[{"pts":12.48,"score":0.81,"box":[1,0,2,3],"point":[2,1],"frame_size":[4,3],"#
            + #""mask":{"size":[3,4],"counts":"\#(mask.compressed)"}}]}"#)
    }

    /// What the daemon sends a subscriber is that same text, with its newline.
    @Test(arguments: MaskDetail.allCases)
    func theDaemonsLineIsTheSameWriting(detail: MaskDetail) throws {
        let event = try Self.sample(kind: .end)
        #expect(Event.match(event).line(detail: detail) == Array((Self.line(event.with(detail: detail)) + "\n").utf8))
    }

    @Test(arguments: MatchEvent.Kind.allCases)
    func roundTripsThroughTheProtocolsParser(kind: MatchEvent.Kind) throws {
        let event = try Self.sample(kind: kind)
        #expect(try Self.read(Self.line(event)) == event)
    }

    @Test func endCarriesSpanAndReason() throws {
        let line = Self.line(try Self.sample(kind: .end))
        #expect(line.hasSuffix(#""span":{"start_pts":12.48,"end_pts":15.02},"reason":"stream_removed"}"#))
        let update = Self.line(try Self.sample(kind: .update))
        #expect(!update.contains("span") && !update.contains("reason"))
    }

    /// An end from a daemon before reasons existed still reads; a reason this build does not
    /// know is kept as it is; a start or update with a reason is an error, as with a span.
    @Test func reasonIsOptionalAndOpenEnded() throws {
        let end = Self.line(try Self.sample(kind: .end))
        let old = end.replacingOccurrences(of: #","reason":"stream_removed""#, with: "")
        #expect(try Self.read(old).reason == nil)
        let later = end.replacingOccurrences(of: "stream_removed", with: "camera_moved")
        #expect(try Self.read(later).reason == MatchEndReason(rawValue: "camera_moved"))
        let start = Self.line(try Self.sample(kind: .start))
        #expect(throws: SightlineError.self) { try Self.read(String(start.dropLast()) + #","reason":"shutdown"}"#) }
        #expect(throws: SightlineError.self) { try Self.read(String(old.dropLast()) + #","reason":7}"#) }
    }

    @Test func detailLevelsDropWhatTheySay() throws {
        let event = try Self.sample()
        #expect(event.with(detail: .rle) == event)
        let box = Self.line(event.with(detail: .box))
        #expect(!box.contains("mask") && box.contains(#""box":[1,0,2,3]"#) && box.contains(#""point":[2,1]"#))
        #expect(box.contains(#""frame_size":[4,3]"#))
        let none = Self.line(event.with(detail: .none))
        #expect(!none.contains("mask") && !none.contains("box") && !none.contains("point") && !none.contains("frame_size"))
        #expect(none.contains(#""frames":[{"pts":12.48,"score":0.81}]"#))
        #expect(none.contains(#""track":12"#))
        #expect(try Self.read(none) == event.with(detail: .none))
    }

    /// `carried` is written only when true, at every detail level, and read back; a computed
    /// frame's line is as it was before the field existed.
    @Test func carriedFramesSaySoAtEveryDetailLevel() throws {
        var event = try Self.sample()
        #expect(!Self.line(event).contains("carried"))
        event.frames[0].carried = true
        for detail in MaskDetail.allCases {
            let line = Self.line(event.with(detail: detail))
            #expect(line.contains(#""carried":true"#), "\(detail): \(line)")
            #expect(try Self.read(line) == event.with(detail: detail))
        }
        let computed = Self.line(try Self.sample()).replacingOccurrences(of: #""score":0.81"#, with: #""score":0.81,"carried":false"#)
        #expect(try Self.read(computed).frames[0].carried == false)
        let wrong = Self.line(try Self.sample()).replacingOccurrences(of: #""score":0.81"#, with: #""score":0.81,"carried":"yes""#)
        #expect { try Self.read(wrong) } throws: { ($0 as? SightlineError)?.message.contains("carried") == true }
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
        (#""box":[1,0,2,3]"#, #""box":[1,0,2.5,3]"#, "integers"),
        (#""point":[2,1]"#, #""point":[2]"#, "[x, y]"),
        (#""frame_size":[4,3]"#, #""frame_size":[0,3]"#, "positive"),
        (#""size":[3,4]"#, #""size":[3,5]"#, "cover"),
        (#""size":[3,4]"#, #""size":[4611686018427387904,4]"#, "more pixels than can be counted"),
        (#""track":12,"#, "", "event.track: required"),
        (#""score":0.81"#, #""score":"high""#, "event.frames[0].score: expected number"),
    ])
    func rejectsMalformedEvents(replace: String, with: String, says: String) throws {
        let line = Self.line(try Self.sample()).replacingOccurrences(of: replace, with: with)
        #expect(line != Self.line(try Self.sample()), "the case replaces nothing")
        do {
            _ = try Self.read(line)
            Issue.record("accepted \(line)")
        } catch {
            #expect(error.message.contains(says), "\(error)")
        }
    }

    @Test func spanOnlyOnEnd() throws {
        let end = Self.line(try Self.sample(kind: .end))
        let noSpan = end.replacingOccurrences(of: #","span":{"start_pts":12.48,"end_pts":15.02}"#, with: "")
        #expect(throws: SightlineError.self) { try Self.read(noSpan) }
        let startWithSpan = end.replacingOccurrences(of: "match.end", with: "match.start")
        #expect(throws: SightlineError.self) { try Self.read(startWithSpan) }
    }

    /// Later protocol versions may add members; a client reads what it knows.
    @Test func ignoresMembersItDoesNotKnow() throws {
        let line = Self.line(try Self.sample()).replacingOccurrences(of: #""track":12,"#, with: #""track":12,"confidence":{"x":1},"#)
        #expect(try Self.read(line) == (try Self.sample()))
    }
}

/// Strings and numbers in a match event: what JSON cannot carry as it is.
@Suite struct MatchEventTextAndNumberTests {
    @Test func controlCharactersAreEscapedAndReadBack() throws {
        var event = try MatchEventWireTests.sample()
        event.text = "a \"quoted\" \\ query\nwith\tcontrol \u{0}\u{1}\u{8}\u{C}\r\u{1B}\u{1F} chars"
        let line = MatchEventWireTests.line(event)
        #expect(line.contains(#"a \"quoted\" \\ query\nwith\tcontrol \u0000\u0001\u0008\u000c\r\u001b\u001f chars"#), "\(line)")
        #expect(!line.utf8.contains { $0 < 0x20 })
        #expect(try MatchEventWireTests.read(line) == event)
    }

    /// DEL is valid raw in JSON, but invisible in a terminal or a log: written as \u007f.
    @Test func deleteIsWrittenEscaped() throws {
        var event = try MatchEventWireTests.sample()
        event.stream = "cam\u{7F}1"
        let line = MatchEventWireTests.line(event)
        #expect(line.contains(#""stream":"cam\u007f1""#), "\(line)")
        #expect(!line.utf8.contains(0x7F))
        #expect(try MatchEventWireTests.read(line).stream == "cam\u{7F}1")
        // A peer that writes DEL raw is read all the same.
        let raw = line.replacingOccurrences(of: #"\u007f"#, with: "\u{7F}")
        #expect(try MatchEventWireTests.read(raw).stream == "cam\u{7F}1")
    }

    @Test(arguments: ["un vélo rouge", "自転車に乗る人", "🚲 on the street", "Fahrrad\u{2028}Straße", "e\u{301}"])
    func nonASCIITextTravelsAsUTF8(text: String) throws {
        var event = try MatchEventWireTests.sample()
        event.text = text
        let bytes = Event.match(event).line()
        // Written as it is, not as \u escapes: only ASCII control characters are escaped.
        #expect(bytes.count - 1 == MatchEventWireTests.line(event).utf8.count)
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""text":"\#(text)""#))
        #expect(try MatchEvent(json: JSONParser().parse(bytes)).text == text)
    }

    /// JSON has no NaN or infinity. Such a number is written as null, so the event still
    /// reaches the subscriber as valid JSON, and is read back as NaN.
    @Test(arguments: [Double.nan, .infinity, -.infinity, .signalingNaN])
    func nonFiniteNumbersAreWrittenAsNull(value: Double) throws {
        var event = try MatchEventWireTests.sample(kind: .end)
        event.frames[0].score = value
        event.pts = value
        event.span?.endPts = value
        let line = MatchEventWireTests.line(event)
        #expect(line.contains(#""pts":null,"frames":[{"pts":12.48,"score":null,"box""#), "\(line)")
        #expect(line.contains(#""end_pts":null}"#))
        #expect(!line.lowercased().contains("nan") && !line.lowercased().contains("inf"))
        let back = try MatchEventWireTests.read(line)
        #expect(back.pts.isNaN && back.frames[0].score.isNaN && back.span?.endPts.isNaN == true)
        #expect(back.frames[0].pts == 12.48 && back.span?.startPts == 12.48)
        // Foundation's parser, standing in for any other JSON reader, accepts the line.
        #expect(throws: Never.self) { try JSONSerialization.jsonObject(with: Data(line.utf8)) }
    }

    @Test func wholeNumbersHaveNoFraction() throws {
        var event = try MatchEventWireTests.sample()
        event.pts = 3
        #expect(MatchEventWireTests.line(event).contains(#""pts":3,"#))
        #expect(try MatchEventWireTests.read(MatchEventWireTests.line(event)).pts == 3)
    }
}
