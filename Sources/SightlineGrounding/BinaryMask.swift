import SightlineCore

/// A binary mask over a frame, row-major, one byte per pixel holding 0 or 1.
///
/// The form metrics, drawing and tests work on; masks travel as ``RLEMask`` and live inside
/// the pipeline as ``RegionMask`` (only the pixels of their box).
public struct BinaryMask: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height` values, each 0 or 1.
    public private(set) var bits: [UInt8]

    /// An empty mask.
    public init(width: Int, height: Int) throws {
        try Self.checkSize(width: width, height: height)
        self.width = width
        self.height = height
        self.bits = [UInt8](repeating: 0, count: width * height)
    }

    /// A mask from row-major values; any non-zero value is foreground (so 0/255 masks read as-is).
    public init(width: Int, height: Int, values: [UInt8]) throws {
        try Self.checkSize(width: width, height: height)
        guard values.count == width * height else {
            throw SightlineError(.invalidArgument, "mask holds \(values.count) values, \(width)x\(height) needs \(width * height)")
        }
        self.width = width
        self.height = height
        self.bits = values.map { $0 == 0 ? 0 : 1 }
    }

    init(uncheckedWidth width: Int, height: Int, bits: [UInt8]) {
        self.width = width
        self.height = height
        self.bits = bits
    }

    static func checkSize(width: Int, height: Int) throws {
        guard width > 0, height > 0 else {
            throw SightlineError(.invalidArgument, "mask size must be positive", context: ["size": "\(width)x\(height)"])
        }
    }

    public subscript(x: Int, y: Int) -> Bool {
        get { bits[y * width + x] != 0 }
        set { bits[y * width + x] = newValue ? 1 : 0 }
    }

    /// Number of foreground pixels.
    public var area: Int { bits.reduce(0) { $0 + Int($1) } }

    public var isEmpty: Bool { !bits.contains(1) }

    /// The tightest box around the foreground, or `nil` for an empty mask.
    public var boundingBox: PixelBox? {
        var minX = width, minY = height, maxX = -1, maxY = -1
        for y in 0..<height {
            let row = y * width
            for x in 0..<width where bits[row + x] != 0 {
                minX = min(minX, x); maxX = max(maxX, x)
                minY = min(minY, y); maxY = max(maxY, y)
            }
        }
        guard maxX >= 0 else { return nil }
        return PixelBox(x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1)
    }
}

/// A box in pixels of the frame: `[x, y, width, height]` on the wire, as COCO writes boxes.
public struct PixelBox: Sendable, Hashable, Codable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var area: Int { width * height }

    /// The smallest box holding both.
    public func union(_ other: PixelBox) -> PixelBox {
        let x0 = min(x, other.x), y0 = min(y, other.y)
        let x1 = max(x + width, other.x + other.width), y1 = max(y + height, other.y + other.height)
        return PixelBox(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }
    public var centerX: Double { Double(x) + Double(width) / 2 }
    public var centerY: Double { Double(y) + Double(height) / 2 }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        guard c.count == 4 else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "box must be [x, y, width, height]")
        }
        x = try c.decode(Int.self)
        y = try c.decode(Int.self)
        width = try c.decode(Int.self)
        height = try c.decode(Int.self)
        guard width >= 0, height >= 0 else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "box width and height must not be negative")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(x)
        try c.encode(y)
        try c.encode(width)
        try c.encode(height)
    }
}

/// A pixel of the frame: `[x, y]` on the wire (column, then row).
public struct PixelPoint: Sendable, Hashable, Codable {
    public var x: Int
    public var y: Int

    public init(x: Int, y: Int) {
        self.x = x
        self.y = y
    }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        guard c.count == 2 else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "point must be [x, y]")
        }
        x = try c.decode(Int.self)
        y = try c.decode(Int.self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(x)
        try c.encode(y)
    }
}

/// A frame's size: `[width, height]` on the wire (the order of `box`'s last two members).
public struct PixelSize: Sendable, Hashable, Codable {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        guard c.count == 2 else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "frame_size must be [width, height]")
        }
        width = try c.decode(Int.self)
        height = try c.decode(Int.self)
        guard width > 0, height > 0 else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "frame_size must be positive")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(width)
        try c.encode(height)
    }
}
