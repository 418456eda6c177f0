import SightlineCore

/// A strict RFC 8259 parser for one JSON text.
///
/// Strict on purpose: the input comes from other processes, so anything ambiguous (invalid
/// UTF-8, lone surrogates, duplicate keys, leading zeros, trailing garbage) is rejected with
/// the byte offset and what was expected, and nesting deeper than `maxDepth` is refused before
/// it can exhaust the stack.
public struct JSONParser: Sendable {
    public var maxDepth: Int

    public init(maxDepth: Int = ProtocolLimits.maxNestingDepth) {
        self.maxDepth = maxDepth
    }

    /// Parses a complete JSON text; surrounding whitespace is allowed.
    public func parse(_ bytes: some Collection<UInt8>) throws(SightlineError) -> JSONValue {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { (buffer) throws(SightlineError) -> JSONValue in
            var reader = Reader(bytes: buffer, maxDepth: maxDepth)
            do {
                reader.skipWhitespace()
                let value = try reader.parseValue(depth: 1)
                reader.skipWhitespace()
                if reader.index != buffer.count {
                    throw Reader.Failure(offset: reader.index, message: "unexpected \(reader.describeCurrent()) after the JSON value")
                }
                return value
            } catch let failure as Reader.Failure {
                throw SightlineError(
                    failure.isDepth ? .nestingTooDeep : .parseError,
                    "invalid JSON at byte \(failure.offset): \(failure.message)"
                )
            } catch {
                throw SightlineError(.parseError, "invalid JSON: \(error)")
            }
        }
    }

    public func parse(_ text: String) throws(SightlineError) -> JSONValue {
        try parse(Array(text.utf8))
    }
}

private struct Reader {
    struct Failure: Error {
        var offset: Int
        var message: String
        var isDepth = false
    }

    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func describeCurrent() -> String {
        guard index < bytes.count else { return "end of input" }
        let b = bytes[index]
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x\(String(b, radix: 16, uppercase: true))"
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func expect(_ literal: StaticString, value: JSONValue) throws -> JSONValue {
        let start = index
        let count = literal.utf8CodeUnitCount
        let ok = literal.withUTF8Buffer { lit -> Bool in
            guard bytes.count - index >= count else { return false }
            for i in 0..<count where bytes[index + i] != lit[i] { return false }
            return true
        }
        guard ok else { throw Failure(offset: start, message: "expected \(literal)") }
        index += count
        return value
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard index < bytes.count else { throw Failure(offset: index, message: "expected a value, got end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", value: .bool(true))
        case UInt8(ascii: "f"): return try expect("false", value: .bool(false))
        case UInt8(ascii: "n"): return try expect("null", value: .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw Failure(offset: index, message: "expected a value, got \(describeCurrent())")
        }
    }

    mutating func enter(depth: Int) throws {
        if depth > maxDepth {
            throw Failure(offset: index, message: "nesting deeper than \(maxDepth) levels", isDepth: true)
        }
    }

    mutating func parseObject(depth: Int) throws -> JSONValue {
        try enter(depth: depth)
        index += 1
        var object = JSONObject()
        var seen = Set<String>()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw Failure(offset: index, message: "expected a string key, got \(describeCurrent())")
            }
            let keyOffset = index
            let key = try parseString()
            guard seen.insert(key).inserted else {
                throw Failure(offset: keyOffset, message: "duplicate key \"\(key)\"")
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw Failure(offset: index, message: "expected ':' after key \"\(key)\", got \(describeCurrent())")
            }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            object.appendUnchecked(key, value)
            skipWhitespace()
            guard index < bytes.count else { throw Failure(offset: index, message: "unterminated object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(object)
            }
            throw Failure(offset: index, message: "expected ',' or '}' in object, got \(describeCurrent())")
        }
    }

    mutating func parseArray(depth: Int) throws -> JSONValue {
        try enter(depth: depth)
        index += 1
        var array: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            array.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard index < bytes.count else { throw Failure(offset: index, message: "unterminated array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(array)
            }
            throw Failure(offset: index, message: "expected ',' or ']' in array, got \(describeCurrent())")
        }
    }

    mutating func parseNumber() throws -> JSONValue {
        let start = index
        var isInteger = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else {
            throw Failure(offset: index, message: "expected a digit in number")
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) {
                throw Failure(offset: index, message: "leading zero in number")
            }
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else {
                throw Failure(offset: index, message: "expected a digit after '.'")
            }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else {
                throw Failure(offset: index, message: "expected a digit in exponent")
            }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if isInteger, let value = Int64(text) { return .integer(value) }
        guard let value = Double(text), value.isFinite else {
            throw Failure(offset: start, message: "number \(text) is out of range")
        }
        return .double(value)
    }

    func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    mutating func parseString() throws -> String {
        let start = index
        index += 1
        var scalars = String.UnicodeScalarView()
        var runStart = index
        // Plain runs (no escapes) are validated and appended in one go.
        func flush(_ reader: Reader, upTo end: Int, into scalars: inout String.UnicodeScalarView) throws {
            guard end > runStart else { return }
            var iterator = UnsafeBufferPointer(rebasing: reader.bytes[runStart..<end]).makeIterator()
            var decoder = UTF8()
            var offset = runStart
            loop: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue(let s):
                    scalars.append(s)
                    offset += UTF8.width(s)
                case .emptyInput: break loop
                case .error: throw Failure(offset: offset, message: "invalid UTF-8 in string")
                }
            }
        }
        while true {
            guard index < bytes.count else { throw Failure(offset: start, message: "unterminated string") }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                try flush(self, upTo: index, into: &scalars)
                index += 1
                return String(scalars)
            }
            if b < 0x20 {
                throw Failure(offset: index, message: "control character 0x\(String(b, radix: 16)) in string must be escaped")
            }
            if b != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            try flush(self, upTo: index, into: &scalars)
            index += 1
            guard index < bytes.count else { throw Failure(offset: start, message: "unterminated string") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                let escapeOffset = index - 2
                let unit = try parseHex4()
                if UTF16.isLeadSurrogate(unit) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw Failure(offset: escapeOffset, message: "lone surrogate \\u\(String(unit, radix: 16)) in string")
                    }
                    index += 2
                    let low = try parseHex4()
                    guard UTF16.isTrailSurrogate(low) else {
                        throw Failure(offset: escapeOffset, message: "lone surrogate \\u\(String(unit, radix: 16)) in string")
                    }
                    let value = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    scalars.append(Unicode.Scalar(value)!)
                } else if UTF16.isTrailSurrogate(unit) {
                    throw Failure(offset: escapeOffset, message: "lone surrogate \\u\(String(unit, radix: 16)) in string")
                } else {
                    scalars.append(Unicode.Scalar(unit)!)
                }
            default:
                throw Failure(offset: index - 1, message: "invalid escape '\\\(describeByte(escape))' in string")
            }
            runStart = index
        }
    }

    func describeByte(_ b: UInt8) -> String {
        b >= 0x21 && b < 0x7F ? String(Character(Unicode.Scalar(b))) : "0x\(String(b, radix: 16))"
    }

    mutating func parseHex4() throws -> UInt16 {
        guard bytes.count - index >= 4 else { throw Failure(offset: index, message: "expected 4 hex digits after \\u") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw Failure(offset: index, message: "expected a hex digit after \\u")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }
}
