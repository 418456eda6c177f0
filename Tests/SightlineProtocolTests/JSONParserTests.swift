import SightlineCore
import Testing

@testable import SightlineProtocol

@Suite struct JSONParserTests {
    let parser = JSONParser()

    @Test(arguments: [
        ("null", JSONValue.null),
        ("true", .bool(true)),
        (" false ", .bool(false)),
        ("0", .integer(0)),
        ("-12", .integer(-12)),
        ("9223372036854775807", .integer(Int64.max)),
        ("9223372036854775808", .double(9_223_372_036_854_775_808)),
        ("1.5", .double(1.5)),
        ("-2.5e3", .double(-2500)),
        ("1E-2", .double(0.01)),
        ("\"a\\\"b\\\\c\\/d\\n\"", .string("a\"b\\c/d\n")),
        ("\"\\u00e9\\ud83d\\ude00\"", .string("é😀")),
        ("\"é😀\"", .string("é😀")),
        ("[]", .array([])),
        ("[1,[2,[3]]]", .array([.integer(1), .array([.integer(2), .array([.integer(3)])])])),
        ("{}", .object([:])),
        ("{\"b\":1,\"a\":{\"c\":null}}", .object(["b": 1, "a": ["c": nil]])),
    ])
    func parsesValid(text: String, expected: JSONValue) throws {
        #expect(try parser.parse(text) == expected)
    }

    @Test(arguments: [
        ("", "expected a value"),
        ("{", "expected a string key"),
        ("{\"a\"}", "expected ':'"),
        ("{\"a\":1,}", "expected a string key"),
        ("[1,]", "expected a value"),
        ("[1 2]", "expected ',' or ']'"),
        ("01", "leading zero"),
        ("1.", "expected a digit after '.'"),
        ("-", "expected a digit"),
        ("1e", "expected a digit in exponent"),
        ("tru", "expected true"),
        ("\"abc", "unterminated string"),
        ("\"a\u{01}b\"", "control character"),
        ("\"\\x\"", "invalid escape"),
        ("\"\\ud800\"", "lone surrogate"),
        ("\"\\udc00\"", "lone surrogate"),
        ("\"\\u12\"", "hex digit"),
        ("{\"a\":1,\"a\":2}", "duplicate key \"a\""),
        ("1 2", "after the JSON value"),
        ("1e999", "out of range"),
        ("{'a':1}", "expected a string key"),
        ("NaN", "expected a value"),
    ])
    func rejectsInvalid(text: String, fragment: String) {
        #expect {
            try parser.parse(text)
        } throws: { error in
            guard let e = error as? SightlineError else { return false }
            return e.code == .parseError && e.message.contains(fragment)
        }
    }

    @Test(arguments: [[0xFF], [0x22, 0xC3, 0x28, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF0, 0x9F, 0x98, 0x22]] as [[UInt8]])
    func rejectsInvalidUTF8(bytes: [UInt8]) {
        #expect(throws: SightlineError.self) { try parser.parse(bytes) }
    }

    @Test func refusesNestingPastTheLimit() throws {
        let limit = ProtocolLimits.maxNestingDepth
        let ok = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(try parser.parse(ok) != .null)
        let deep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect { try parser.parse(deep) } throws: { ($0 as? SightlineError)?.code == .nestingTooDeep }
        // Far deeper than the stack could take if the parser recursed before checking.
        let hostile = String(repeating: "{\"a\":", count: 200_000)
        #expect { try parser.parse(hostile) } throws: { ($0 as? SightlineError)?.code == .nestingTooDeep }
    }

    @Test func writerEscapesEverythingThatCouldSplitALine() throws {
        var all = ""
        for v in 0..<0x80 { all.unicodeScalars.append(Unicode.Scalar(UInt8(v))) }
        all += "é😀\u{2028}"
        let bytes = JSONWriter.bytes(.string(all))
        #expect(!bytes.contains(UInt8(ascii: "\n")))
        #expect(!bytes.contains { $0 < 0x20 })
        #expect(try parser.parse(bytes) == .string(all))
    }

    @Test func writerKeepsMemberOrderAndIntegers() {
        let value: JSONValue = ["id": 7, "ok": true, "result": ["x": 1.5, "n": nil, "s": ["a", "b"]]]
        #expect(JSONWriter.string(value) == #"{"id":7,"ok":true,"result":{"x":1.5,"n":null,"s":["a","b"]}}"#)
        #expect(JSONWriter.string(.double(.nan)) == "null")
        #expect(JSONWriter.string(.double(3)) == "3")
    }

    /// Random values written and read back must come back equal (numbers compared as numbers).
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func roundTripsRandomValues(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        for _ in 0..<300 {
            let value = Self.randomValue(&rng, depth: 0)
            let parsed = try parser.parse(JSONWriter.bytes(value))
            #expect(Self.numericallyEqual(parsed, value), "\(JSONWriter.string(value))")
        }
    }

    /// Mutated valid documents and random bytes either parse or throw `SightlineError`; the
    /// parser must never crash or hang. Seeded so that a failure reproduces.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func survivesMutatedInput(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        var outcomes = (parsed: 0, rejected: 0)
        for _ in 0..<2000 {
            var bytes = JSONWriter.bytes(Self.randomValue(&rng, depth: 0))
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0 where !bytes.isEmpty: bytes[position] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: position)
                case 2 where !bytes.isEmpty: bytes.remove(at: position)
                default: bytes = Array(bytes.prefix(position))
                }
            }
            do {
                _ = try parser.parse(bytes)
                outcomes.parsed += 1
            } catch {
                outcomes.rejected += 1
            }
        }
        #expect(outcomes.parsed + outcomes.rejected == 2000)
        #expect(outcomes.rejected > 0)
    }

    static func randomValue(_ rng: inout SeededRandom, depth: Int) -> JSONValue {
        let pick = Int.random(in: 0..<(depth > 4 ? 5 : 7), using: &rng)
        switch pick {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .integer(Int64.random(in: Int64.min...Int64.max, using: &rng))
        case 3: return .double(Double.random(in: -1e6...1e6, using: &rng))
        case 4:
            let alphabet = Array("ab\"\\\n\t\u{01}é😀 /{}[]:,")
            return .string(String((0..<Int.random(in: 0...8, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }))
        case 5: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            var o = JSONObject()
            for i in 0..<Int.random(in: 0...4, using: &rng) { o["k\(i)\(Int.random(in: 0...9, using: &rng))"] = randomValue(&rng, depth: depth + 1) }
            return .object(o)
        }
    }

    static func numericallyEqual(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(numericallyEqual)
        case (.object(let x), .object(let y)):
            return x.keys == y.keys && zip(x.members, y.members).allSatisfy { numericallyEqual($0.value, $1.value) }
        default:
            if let x = a.doubleValue, let y = b.doubleValue { return x == y }
            return a == b
        }
    }
}
