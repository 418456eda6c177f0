import SightlineCore

/// The configuration file format: a strict subset of TOML.
///
/// TOML because administrators know it, it carries comments (the shipped file documents every
/// key in place) and any TOML tool reads it; a subset written here because the daemon needs
/// only tables of scalar keys, and a full TOML library would be the heaviest dependency of the
/// package for that. What is accepted: `# comments`, `[table]` headers, `key = value` with
/// basic strings (`"..."` with `\"`, `\\`, `\n`, `\t`, `\uXXXX`), integers (decimal or `0o`
/// octal), floats, booleans and single-line arrays of strings, under `[table]` or dotted
/// `[table.name]` headers. Anything else is an error naming the line.
public struct ConfigFile: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case string(String)
        case integer(Int)
        case float(Double)
        case bool(Bool)
        case strings([String])

        var typeName: String {
            switch self {
            case .string: "string"
            case .integer: "integer"
            case .float: "float"
            case .bool: "boolean"
            case .strings: "array of strings"
            }
        }
    }

    public struct Entry: Sendable, Equatable {
        public var value: Value
        public var line: Int
    }

    /// `table.key` to value; keys before any header have no table prefix.
    public private(set) var entries: [String: Entry] = [:]
    /// Each `[table]` header and its line.
    public private(set) var tables: [String: Int] = [:]
    public var name: String

    public init(parsing text: String, name: String) throws(SightlineError) {
        self.name = name
        var table = ""
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let content = try Self.stripComment(line, name: name, lineNumber: lineNumber).trimmingWhitespace
            if content.isEmpty { continue }
            if content.hasPrefix("[") {
                guard content.hasSuffix("]"), !content.hasPrefix("[[") else {
                    throw Self.error(name, lineNumber, "a table header is [name]")
                }
                let header = String(content.dropFirst().dropLast()).trimmingWhitespace
                // Dotted names (`[stream.cam1]`) are TOML's nested tables; each part is a bare key.
                guard header.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ Self.isBareKey(String($0)) }) else {
                    throw Self.error(name, lineNumber, "\"\(header)\" is not a table name (letters, digits, _ and -, parts joined by .)")
                }
                if let first = tables[header] {
                    throw Self.error(name, lineNumber, "table [\(header)] is defined twice (first on line \(first))")
                }
                tables[header] = lineNumber
                table = header
                continue
            }
            guard let equals = content.firstIndex(of: "=") else {
                throw Self.error(name, lineNumber, "expected key = value")
            }
            let key = String(content[..<equals]).trimmingWhitespace
            let rawValue = String(content[content.index(after: equals)...]).trimmingWhitespace
            guard Self.isBareKey(key) else { throw Self.error(name, lineNumber, "\"\(key)\" is not a key (letters, digits, _ and -)") }
            let fullKey = table.isEmpty ? key : "\(table).\(key)"
            guard entries[fullKey] == nil else {
                throw Self.error(name, lineNumber, "\(fullKey) is set twice (first on line \(entries[fullKey]!.line))")
            }
            let value = try Self.parseValue(rawValue, name: name, lineNumber: lineNumber)
            entries[fullKey] = Entry(value: value, line: lineNumber)
        }
    }

    /// An error about `line` of the file `name`: `<name> line <line>: <message>`.
    public static func error(_ name: String, _ line: Int, _ message: String) -> SightlineError {
        SightlineError(.invalidFile, "\(name) line \(line): \(message)", context: ["file": name, "line": String(line)])
    }

    static func isBareKey(_ key: String) -> Bool {
        !key.isEmpty && key.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }
    }

    /// Drops a `#` comment that is not inside a string.
    static func stripComment(_ line: Substring, name: String, lineNumber: Int) throws(SightlineError) -> String {
        var inString = false
        var escaped = false
        for index in line.indices {
            let c = line[index]
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
            } else if c == "\"" {
                inString = true
            } else if c == "#" {
                return String(line[..<index])
            }
        }
        return String(line)
    }

    static func parseValue(_ text: String, name: String, lineNumber: Int) throws(SightlineError) -> Value {
        if text.isEmpty { throw error(name, lineNumber, "missing value") }
        if text.hasPrefix("\"") {
            var scalars = Array(text.unicodeScalars)[...]
            let s = try parseString(&scalars, name: name, lineNumber: lineNumber)
            guard scalars.isEmpty else { throw error(name, lineNumber, "unexpected text after the string") }
            return .string(s)
        }
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw error(name, lineNumber, "an array must close on the same line") }
            var scalars = Array(text.unicodeScalars).dropFirst().dropLast()
            var items: [String] = []
            func skipSpace() { while let c = scalars.first, c == " " || c == "\t" { scalars.removeFirst() } }
            skipSpace()
            while !scalars.isEmpty {
                guard scalars.first == "\"" else { throw error(name, lineNumber, "arrays hold strings only") }
                items.append(try parseString(&scalars, name: name, lineNumber: lineNumber))
                skipSpace()
                if scalars.first == "," {
                    scalars.removeFirst()
                    skipSpace()
                } else if !scalars.isEmpty {
                    throw error(name, lineNumber, "expected ',' between array items")
                }
            }
            return .strings(items)
        }
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        let digits = text.replacingUnderscores
        if digits.hasPrefix("0o"), let v = Int(digits.dropFirst(2), radix: 8) { return .integer(v) }
        if let v = Int(digits) { return .integer(v) }
        if digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let v = Double(digits), v.isFinite { return .float(v) }
        throw error(name, lineNumber, "\"\(text)\" is not a value (strings need double quotes)")
    }

    static func parseString(_ s: inout ArraySlice<Unicode.Scalar>, name: String, lineNumber: Int) throws(SightlineError) -> String {
        s.removeFirst()
        var out = String.UnicodeScalarView()
        while let c = s.first {
            s.removeFirst()
            switch c {
            case "\"": return String(out)
            case "\\":
                guard let e = s.first else { break }
                s.removeFirst()
                switch e {
                case "\"": out.append("\"")
                case "\\": out.append("\\")
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "u":
                    // Digits checked one by one: UInt32(_:radix:) alone also takes a sign ("+041").
                    let digits = s.prefix(4)
                    guard digits.count == 4, digits.allSatisfy(\.properties.isASCIIHexDigit),
                          let v = UInt32(String(String.UnicodeScalarView(digits)), radix: 16), let scalar = Unicode.Scalar(v)
                    else {
                        throw error(name, lineNumber, "\\u needs four hex digits of a valid character")
                    }
                    s.removeFirst(4)
                    out.append(scalar)
                default: throw error(name, lineNumber, "unknown escape \\\(e)")
                }
            default:
                out.append(c)
            }
        }
        throw error(name, lineNumber, "unterminated string")
    }

    // MARK: Typed access for the configuration builder

    public func entry(_ key: String) -> Entry? { entries[key] }

    func typeError(_ key: String, _ entry: Entry, expected: String) -> SightlineError {
        Self.error(name, entry.line, "\(key) must be \(expected), not \(entry.value.typeName)")
    }

    public func string(_ key: String) throws(SightlineError) -> String? {
        guard let entry = entries[key] else { return nil }
        guard case .string(let s) = entry.value else { throw typeError(key, entry, expected: "a string") }
        return s
    }

    public func int(_ key: String, in range: ClosedRange<Int>) throws(SightlineError) -> Int? {
        guard let entry = entries[key] else { return nil }
        guard case .integer(let i) = entry.value else { throw typeError(key, entry, expected: "an integer") }
        guard range.contains(i) else { throw Self.error(name, entry.line, "\(key) = \(i) is outside \(range.lowerBound)...\(range.upperBound)") }
        return i
    }

    public func double(_ key: String, in range: ClosedRange<Double>) throws(SightlineError) -> Double? {
        guard let entry = entries[key] else { return nil }
        let d: Double
        switch entry.value {
        case .integer(let i): d = Double(i)
        case .float(let f): d = f
        default: throw typeError(key, entry, expected: "a number")
        }
        guard range.contains(d) else { throw Self.error(name, entry.line, "\(key) = \(d) is outside \(range.lowerBound)...\(range.upperBound)") }
        return d
    }

    public func bool(_ key: String) throws(SightlineError) -> Bool? {
        guard let entry = entries[key] else { return nil }
        guard case .bool(let b) = entry.value else { throw typeError(key, entry, expected: "true or false") }
        return b
    }

    /// Fails on the first key that is not in `known` (nor accepted by `alsoAccepted`), so
    /// that a misspelt key is not ignored.
    public func rejectUnknown(_ known: Set<String>, alsoAccepted: (String) -> Bool = { _ in false }) throws(SightlineError) {
        let unknown = entries.filter { !known.contains($0.key) && !alsoAccepted($0.key) }.sorted { $0.value.line < $1.value.line }
        if let (key, entry) = unknown.first {
            throw Self.error(name, entry.line, "unknown key \(key)")
        }
    }
}

extension String {
    var replacingUnderscores: String { String(filter { $0 != "_" }) }
}
