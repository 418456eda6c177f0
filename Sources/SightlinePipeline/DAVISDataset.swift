import Foundation
import SightlineCore

/// A dataset in the DAVIS folder layout, with one text query per evaluation case:
///
///     ROOT/JPEGImages/480p/<sequence>/NNNNN.jpg     frames, in name order
///     ROOT/Annotations/480p/<sequence>/NNNNN.png    ground truth (non-zero = the referred object)
///     expressions CSV: a `sequence;query` header, then one case a line
///
/// Everything is checked when the dataset is opened, before any grounding starts, so that a
/// long evaluation never fails half-way on a missing file.
public struct DAVISDataset: Sendable {
    public struct Case: Sendable, Equatable {
        public var sequence: String
        public var query: String
        /// Frame paths, in order.
        public var frames: [String]
        /// The annotation of each frame, where one exists.
        public var annotations: [String?]
    }

    public let root: String
    public let resolution: String
    public let cases: [Case]

    public init(root: String, expressions: String, resolution: String = "480p") throws {
        self.root = root
        self.resolution = resolution
        let fm = FileManager.default
        func isDirectory(_ path: String) -> Bool {
            var d: ObjCBool = false
            return fm.fileExists(atPath: path, isDirectory: &d) && d.boolValue
        }
        let images = "\(root)/JPEGImages/\(resolution)", annotations = "\(root)/Annotations/\(resolution)"
        guard isDirectory(root) else {
            throw SightlineError(.fileNotFound, "the DAVIS root does not exist", context: ["directory": root])
        }
        guard isDirectory(images) else {
            throw SightlineError(.invalidFile, "not a DAVIS layout: JPEGImages/\(resolution) is missing", context: ["directory": root])
        }
        guard let data = fm.contents(atPath: expressions) else {
            throw SightlineError(.fileNotFound, "cannot read the expressions file", context: ["file": expressions])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SightlineError(.invalidFile, "the expressions file is not UTF-8", context: ["file": expressions])
        }
        var cases: [Case] = []
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (number, raw) in lines.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let context = ["file": expressions, "line": "\(number + 1)"]
            guard let split = line.firstIndex(of: ";") else {
                throw SightlineError(.invalidFile, "expected `sequence;query`", context: context)
            }
            let sequence = String(line[..<split]).trimmingCharacters(in: .whitespaces)
            let query = String(line[line.index(after: split)...]).trimmingCharacters(in: .whitespaces)
            if number == 0 && sequence == "sequence" && query == "query" { continue }
            guard !sequence.isEmpty, !query.isEmpty else {
                throw SightlineError(.invalidFile, "sequence and query must not be empty", context: context)
            }
            guard !sequence.contains("/"), sequence != "..", isDirectory("\(images)/\(sequence)") else {
                throw SightlineError(.invalidFile, "no frames for sequence \(sequence)",
                                     context: context.merging(["directory": "\(images)/\(sequence)"]) { a, _ in a })
            }
            let names = try fm.contentsOfDirectory(atPath: "\(images)/\(sequence)")
                .filter { $0.lowercased().hasSuffix(".jpg") || $0.lowercased().hasSuffix(".jpeg") || $0.lowercased().hasSuffix(".png") }
                .sorted()
            guard !names.isEmpty else {
                throw SightlineError(.invalidFile, "sequence \(sequence) holds no frames", context: ["directory": "\(images)/\(sequence)"])
            }
            let truth = names.map { name -> String? in
                let stem = (name as NSString).deletingPathExtension
                let path = "\(annotations)/\(sequence)/\(stem).png"
                return fm.fileExists(atPath: path) ? path : nil
            }
            guard truth.contains(where: { $0 != nil }) else {
                throw SightlineError(.invalidFile, "sequence \(sequence) has no annotations",
                                     context: ["directory": "\(annotations)/\(sequence)"])
            }
            cases.append(Case(sequence: sequence, query: query, frames: names.map { "\(images)/\(sequence)/\($0)" }, annotations: truth))
        }
        guard !cases.isEmpty else {
            throw SightlineError(.invalidFile, "the expressions file holds no case", context: ["file": expressions])
        }
        self.cases = cases
    }
}
