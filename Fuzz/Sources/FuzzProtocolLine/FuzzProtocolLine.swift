// The daemon's request path for bytes a socket peer sends: the line decoder splits the input
// (fed in two chunks, so that a line spanning reads is covered), and each line goes through
// JSONParser and Request.decode; and a client's path for event lines, MatchEvent(json:).
// Errors are the expected outcome for most inputs; only a trap or a sanitizer report is a
// finding.
import SightlineCore
import SightlineGrounding
import SightlineProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: start.assumingMemoryBound(to: UInt8.self), count: count)
    // A small limit so that the over-long path is reached with inputs libFuzzer can grow to.
    var decoder = LineDecoder(maxLineBytes: 256)
    let split = count == 0 ? 0 : Int(bytes[0]) % (count + 1)
    var outputs = decoder.feed(bytes[..<split])
    outputs += decoder.feed(bytes[split...])
    _ = decoder.finish()
    for output in outputs {
        guard case .line(let line) = output else { continue }
        decode(line)
    }
    // The whole input as one line too, with the real limit, so that lines longer than the
    // small limit above still reach the parser.
    decode(Array(bytes))
    return 0
}

private func decode(_ line: [UInt8]) {
    switch Request.decode(line: line) {
    case .success(let request):
        // A decoded request must survive being written and read again: the client writes
        // requests with the same types.
        let written = JSONWriter.bytes(request.json)
        let reread = Request.decode(line: written)
        if reread != .success(request) {
            fatalError("request round trip: \(request) written as \(String(decoding: written, as: UTF8.self)) reads back as \(reread)")
        }
        _ = request.operation.isMutating
    case .failure(let failure):
        _ = failure.error.message
    }
    // Any value the parser accepts, the writer must write so that it reads back the same
    // (a double with an integral value is written without a fraction, so reads back as an
    // integer: JSON does not tell them apart).
    if let value = try? JSONParser().parse(line) {
        let written = JSONWriter.bytes(value)
        let reread = Result { () throws(SightlineError) in try JSONParser().parse(written) }
        guard case .success(let back) = reread, equivalent(back, value) else {
            fatalError("JSON round trip: \(value) written as \(String(decoding: written, as: UTF8.self)) reads back as \(reread)")
        }
    }
    // A match event the reader accepts is written and read again to the same line (compared as
    // lines: a null number reads as NaN, which equals nothing).
    if let value = try? JSONParser().parse(line), let event = try? MatchEvent(json: value) {
        let written = JSONWriter.bytes(event.json)
        let back = try? MatchEvent(json: JSONParser().parse(written))
        guard let back, JSONWriter.bytes(back.json) == written else {
            fatalError("match event round trip: \(event) written as \(String(decoding: written, as: UTF8.self)) reads back as \(String(describing: back))")
        }
    }
    // A shallow depth limit reaches the depth check with short inputs.
    _ = try? JSONParser(maxDepth: 3).parse(line)
}

private func equivalent(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.integer(let i), .double(let d)), (.double(let d), .integer(let i)): Double(i) == d
    case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { equivalent($0, $1) }
    case (.object(let x), .object(let y)):
        x.members.count == y.members.count
            && zip(x.members, y.members).allSatisfy { $0.key == $1.key && equivalent($0.value, $1.value) }
    default: a == b
    }
}
