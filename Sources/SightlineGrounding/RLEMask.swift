import SightlineCore

/// A binary mask in COCO's run-length encoding, the form masks travel in.
///
/// Pixels are read column by column (column-major, as COCO does), and `counts` holds the
/// lengths of alternating runs, starting with a run of zeros (of length 0 when the first
/// pixel is foreground). On the wire it is `{"size": [h, w], "counts": "<string>"}`, where
/// the string is pycocotools' compressed form (`rleToString`), so `pycocotools.mask.decode`
/// and every COCO tool read it.
public struct RLEMask: Sendable, Hashable {
    public let height: Int
    public let width: Int
    /// Alternating run lengths, zeros first; they add up to `height * width`.
    public let counts: [UInt32]

    /// Checks that the runs cover the mask exactly.
    public init(height: Int, width: Int, counts: [UInt32]) throws {
        try Self.checkSize(height: height, width: width)
        let total = counts.reduce(0) { $0 + Int($1) }
        guard total == height * width else {
            throw SightlineError(.invalidArgument, "RLE runs cover \(total) pixels, a \(height)x\(width) mask has \(height * width)",
                                 context: ["size": "[\(height), \(width)]"])
        }
        self.height = height
        self.width = width
        self.counts = counts
    }

    init(uncheckedHeight height: Int, width: Int, counts: [UInt32]) {
        self.height = height
        self.width = width
        self.counts = counts
    }

    static func checkSize(height: Int, width: Int) throws {
        guard height > 0, width > 0 else {
            throw SightlineError(.invalidArgument, "RLE mask size must be positive", context: ["size": "[\(height), \(width)]"])
        }
        // A size read off the wire can be any integer; its pixel count must not overflow
        // where the runs are checked against it.
        guard !height.multipliedReportingOverflow(by: width).overflow else {
            throw SightlineError(.invalidArgument, "RLE mask size has more pixels than can be counted", context: ["size": "[\(height), \(width)]"])
        }
    }

    /// Encodes a mask, as `pycocotools.mask.encode` does.
    public init(_ mask: BinaryMask) {
        var counts: [UInt32] = []
        counts.reserveCapacity(64)
        var current: UInt8 = 0
        var run: UInt32 = 0
        mask.bits.withUnsafeBufferPointer { bits in
            for x in 0..<mask.width {
                var i = x
                for _ in 0..<mask.height {
                    let v = bits[i]
                    if v != current {
                        counts.append(run)
                        run = 0
                        current = v
                    }
                    run += 1
                    i += mask.width
                }
            }
        }
        counts.append(run)
        self.init(uncheckedHeight: mask.height, width: mask.width, counts: counts)
    }

    /// Decodes pycocotools' compressed string form, checking it against the size.
    public init(height: Int, width: Int, compressed: String) throws {
        try Self.checkSize(height: height, width: width)
        let context = ["size": "[\(height), \(width)]"]
        var counts: [UInt32] = []
        var bytes = Array(compressed.utf8)[...]
        var total = 0
        while !bytes.isEmpty {
            var x: Int64 = 0
            var k: Int64 = 0
            var more = true
            while more {
                guard let byte = bytes.popFirst() else {
                    throw SightlineError(.invalidArgument, "RLE counts string ends in the middle of a run length", context: context)
                }
                guard byte >= 48, byte <= 111 else {
                    throw SightlineError(.invalidArgument, "RLE counts string holds a character outside '0'...'o'",
                                         context: context.merging(["character": String(UnicodeScalar(byte))]) { a, _ in a })
                }
                guard k < 12 else {
                    throw SightlineError(.invalidArgument, "RLE counts string holds a run length too long for 32 bits", context: context)
                }
                let c = Int64(byte) - 48
                x |= (c & 0x1f) << (5 * k)
                more = c & 0x20 != 0
                k += 1
                if !more && c & 0x10 != 0 { x |= -1 << (5 * k) }
            }
            // Runs after the second are stored as the difference to the run two before.
            if counts.count > 2 { x += Int64(counts[counts.count - 2]) }
            guard x >= 0, x <= Int64(UInt32.max) else {
                throw SightlineError(.invalidArgument, "RLE counts string decodes to an impossible run length \(x)", context: context)
            }
            counts.append(UInt32(x))
            total += Int(x)
            guard total <= height * width else {
                throw SightlineError(.invalidArgument, "RLE runs cover more than the \(height * width) pixels of the mask", context: context)
            }
        }
        guard total == height * width else {
            throw SightlineError(.invalidArgument, "RLE runs cover \(total) pixels, a \(height)x\(width) mask has \(height * width)", context: context)
        }
        self.init(uncheckedHeight: height, width: width, counts: counts)
    }

    /// pycocotools' compressed string form (`rleToString`): each run, or after the second its
    /// difference to the run two before, as little-endian groups of five bits with a sign
    /// bit on the last and a continuation bit on the others, each group written as `48 + value`.
    public var compressed: String {
        var out: [UInt8] = []
        out.reserveCapacity(counts.count * 2)
        for i in counts.indices {
            var x = Int64(counts[i])
            if i > 2 { x -= Int64(counts[i - 2]) }
            var more = true
            while more {
                var c = UInt8(truncatingIfNeeded: x & 0x1f)
                x >>= 5
                more = c & 0x10 != 0 ? x != -1 : x != 0
                if more { c |= 0x20 }
                out.append(c + 48)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Foreground pixels, as `pycocotools.mask.area`.
    public var area: Int {
        var sum = 0
        var i = 1
        while i < counts.count {
            sum += Int(counts[i])
            i += 2
        }
        return sum
    }

    /// The bounding box as `pycocotools.mask.toBbox` computes it: `[0, 0, 0, 0]` when empty.
    public var boundingBox: PixelBox {
        let h = height
        let m = counts.count / 2 * 2
        guard m > 0 else { return PixelBox(x: 0, y: 0, width: 0, height: 0) }
        var xs = width, ys = h, xe = 0, ye = 0
        var cc = 0
        var xp = 0
        for j in 0..<m {
            cc += Int(counts[j])
            let t = cc - j % 2
            let y = t % h
            let x = (t - y) / h
            if j % 2 == 0 {
                xp = x
            } else if xp < x {
                // A run of foreground that wraps into the next column spans every row.
                ys = 0
                ye = h - 1
            }
            xs = min(xs, x); xe = max(xe, x)
            ys = min(ys, y); ye = max(ye, y)
        }
        return PixelBox(x: xs, y: ys, width: xe - xs + 1, height: ye - ys + 1)
    }

    /// The mask as row-major pixels.
    public func decoded() -> BinaryMask {
        var bits = [UInt8](repeating: 0, count: width * height)
        var index = 0
        var value: UInt8 = 0
        bits.withUnsafeMutableBufferPointer { out in
            for run in counts {
                if value == 1 {
                    for i in index..<(index + Int(run)) {
                        let x = i / height
                        let y = i - x * height
                        out[y * width + x] = 1
                    }
                }
                index += Int(run)
                value ^= 1
            }
        }
        return BinaryMask(uncheckedWidth: width, height: height, bits: bits)
    }
}

extension RLEMask: Codable {
    enum CodingKeys: String, CodingKey { case size, counts }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let size = try c.decode([Int].self, forKey: .size)
        guard size.count == 2 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "mask size must be [height, width]")
        }
        let counts = try c.decode(String.self, forKey: .counts)
        do {
            try self.init(height: size[0], width: size[1], compressed: counts)
        } catch let error as SightlineError {
            throw DecodingError.dataCorruptedError(forKey: .counts, in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode([height, width], forKey: .size)
        try c.encode(compressed, forKey: .counts)
    }
}
