import Foundation
import SightlineCore
import SightlineGrounding

/// Everything that shapes grounding on a stream; `Docs/grounding.md` explains each part.
public struct GroundingSettings: Sendable, Codable, Equatable {
    /// Sentence templates of the prompt ensemble; `{}` stands for the text.
    public var templates: [String] = PromptEnsemble.defaultTemplates
    /// Words every query is contrasted with, so that a query holds only where it beats
    /// the scene's usual stuff. Empty: contrast with the other queries only.
    public var backgroundWords: [String] = GroundingSettings.defaultBackgroundWords
    /// The stream's other queries join each query's contrast set.
    public var contrastWithOtherQueries: Bool = true
    /// Frames are resized for the encoder so that the short side is near this (a multiple
    /// of the patch size).
    public var shortSide: Int = 224
    public var smoothing = TemporalSmoothing()
    public var masks = MaskParameters()
    public var tubes = TubeParameters()

    public static let defaultBackgroundWords = [
        "ground", "road", "sky", "building", "wall", "floor", "tree", "grass",
        "water", "fence", "window", "door", "ceiling", "cloud", "mountain", "sand",
    ]

    public init() {}

    public func validate() throws {
        guard !templates.isEmpty, templates.allSatisfy({ $0.contains("{}") }) else {
            throw SightlineError(.invalidArgument, "every prompt template must contain {}", context: ["templates": templates.joined(separator: " | ")])
        }
        guard backgroundWords.allSatisfy({ !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
            throw SightlineError(.invalidArgument, "background words must not be empty")
        }
        guard shortSide >= 8, shortSide <= 2048 else {
            throw SightlineError(.invalidArgument, "shortSide must be 8...2048 pixels", context: ["shortSide": "\(shortSide)"])
        }
        try smoothing.validate()
        try masks.validate()
        try tubes.validate()
    }
}

