import Foundation
import SightlineCore
import SightlineGrounding

/// Reads the members of one JSON object with errors that name the field by its path
/// (`params.streams[1]: expected string, got number`), and refuses members it was not asked
/// about, so that a misspelt parameter is an error instead of a silently ignored default.
public struct FieldReader {
    public let path: String
    private let object: JSONObject
    private var consumed: Set<String> = []
    private let code: SightlineError.Code

    public init(_ value: JSONValue?, path: String, code: SightlineError.Code = .invalidParams) throws(SightlineError) {
        self.path = path
        self.code = code
        switch value {
        case .none, .some(.null): object = JSONObject()
        case .some(.object(let o)): object = o
        case .some(let other): throw SightlineError(code, "\(path): expected object, got \(other.typeName)")
        }
    }

    func fail(_ key: String, _ message: String) -> SightlineError {
        SightlineError(code, "\(path).\(key): \(message)")
    }

    mutating func take(_ key: String) -> JSONValue? {
        consumed.insert(key)
        guard let value = object[key] else { return nil }
        // An explicit null means the same as leaving the member out.
        if case .null = value { return nil }
        return value
    }

    public mutating func string(_ key: String) throws(SightlineError) -> String? {
        guard let value = take(key) else { return nil }
        guard let s = value.stringValue else { throw fail(key, "expected string, got \(value.typeName)") }
        return s
    }

    public mutating func requiredString(_ key: String) throws(SightlineError) -> String {
        guard let s = try string(key) else { throw fail(key, "required") }
        return s
    }

    public mutating func double(_ key: String, in range: ClosedRange<Double>? = nil) throws(SightlineError) -> Double? {
        guard let value = take(key) else { return nil }
        guard let d = value.doubleValue else { throw fail(key, "expected number, got \(value.typeName)") }
        if let range, !range.contains(d) { throw fail(key, "\(d) is outside \(range.lowerBound)...\(range.upperBound)") }
        return d
    }

    public mutating func int(_ key: String, in range: ClosedRange<Int>? = nil) throws(SightlineError) -> Int? {
        guard let value = take(key) else { return nil }
        guard let i = value.intValue else { throw fail(key, "expected integer, got \(value.typeName)") }
        if let range, !range.contains(i) { throw fail(key, "\(i) is outside \(range.lowerBound)...\(range.upperBound)") }
        return i
    }

    public mutating func bool(_ key: String) throws(SightlineError) -> Bool? {
        guard let value = take(key) else { return nil }
        guard let b = value.boolValue else { throw fail(key, "expected boolean, got \(value.typeName)") }
        return b
    }

    public mutating func strings(_ key: String) throws(SightlineError) -> [String]? {
        guard let value = take(key) else { return nil }
        guard let array = value.arrayValue else { throw fail(key, "expected array of strings, got \(value.typeName)") }
        var result: [String] = []
        for (i, element) in array.enumerated() {
            guard let s = element.stringValue else { throw fail("\(key)[\(i)]", "expected string, got \(element.typeName)") }
            result.append(s)
        }
        return result
    }

    /// A time as the protocol writes it (`2026-11-22T10:15:03.120Z`).
    public mutating func time(_ key: String) throws(SightlineError) -> Date {
        let text = try requiredString(key)
        guard let date = WireTime.parse(text) else { throw fail(key, "\"\(text)\" is not a UTC time like 2026-11-22T10:15:03.120Z") }
        return date
    }

    public mutating func value(_ key: String) -> JSONValue? { take(key) }

    /// Call after reading every known member.
    public func finish() throws(SightlineError) {
        if let unknown = object.keys.first(where: { !consumed.contains($0) }) {
            throw SightlineError(code, "\(path).\(unknown): unknown parameter")
        }
    }
}
