/// An 8-bit RGB image, rows top to bottom, pixels interleaved as R, G, B.
///
/// The one pixel type that crosses target boundaries: media decodes into it, the engine
/// preprocesses it, grounding refines masks against its colours.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `width * height * 3` bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0 else {
            throw SightlineError(.invalidArgument, "image size must be positive", context: ["size": "\(width)x\(height)"])
        }
        guard pixels.count == width * height * 3 else {
            throw SightlineError(.invalidArgument, "pixel buffer holds \(pixels.count) bytes, \(width)x\(height) RGB needs \(width * height * 3)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image of the given size.
    public init(width: Int, height: Int) {
        precondition(width > 0 && height > 0, "image size must be positive")
        self.width = width
        self.height = height
        self.pixels = [UInt8](repeating: 0, count: width * height * 3)
    }

    @inlinable
    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }
}
