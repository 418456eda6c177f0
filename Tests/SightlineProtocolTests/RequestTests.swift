import Foundation
import SightlineCore
import SightlineGrounding
import Testing

@testable import SightlineProtocol

@Suite struct RequestTests {
    func decode(_ text: String) -> Result<Request, RequestError> {
        Request.decode(line: Array(text.utf8))
    }

    func error(_ text: String) -> RequestError? {
        if case .failure(let e) = decode(text) { return e }
        return nil
    }

    @Test func decodesEveryOperation() throws {
        let cases: [(String, RequestOperation)] = [
            (#"{"id":1,"op":"status"}"#, .status),
            (#"{"id":2,"op":"stream.add","params":{"id":"cam1","uri":"rtsp://cam/1","fps":5}}"#,
             .streamAdd(StreamSpec(id: "cam1", uri: "rtsp://cam/1", fps: 5))),
            (#"{"id":3,"op":"stream.add","params":{"uri":"/v/a.mp4","loop":true}}"#, .streamAdd(StreamSpec(uri: "/v/a.mp4", loop: true))),
            (#"{"id":3,"op":"stream.add","params":{"uri":"/v/a.mp4","short_side":360}}"#, .streamAdd(StreamSpec(uri: "/v/a.mp4", shortSide: 360))),
            (#"{"id":3,"op":"stream.add","params":{"uri":"/v/a.mp4","short_side":0}}"#, .streamAdd(StreamSpec(uri: "/v/a.mp4", shortSide: 0))),
            (#"{"id":4,"op":"stream.remove","params":{"id":"cam1"}}"#, .streamRemove(id: "cam1")),
            (#"{"id":5,"op":"stream.list"}"#, .streamList),
            (#"{"id":6,"op":"query.add","params":{"text":"  a white car ","streams":["cam1"],"threshold":0.3,"min_duration":1.5}}"#,
             .queryAdd(QuerySpec(text: "a white car", streams: ["cam1"], threshold: 0.3, minDuration: 1.5))),
            (#"{"id":7,"op":"query.remove","params":{"id":"q-1"}}"#, .queryRemove(id: "q-1")),
            (#"{"id":8,"op":"query.list","params":{}}"#, .queryList),
            (#"{"id":9,"op":"subscribe","params":{"streams":["cam1"],"queries":["q-1"],"detail":"box","status":false}}"#,
             .subscribe(Subscription(streams: ["cam1"], queries: ["q-1"], detail: .box, status: false))),
            (#"{"id":10,"op":"subscribe"}"#, .subscribe(Subscription())),
            (#"{"id":"u","op":"unsubscribe","params":null}"#, .unsubscribe),
            (#"{"id":11,"op":"ground","params":{"path":"file:///v/a%20b.mp4","texts":["a bike"," a dog "],"fps":2,"detail":"box"}}"#,
             .ground(GroundSpec(path: "/v/a b.mp4", texts: ["a bike", "a dog"], fps: 2, detail: .box))),
            (#"{"id":12,"op":"ground","params":{"path":"/v/a.mp4","texts":["a bike"],"short_side":240}}"#,
             .ground(GroundSpec(path: "/v/a.mp4", texts: ["a bike"], shortSide: 240))),
        ]
        for (line, operation) in cases {
            let request = try decode(line).get()
            #expect(request.operation == operation)
            // What a client writes, the server reads back the same.
            #expect(try Request.decode(request.json).get() == request)
        }
        #expect(Set(cases.map(\.1.name)) == Set(RequestOperation.names))
    }

    @Test func repeatsTheIdItWasGiven() throws {
        #expect(try decode(#"{"id":"abc-1","op":"status"}"#).get().id == .string("abc-1"))
        #expect(try decode(#"{"op":"status"}"#).get().id == .null)
        #expect(error(#"{"id":42,"op":"nope"}"#)?.id == .integer(42))
    }

    @Test(arguments: [
        (#"[1,2]"#, SightlineError.Code.invalidRequest, "must be a JSON object"),
        (#"{"id":[1],"op":"status"}"#, .invalidRequest, "id: expected integer or string"),
        (#"{"id":1}"#, .invalidRequest, "op: required"),
        (#"{"id":1,"op":5}"#, .invalidRequest, "op: expected string, got number"),
        (#"{"id":1,"op":"status","extra":1}"#, .invalidRequest, "extra: unknown member"),
        (#"{"id":1,"op":"frobnicate"}"#, .unknownOperation, "unknown operation \"frobnicate\""),
        (#"{"id":1,"op":"status","params":[]}"#, .invalidParams, "params: expected object, got array"),
        (#"{"id":1,"op":"status","params":{"verbose":true}}"#, .invalidParams, "params.verbose: unknown parameter"),
        (#"{"id":1,"op":"stream.add","params":{}}"#, .invalidParams, "params.uri: required"),
        (#"{"id":1,"op":"stream.add","params":{"uri":7}}"#, .invalidParams, "params.uri: expected string, got number"),
        (#"{"id":1,"op":"stream.add","params":{"uri":"videos/a.mp4"}}"#, .invalidParams, "is neither a URI nor an absolute path"),
        (#"{"id":1,"op":"stream.add","params":{"uri":"file:///a","id":"../etc"}}"#, .invalidParams, "not a valid id"),
        (#"{"id":1,"op":"stream.add","params":{"uri":"file:///a","fps":0}}"#, .invalidParams, "params.fps: 0.0 is outside"),
        (#"{"id":1,"op":"stream.add","params":{"uri":"file:///a","fps":"2"}}"#, .invalidParams, "params.fps: expected number, got string"),
        (#"{"id":1,"op":"stream.add","params":{"uri":"file:///a","short_side":32}}"#, .invalidParams, "params.short_side: 32 is not 0 (the source's size) or 64...4320"),
        (#"{"id":1,"op":"stream.add","params":{"uri":"file:///a","short_side":5000}}"#, .invalidParams, "params.short_side: 5000 is outside"),
        (#"{"id":1,"op":"stream.add","params":{"uri":"file:///a","short_side":480.5}}"#, .invalidParams, "params.short_side: expected integer"),
        (#"{"id":1,"op":"ground","params":{"path":"/clip.mp4","texts":["a"],"short_side":-1}}"#, .invalidParams, "params.short_side: -1 is outside"),
        (#"{"id":1,"op":"query.add","params":{}}"#, .invalidParams, "params.text: required"),
        (#"{"id":1,"op":"query.add","params":{"text":"   "}}"#, .invalidParams, "params.text: must not be empty"),
        (#"{"id":1,"op":"query.add","params":{"text":"a","threshold":2}}"#, .invalidParams, "params.threshold: 2.0 is outside"),
        (#"{"id":1,"op":"query.add","params":{"text":"a","streams":"cam1"}}"#, .invalidParams, "params.streams: expected array of strings"),
        (#"{"id":1,"op":"query.add","params":{"text":"a","streams":["ok",3]}}"#, .invalidParams, "params.streams[1]: expected string, got number"),
        (#"{"id":1,"op":"query.remove","params":{}}"#, .invalidParams, "params.id: required"),
        (#"{"id":1,"op":"subscribe","params":{"detail":"full"}}"#, .invalidParams, "params.detail: \"full\" is not one of rle, box, none"),
        (#"{"id":1,"op":"subscribe","params":{"status":"yes"}}"#, .invalidParams, "params.status: expected boolean"),
        (#"{"id":1,"op":"status""#, .parseError, "invalid JSON"),
        (#"{"id":1,"op":"ground","params":{"path":"clip.mp4","texts":["a"]}}"#, .invalidParams, "is not an absolute path"),
        (#"{"id":1,"op":"ground","params":{"path":"/clip.mp4","texts":[]}}"#, .invalidParams, "params.texts: required"),
        (#"{"id":1,"op":"ground","params":{"path":"/clip.mp4","texts":["a",""]}}"#, .invalidParams, "params.texts[1]"),
        (#"{"id":1,"op":"ground","params":{"path":"/clip.mp4","texts":["a"],"stream":"a/b"}}"#, .invalidParams, "not a valid id"),
    ])
    func answersBadRequestsWithAClearError(line: String, code: SightlineError.Code, fragment: String) {
        let e = error(line)
        #expect(e?.error.code == code)
        #expect(e?.error.message.contains(fragment) == true, "\(e?.error.message ?? "no error")")
    }

    @Test func queryTextHasALengthLimit() {
        let long = String(repeating: "a", count: QuerySpec.maxTextBytes + 1)
        #expect(error(#"{"id":1,"op":"query.add","params":{"text":"\#(long)"}}"#)?.error.message.contains("longer than") == true)
    }

    @Test(arguments: ["cam1", "a", "Front-door_2.hd", String(repeating: "x", count: 64)])
    func acceptsIds(id: String) { #expect(Identifier.isValid(id)) }

    @Test(arguments: ["", "-a", ".hidden", "a/b", "a b", "é", String(repeating: "x", count: 65), "a\n"])
    func rejectsIds(id: String) { #expect(!Identifier.isValid(id)) }

    @Test func repliesRoundTrip() throws {
        let ok = Reply.success(.integer(7), ["query": ["id": "q-1"]])
        #expect(JSONWriter.string(ok.json) == #"{"id":7,"ok":true,"result":{"query":{"id":"q-1"}}}"#)
        #expect(try Reply(json: ok.json) == ok)
        let failed = Reply.failure(.string("x"), SightlineError(.notFound, "no stream \"cam9\"", context: ["stream": "cam9"]))
        #expect(JSONWriter.string(failed.json)
            == #"{"id":"x","ok":false,"error":{"code":"not_found","message":"no stream \"cam9\"","context":{"stream":"cam9"}}}"#)
        #expect(try Reply(json: failed.json) == failed)
        #expect(try ServerMessage(json: failed.json) == .reply(failed))
    }

    @Test func eventsCarryTheirName() throws {
        let hello = ServerHello(version: "0.1.0")
        #expect(JSONWriter.string(hello.json) == #"{"event":"hello","protocol":1,"server":"sightlined","version":"0.1.0"}"#)
        #expect(try ServerHello(json: hello.json) == hello)
        #expect(Event.lagged(dropped: 42).line() == Array(#"{"event":"lagged","dropped":42}"#.utf8) + [10])
        let status = SourceStatus(stream: "cam1", state: .reconnecting(attempt: 3), error: "connection refused", retryIn: 4,
                                  time: Date(timeIntervalSince1970: 0))
        #expect(String(decoding: Event.streamStatus(StreamStatusEvent(status)).line(), as: UTF8.self)
            == #"{"event":"stream.status","stream":"cam1","state":"reconnecting","attempt":3,"error":"connection refused","retry_in":4,"time":"1970-01-01T00:00:00.000Z"}"# + "\n")
        let failed = SourceStatus(stream: "cam2", state: .failed("no such file"), time: Date(timeIntervalSince1970: 1))
        #expect(StreamStatusEvent(failed).json["error"] == "no such file")
    }

    @Test func matchLinesCarryTheDetailAsked() throws {
        let mask = try RLEMask(height: 2, width: 2, counts: [1, 2, 1])
        let frame = MatchFrame(pts: 1.5, score: 0.8, box: mask.boundingBox, point: PixelPoint(x: 1, y: 0), mask: mask)
        let match = MatchEvent(kind: .start, stream: "cam1", query: "q-1", text: "a bike", track: 3,
                               time: Date(timeIntervalSince1970: 2), pts: 1.5, frames: [frame])
        func frame0(_ detail: MaskDetail) throws -> JSONValue? {
            let line = Event.match(match).line(detail: detail)
            #expect(line.last == 10 && line.dropLast().allSatisfy { $0 != 10 })
            let parsed = try JSONParser().parse(line)
            #expect(parsed["event"] == "match.start" && parsed["stream"] == "cam1" && parsed["query"] == "q-1")
            return parsed["frames"]?.arrayValue?.first
        }
        #expect(try frame0(.rle)?["mask"]?["size"] == [2, 2])
        let box = try frame0(.box)
        #expect(box?["mask"] == nil && box?["box"] != nil && box?["point"] != nil)
        let none = try frame0(.none)
        #expect(none?["mask"] == nil && none?["box"] == nil && none?["point"] == nil && none?["score"] == 0.8)
    }
}
