import Foundation
import SightlineCore
import Testing
@testable import SightlineModel

/// The committed parity fixtures (Tests/Fixtures/clip, made by make_clip_fixtures.py).
enum Fixtures {
    static let clip = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/clip").path
    static let configs = ["tiny-quickgelu-p8", "tiny-gelu-p14", "tinyclip-8m-16"]

    static func directory(_ config: String) -> String { "\(clip)/\(config)" }

    /// A directory that loads: the fixture's own, or for a fixture whose weights are made by
    /// formula (its goldens carry their checksums), one with the weights written beside a copy
    /// of its files.
    static func checkpoint(_ config: String) throws -> String {
        guard let checksums = try golden(config).tensor_checksums else { return directory(config) }
        return try FormulaCheckpoint.materialise(config, checksums: checksums)
    }

    /// The patches a golden holds out of `values` (row-major patches of `dim` floats): all of
    /// them, or those at `indices` where the golden keeps a subset.
    static func patches(_ values: some Collection<Float>, at indices: [Int]?, dim: Int) -> [Float] {
        let all = Array(values)
        guard let indices else { return all }
        return indices.flatMap { all[($0 * dim)..<(($0 + 1) * dim)] }
    }

    static func golden(_ config: String) throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: "\(clip)/goldens/\(config).json")))
    }

    static func tokens() throws -> [TokenCase] {
        try JSONDecoder().decode([TokenCase].self, from: Data(contentsOf: URL(fileURLWithPath: "\(clip)/goldens/tokens.json")))
    }

    /// `makeImage`, for callers that cannot throw: a size it cannot make is recorded as the
    /// calling test's failure (with a 1x1 black image in its place) rather than a crash.
    static func image(width: Int, height: Int, seed: Int) -> RGBImage {
        do {
            return try makeImage(width: width, height: height, seed: seed)
        } catch {
            Issue.record("cannot make the \(width)x\(height) test image (seed \(seed)): \(error)")
            return RGBImage(width: 1, height: 1)
        }
    }

    /// The same pixels as `test_image` in make_clip_fixtures.py: gradients plus hashed noise.
    static func makeImage(width: Int, height: Int, seed: Int) throws -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    var n = UInt32(truncatingIfNeeded: x) &* 73856093 ^ UInt32(truncatingIfNeeded: y) &* 19349663
                        ^ UInt32(truncatingIfNeeded: c) &* 83492791 ^ UInt32(truncatingIfNeeded: seed) &* 2654435761
                    n = (n ^ (n >> 13)) &* 1274126177
                    n ^= n >> 16
                    let noise = Int(n & 0xFF)
                    let gradient: Int
                    switch c {
                    case 0: gradient = x * 255 / max(1, width - 1)
                    case 1: gradient = y * 255 / max(1, height - 1)
                    default: gradient = (x + y) * 255 / max(1, width + height - 2)
                    }
                    pixels[(y * width + x) * 3 + c] = UInt8((gradient * 3 + noise) / 4)
                }
            }
        }
        return try RGBImage(width: width, height: height, pixels: pixels)
    }

    static func fnv1a64(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func maxAbsDifference(_ a: some Collection<Float>, _ b: some Collection<Float>) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// A fresh directory under the system's temporary directory, removed by the caller.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "sightline-model-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

struct TokenCase: Decodable {
    var text: String
    var ids: [Int32]
}

struct Golden: Decodable {
    struct ImageSpec: Decodable { var name: String; var width: Int; var height: Int; var seed: Int }
    struct Preprocessed: Decodable {
        var image: String
        var resized_width: Int
        var resized_height: Int
        var resized_fnv1a64: String
        var cropped: String?
        /// Instead of `cropped`, for inputs too large to keep in base64.
        var cropped_fnv1a64: String?
    }
    struct Dense: Decodable {
        var image: String
        var width: Int
        var height: Int
        var seed: Int
        var short_side: Int
        var resized_width: Int
        var resized_height: Int
        var resized_fnv1a64: String
        var grid_width: Int
        var grid_height: Int
        /// The patches `values` holds, when not all of them.
        var patch_indices: [Int]?
        var values: [Float]
        var pooled: [Float]
    }
    struct CroppedDense: Decodable { var image: String; var patch_indices: [Int]?; var values: [Float] }
    struct Positions: Decodable { var grid_height: Int; var grid_width: Int; var values: [Float] }

    var config: String
    var logit_scale: Float
    var texts: [String]
    var text_embeddings: [[Float]]
    var images: [ImageSpec]
    var preprocessed: [Preprocessed]
    var image_embeddings: [[Float]]
    var dense: [Dense]
    var dense_center_crop: CroppedDense
    var interpolated_position_embeddings: Positions
    /// For a fixture whose weights are made by formula: each tensor's checksum in the file
    /// transformers read (`tensor_checksums` in make_clip_fixtures.py).
    var tensor_checksums: [String: String]?
}
