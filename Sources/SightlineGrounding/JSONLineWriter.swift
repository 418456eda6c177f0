import SightlineCore

/// Writes compact JSON in a fixed key order, for event lines people read.
struct JSONLineWriter {
    private(set) var text = ""

    mutating func raw(_ s: String) { text += s }

    mutating func string(_ s: String) {
        text += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }

    mutating func number(_ v: Double, _ field: String) throws {
        guard v.isFinite else {
            throw SightlineError(.invalidArgument, "\(field) must be a finite number, got \(v)")
        }
        // Whole numbers without ".0", the rest in Swift's shortest round-tripping form.
        if v == v.rounded(), abs(v) < 1e15 {
            text += String(Int64(v))
        } else {
            text += "\(v)"
        }
    }
}
