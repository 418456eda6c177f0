import Foundation
import SightlineCore

/// CLIP's byte-level BPE tokenizer, identical to `transformers.CLIPTokenizer`.
///
/// The steps, in the reference's order: the special tokens `<|startoftext|>` and
/// `<|endoftext|>` are split out of the raw text first; every other span is NFC-normalised,
/// runs of whitespace become one space, and it is lower-cased scalar by scalar; CLIP's
/// pre-tokenizer regex cuts it into words; each word's UTF-8 bytes are mapped to printable
/// characters, `</w>` marks the word's last one, and merges apply lowest rank first.
/// The result is wrapped in `<|startoftext|>` … `<|endoftext|>` and truncated to the context.
public struct CLIPTokenizer: Sendable {
    public let startOfText: Int32
    public let endOfText: Int32
    public let vocabularySize: Int

    /// The id of each byte as a word-inner symbol, then as a word-final (`</w>`) symbol.
    private let byteIds: [Int32]
    private let byteEndIds: [Int32]
    /// (left id << 32 | right id) -> (rank << 32 | merged id)
    private let merges: [UInt64: UInt64]
    private static let specialTokens = ["<|startoftext|>", "<|endoftext|>"]

    /// Reads `vocab.json` and `merges.txt`, the layout of the released CLIP checkpoints.
    public init(vocabularyFile: String, mergesFile: String) throws {
        let vocabulary = try Self.readVocabulary(vocabularyFile)
        let text: String
        do {
            text = try String(contentsOfFile: mergesFile, encoding: .utf8)
        } catch {
            throw SightlineError(.fileNotFound, "cannot read the BPE merges", context: ["file": mergesFile])
        }
        var merges: [(String, String)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || (number == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw SightlineError(.invalidFile, "line \(number + 1) is not a merge of two symbols", context: ["file": mergesFile])
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        try self.init(vocabulary: vocabulary, merges: merges, vocabularyFile: vocabularyFile, mergesFile: mergesFile)
    }

    /// Reads the vocabulary and merges of a `tokenizer.json` (the tokenizers library's format).
    public init(tokenizerFile: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: tokenizerFile))
        } catch {
            throw SightlineError(.fileNotFound, "cannot read the tokenizer", context: ["file": tokenizerFile])
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let model = json["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Any],
              let rawMerges = model["merges"] as? [Any]
        else {
            throw SightlineError(.invalidFile, "the tokenizer file has no BPE model with vocab and merges", context: ["file": tokenizerFile])
        }
        let vocabulary = try Self.vocabulary(from: vocab, file: tokenizerFile)
        var merges: [(String, String)] = []
        for raw in rawMerges {
            if let pair = raw as? [String], pair.count == 2 {
                merges.append((pair[0], pair[1]))
            } else if let line = raw as? String, case let parts = line.split(separator: " ", omittingEmptySubsequences: false), parts.count == 2 {
                merges.append((String(parts[0]), String(parts[1])))
            } else {
                throw SightlineError(.invalidFile, "merge \(raw) is not a pair of symbols", context: ["file": tokenizerFile])
            }
        }
        try self.init(vocabulary: vocabulary, merges: merges, vocabularyFile: tokenizerFile, mergesFile: tokenizerFile)
    }

    private init(vocabulary: [String: Int32], merges mergeList: [(String, String)], vocabularyFile: String, mergesFile: String) throws {
        func id(_ token: String) throws -> Int32 {
            guard let id = vocabulary[token] else {
                throw SightlineError(.invalidFile, "the vocabulary has no entry for \(token.debugDescription)", context: ["file": vocabularyFile])
            }
            return id
        }
        startOfText = try id("<|startoftext|>")
        endOfText = try id("<|endoftext|>")
        vocabularySize = vocabulary.count
        byteIds = try Self.byteCharacters.map { try id(String($0)) }
        byteEndIds = try Self.byteCharacters.map { try id(String($0) + "</w>") }
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, (left, right)) in mergeList.enumerated() {
            guard let leftId = vocabulary[left], let rightId = vocabulary[right], let merged = vocabulary[left + right] else {
                throw SightlineError(
                    .invalidFile, "merge \(rank + 1) (\("\(left) \(right)".debugDescription)) does not join two vocabulary entries into a third",
                    context: ["file": mergesFile])
            }
            let key = UInt64(UInt32(leftId)) << 32 | UInt64(UInt32(rightId))
            if merges[key] == nil { merges[key] = UInt64(rank) << 32 | UInt64(UInt32(merged)) }
        }
        self.merges = merges
    }

    /// Token ids for `text`, `<|startoftext|>` first and `<|endoftext|>` last, at most
    /// `maxLength` in all (the words past the limit are dropped, as the reference truncates).
    public func encode(_ text: String, maxLength: Int = 77) -> [Int32] {
        var ids: [Int32] = []
        for segment in Self.splitSpecialTokens(text) {
            switch segment {
            case .special(let token): ids.append(token == Self.specialTokens[0] ? startOfText : endOfText)
            case .text(let span): encodeSpan(span, into: &ids)
            }
        }
        if ids.count > maxLength - 2 { ids.removeLast(ids.count - (maxLength - 2)) }
        return [startOfText] + ids + [endOfText]
    }

    private enum Segment { case special(String), text(Substring) }

    private static func splitSpecialTokens(_ text: String) -> [Segment] {
        var segments: [Segment] = []
        var rest = text[...]
        while !rest.isEmpty {
            var earliest: (range: Range<Substring.Index>, token: String)?
            for token in specialTokens {
                if let range = rest.range(of: token, options: .literal), range.lowerBound < (earliest?.range.lowerBound ?? rest.endIndex) {
                    earliest = (range, token)
                }
            }
            guard let earliest else {
                segments.append(.text(rest))
                break
            }
            if earliest.range.lowerBound > rest.startIndex { segments.append(.text(rest[..<earliest.range.lowerBound])) }
            segments.append(.special(earliest.token))
            rest = rest[earliest.range.upperBound...]
        }
        return segments
    }

    private func encodeSpan(_ span: Substring, into ids: inout [Int32]) {
        // Special-token spellings that survive to here (from lower-casing) are ordinary words, as in the reference.
        for word in Self.preTokenize(Self.normalize(String(span))) {
            bytePairEncode(Array(word.utf8), into: &ids)
        }
    }

    /// NFC, whitespace runs to one space, per-scalar lower case (no context rules, as Rust's
    /// `char::to_lowercase` that the reference uses).
    static func normalize(_ text: String) -> [Unicode.Scalar] {
        var result: [Unicode.Scalar] = []
        var inWhitespace = false
        for scalar in text.precomposedStringWithCanonicalMapping.unicodeScalars {
            if scalar.properties.isWhitespace {
                if !inWhitespace { result.append(" ") }
                inWhitespace = true
                continue
            }
            inWhitespace = false
            result.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        }
        return result
    }

    private enum CharacterClass { case letter, number, whitespace, other }

    private static func characterClass(_ scalar: Unicode.Scalar) -> CharacterClass {
        if scalar.properties.isWhitespace { return .whitespace }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    private static let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }
    private static let specialScalars = specialTokens.map { Array($0.unicodeScalars) }

    /// CLIP's pre-tokenizer: `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`,
    /// keeping the matches and dropping what lies between them (only whitespace can). The
    /// reference then splits each match with GPT-2's regex, which changes only the special-token
    /// spellings.
    static func preTokenize(_ scalars: [Unicode.Scalar]) -> [String] {
        var words: [String] = []
        var i = 0
        func hasPrefix(_ prefix: [Unicode.Scalar], at position: Int) -> Bool {
            guard position + prefix.count <= scalars.count else { return false }
            for k in 0..<prefix.count where scalars[position + k] != prefix[k] { return false }
            return true
        }
        func emit(_ start: Int, _ end: Int) {
            var word = String.UnicodeScalarView()
            word.append(contentsOf: scalars[start..<end])
            words.append(String(word))
        }
        outer: while i < scalars.count {
            for special in specialScalars where hasPrefix(special, at: i) {
                // The byte-level step after the regex splits GPT-2 style again: "<|", name, "|>".
                emit(i, i + 2)
                emit(i + 2, i + special.count - 2)
                emit(i + special.count - 2, i + special.count)
                i += special.count
                continue outer
            }
            if scalars[i] == "'" {
                for contraction in contractions where hasPrefix(contraction, at: i + 1) {
                    emit(i, i + 1 + contraction.count)
                    i += 1 + contraction.count
                    continue outer
                }
            }
            let start = i
            switch characterClass(scalars[i]) {
            case .whitespace:
                i += 1
            case .letter:
                while i < scalars.count, characterClass(scalars[i]) == .letter { i += 1 }
                emit(start, i)
            case .number:
                i += 1
                emit(start, i)
            case .other:
                while i < scalars.count, characterClass(scalars[i]) == .other { i += 1 }
                emit(start, i)
            }
        }
        return words
    }

    private func bytePairEncode(_ bytes: [UInt8], into ids: inout [Int32]) {
        guard !bytes.isEmpty else { return }
        var symbols = bytes.map { byteIds[Int($0)] }
        symbols[symbols.count - 1] = byteEndIds[Int(bytes[bytes.count - 1])]
        while symbols.count > 1 {
            var bestRank = UInt64.max
            var bestPair: UInt64 = 0
            var bestMerged: Int32 = 0
            for k in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[k])) << 32 | UInt64(UInt32(symbols[k + 1]))
                if let value = merges[key], value >> 32 < bestRank {
                    bestRank = value >> 32
                    bestPair = key
                    bestMerged = Int32(truncatingIfNeeded: value & 0xFFFF_FFFF)
                }
            }
            if bestRank == UInt64.max { break }
            let left = Int32(truncatingIfNeeded: bestPair >> 32)
            let right = Int32(truncatingIfNeeded: bestPair & 0xFFFF_FFFF)
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var k = 0
            while k < symbols.count {
                if k < symbols.count - 1, symbols[k] == left, symbols[k + 1] == right {
                    merged.append(bestMerged)
                    k += 2
                } else {
                    merged.append(symbols[k])
                    k += 1
                }
            }
            symbols = merged
        }
        ids.append(contentsOf: symbols)
    }

    /// GPT-2's reversible map from bytes to printable characters.
    static let byteCharacters: [Character] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var codes = printable
        var extra = 0
        for byte in 0..<256 where !printable.contains(byte) {
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (byte, code) in zip(printable, codes) { table[byte] = Character(Unicode.Scalar(UInt32(code))!) }
        return table
    }()

    private static func readVocabulary(_ path: String) throws -> [String: Int32] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SightlineError(.fileNotFound, "cannot read the tokenizer vocabulary", context: ["file": path])
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw SightlineError(.invalidFile, "the tokenizer vocabulary is not a JSON object", context: ["file": path])
        }
        return try vocabulary(from: json, file: path)
    }

    private static func vocabulary(from json: [String: Any], file: String) throws -> [String: Int32] {
        var vocabulary: [String: Int32] = [:]
        vocabulary.reserveCapacity(json.count)
        for (token, value) in json {
            guard let number = value as? NSNumber, let id = Int32(exactly: number.doubleValue), id >= 0 else {
                throw SightlineError(.invalidFile, "vocabulary entry \(token.debugDescription) has no integer id", context: ["file": file])
            }
            vocabulary[token] = id
        }
        return vocabulary
    }
}
