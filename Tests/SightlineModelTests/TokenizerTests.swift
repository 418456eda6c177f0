import Foundation
import SightlineCore
import Synchronization
import Testing
@testable import SightlineModel

@Suite("CLIP tokenizer")
struct TokenizerTests {
    static let home = Fixtures.directory("tiny-quickgelu-p8")
    private static let loaded = Mutex<CLIPTokenizer?>(nil)

    /// The fixture's tokenizer, read once: files that do not read fail the tests that use it
    /// instead of the whole test process.
    static func tokenizer() throws -> CLIPTokenizer {
        try loaded.withLock { loaded in
            if let tokenizer = loaded { return tokenizer }
            let tokenizer = try CLIPTokenizer(vocabularyFile: "\(home)/vocab.json", mergesFile: "\(home)/merges.txt")
            loaded = tokenizer
            return tokenizer
        }
    }

    @Test("the vocabulary is CLIP's full 49408 entries")
    func vocabulary() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.vocabularySize == 49408)
        #expect(tokenizer.startOfText == 49406)
        #expect(tokenizer.endOfText == 49407)
    }

    @Test("token ids equal transformers.CLIPTokenizer for every golden string")
    func goldenIds() throws {
        let tokenizer = try Self.tokenizer()
        let cases = try Fixtures.tokens()
        #expect(cases.count >= 200)
        var mismatches: [String] = []
        for test in cases where tokenizer.encode(test.text) != test.ids {
            mismatches.append("\(test.text.debugDescription): got \(tokenizer.encode(test.text)), want \(test.ids)")
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) strings differ:\n\(mismatches.prefix(10).joined(separator: "\n"))")
    }

    @Test("long texts are truncated to 77 ids ending with <|endoftext|>")
    func truncation() throws {
        let tokenizer = try Self.tokenizer()
        let ids = tokenizer.encode(Array(repeating: "bike", count: 200).joined(separator: " "))
        #expect(ids.count == 77)
        #expect(ids.first == 49406 && ids.last == 49407)
        #expect(tokenizer.encode("").count == 2)
    }

    @Test("a tokenizer.json with the same vocabulary and merges gives the same ids")
    func tokenizerJSON() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let vocab = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(Self.home)/vocab.json")))
        let merges = try String(contentsOfFile: "\(Self.home)/merges.txt", encoding: .utf8)
            .split(separator: "\n").dropFirst().map(String.init)
        let json: [String: Any] = ["model": ["type": "BPE", "vocab": vocab, "merges": merges]]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: "\(directory)/tokenizer.json"))
        let fromJSON = try CLIPTokenizer(tokenizerFile: "\(directory)/tokenizer.json")
        for test in try Fixtures.tokens().prefix(60) {
            #expect(fromJSON.encode(test.text) == test.ids, "\(test.text.debugDescription)")
        }
    }

    @Test("missing and corrupt tokenizer files are errors naming the file")
    func badFiles() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let merges = "\(Self.home)/merges.txt", vocab = "\(Self.home)/vocab.json"

        let missing = "\(directory)/vocab.json"
        #expect(throws: SightlineError.self) { try CLIPTokenizer(vocabularyFile: missing, mergesFile: merges) }
        do { _ = try CLIPTokenizer(vocabularyFile: missing, mergesFile: merges) } catch let error as SightlineError {
            #expect(error.code == .fileNotFound && error.context["file"] == missing)
        }

        let corrupt = "\(directory)/corrupt.json"
        try Data("{\"a\": 1,".utf8).write(to: URL(fileURLWithPath: corrupt))
        do {
            _ = try CLIPTokenizer(vocabularyFile: corrupt, mergesFile: merges)
            Issue.record("a truncated vocabulary loaded")
        } catch let error as SightlineError {
            #expect(error.code == .invalidFile && error.context["file"] == corrupt)
        }

        let noSpecials = "\(directory)/small.json"
        try Data("{\"a\": 0, \"b\": 1}".utf8).write(to: URL(fileURLWithPath: noSpecials))
        do {
            _ = try CLIPTokenizer(vocabularyFile: noSpecials, mergesFile: merges)
            Issue.record("a vocabulary without special tokens loaded")
        } catch let error as SightlineError {
            #expect(error.code == .invalidFile && error.message.contains("<|startoftext|>"))
        }

        let badMerges = "\(directory)/merges.txt"
        try "#version: 0.2\ni n\nthis line has three\n".write(toFile: badMerges, atomically: true, encoding: .utf8)
        do {
            _ = try CLIPTokenizer(vocabularyFile: vocab, mergesFile: badMerges)
            Issue.record("a malformed merges file loaded")
        } catch let error as SightlineError {
            #expect(error.code == .invalidFile && error.context["file"] == badMerges && error.message.contains("line 3"))
        }

        let unknownMerge = "\(directory)/unknown.txt"
        try "#version: 0.2\nzq xj\n".write(toFile: unknownMerge, atomically: true, encoding: .utf8)
        do {
            _ = try CLIPTokenizer(vocabularyFile: vocab, mergesFile: unknownMerge)
            Issue.record("a merge of unknown symbols loaded")
        } catch let error as SightlineError {
            #expect(error.code == .invalidFile && error.context["file"] == unknownMerge)
        }
    }
}
