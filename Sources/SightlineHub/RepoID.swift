import SightlineCore

/// A Hugging Face model repository id: `name` or `owner/name`.
public struct RepoID: Sendable, Hashable, CustomStringConvertible, Codable {
    public let owner: String?
    public let name: String

    /// Validates as the hub does: letters, digits, `-`, `_`, `.`; no `--` or `..`; a part
    /// neither starts nor ends with `-` or `.`; at most 96 characters.
    public init(_ text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), text.count <= 96, parts.allSatisfy(Self.isValidPart) else {
            throw SightlineError(.invalidArgument, "not a Hugging Face repository id (expected owner/name, e.g. openai/clip-vit-base-patch16)", context: ["repo": text])
        }
        owner = parts.count == 2 ? parts[0] : nil
        name = parts.last!
    }

    public var description: String { owner.map { "\($0)/\(name)" } ?? name }

    /// The id's parts as path components, so `openai/clip` lives at `<store>/openai/clip`.
    public var pathComponents: [String] { (owner.map { [$0] } ?? []) + [name] }

    private static func isValidPart(_ part: String) -> Bool {
        guard !part.isEmpty, !part.contains("--"), !part.contains("..") else { return false }
        guard let first = part.first, let last = part.last, !"-.".contains(first), !"-.".contains(last) else { return false }
        return part.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
    }

    public init(from decoder: any Decoder) throws {
        try self.init(decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
