import SightlineCore

/// A mask that stores only the pixels of its bounding box: instances are usually small next
/// to the frame, and comparing or encoding them then costs their size, not the frame's.
public struct RegionMask: Sendable, Equatable {
    public let frameWidth: Int
    public let frameHeight: Int
    /// The box the bits cover, inside the frame; width 0 for an empty mask.
    public let box: PixelBox
    /// `box.width * box.height` values, 0 or 1, row-major.
    public let bits: [UInt8]
    public let area: Int

    init(frameWidth: Int, frameHeight: Int, box: PixelBox, bits: [UInt8], area: Int? = nil) {
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
        self.box = box
        self.bits = bits
        self.area = area ?? bits.reduce(0) { $0 + Int($1) }
    }

    /// The foreground of `mask`, cropped to its bounding box.
    public init(_ mask: BinaryMask) {
        guard let box = mask.boundingBox else {
            self.init(frameWidth: mask.width, frameHeight: mask.height, box: PixelBox(x: 0, y: 0, width: 0, height: 0), bits: [])
            return
        }
        var bits = [UInt8](repeating: 0, count: box.area)
        for y in 0..<box.height {
            for x in 0..<box.width {
                bits[y * box.width + x] = mask.bits[(box.y + y) * mask.width + box.x + x]
            }
        }
        self.init(frameWidth: mask.width, frameHeight: mask.height, box: box, bits: bits)
    }

    public subscript(x: Int, y: Int) -> Bool {
        let lx = x - box.x, ly = y - box.y
        guard lx >= 0, ly >= 0, lx < box.width, ly < box.height else { return false }
        return bits[ly * box.width + lx] != 0
    }

    public func binary() -> BinaryMask {
        var out = [UInt8](repeating: 0, count: frameWidth * frameHeight)
        for y in 0..<box.height {
            for x in 0..<box.width {
                out[(box.y + y) * frameWidth + box.x + x] = bits[y * box.width + x]
            }
        }
        return BinaryMask(uncheckedWidth: frameWidth, height: frameHeight, bits: out)
    }

    /// COCO RLE over the whole frame, built column by column without a frame-sized buffer.
    public func rle() -> RLEMask {
        var counts: [UInt32] = []
        var current: UInt8 = 0
        var run: UInt32 = 0
        let h = frameHeight
        @inline(__always) func push(_ value: UInt8, _ length: Int) {
            guard length > 0 else { return }
            if value != current {
                counts.append(run)
                run = 0
                current = value
            }
            run += UInt32(length)
        }
        for x in 0..<frameWidth {
            let lx = x - box.x
            guard lx >= 0, lx < box.width else {
                push(0, h)
                continue
            }
            push(0, box.y)
            for ly in 0..<box.height { push(bits[ly * box.width + lx], 1) }
            push(0, h - box.y - box.height)
        }
        counts.append(run)
        return RLEMask(uncheckedHeight: frameHeight, width: frameWidth, counts: counts)
    }

    /// Pixels in both this mask and `other` moved by `(dx, dy)`.
    public func intersection(with other: RegionMask, dx: Int = 0, dy: Int = 0) -> Int {
        let ox = other.box.x + dx, oy = other.box.y + dy
        let x0 = max(box.x, ox), x1 = min(box.x + box.width, ox + other.box.width)
        let y0 = max(box.y, oy), y1 = min(box.y + box.height, oy + other.box.height)
        guard x0 < x1, y0 < y1 else { return 0 }
        var count = 0
        for y in y0..<y1 {
            let a = (y - box.y) * box.width - box.x
            let b = (y - oy) * other.box.width - ox
            for x in x0..<x1 { count += Int(bits[a + x] & other.bits[b + x]) }
        }
        return count
    }

    /// Intersection over union with `other` moved by `(dx, dy)`.
    public func iou(with other: RegionMask, dx: Int = 0, dy: Int = 0) -> Double {
        let inter = intersection(with: other, dx: dx, dy: dy)
        let union = area + other.area - inter
        return union == 0 ? 0 : Double(inter) / Double(union)
    }
}
