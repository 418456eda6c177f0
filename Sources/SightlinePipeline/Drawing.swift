import SightlineCore
import SightlineGrounding

/// An RGB colour.
public struct Colour: Sendable, Equatable {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    public static let white = Colour(255, 255, 255)
    public static let black = Colour(0, 0, 0)
    /// The change detector's boxes (`sightline ground --show-motion`); no track has it.
    public static let motion = Colour(255, 215, 0)

    /// Well-separated colours for tracks, picked by track number.
    public static let palette = [
        Colour(230, 25, 75), Colour(60, 180, 75), Colour(0, 130, 200), Colour(245, 130, 48),
        Colour(145, 30, 180), Colour(70, 240, 240), Colour(240, 50, 230), Colour(210, 245, 60),
        Colour(250, 190, 212), Colour(0, 128, 128),
    ]

    public static func track(_ number: Int) -> Colour { palette[((number % palette.count) + palette.count) % palette.count] }
}

/// Drawing primitives on RGB images, clipped to the image.
extension RGBImage {
    @inline(__always)
    mutating func blend(x: Int, y: Int, _ c: Colour, alpha: Float) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Float(a) * (1 - alpha) + Float(b) * alpha).rounded()) }
        pixels[i] = mix(pixels[i], c.r)
        pixels[i + 1] = mix(pixels[i + 1], c.g)
        pixels[i + 2] = mix(pixels[i + 2], c.b)
    }

    @inline(__always)
    mutating func set(x: Int, y: Int, _ c: Colour) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.r
        pixels[i + 1] = c.g
        pixels[i + 2] = c.b
    }

    /// Fills a rectangle, blended with `alpha` (1 paints over).
    public mutating func fill(_ box: PixelBox, _ c: Colour, alpha: Float = 1) {
        let x0 = max(0, box.x), y0 = max(0, box.y)
        let x1 = min(width, box.x + box.width), y1 = min(height, box.y + box.height)
        guard x0 < x1, y0 < y1 else { return }
        for y in y0..<y1 { for x in x0..<x1 { alpha >= 1 ? set(x: x, y: y, c) : blend(x: x, y: y, c, alpha: alpha) } }
    }

    /// Draws the outline of a box, `thickness` pixels wide, inside the box.
    public mutating func outline(_ box: PixelBox, _ c: Colour, thickness: Int = 2) {
        let t = min(thickness, max(1, min(box.width, box.height)))
        fill(PixelBox(x: box.x, y: box.y, width: box.width, height: t), c)
        fill(PixelBox(x: box.x, y: box.y + box.height - t, width: box.width, height: t), c)
        fill(PixelBox(x: box.x, y: box.y, width: t, height: box.height), c)
        fill(PixelBox(x: box.x + box.width - t, y: box.y, width: t, height: box.height), c)
    }

    /// Tints the pixels of `mask` (a mask of this image's size).
    public mutating func tint(_ mask: BinaryMask, _ c: Colour, alpha: Float = 0.45) {
        guard mask.width == width, mask.height == height else { return }
        for y in 0..<height { for x in 0..<width where mask.bits[y * width + x] != 0 { blend(x: x, y: y, c, alpha: alpha) } }
    }

    /// A filled disc with a dark rim, to mark a point on any background.
    public mutating func marker(at p: PixelPoint, _ c: Colour, radius: Int = 4) {
        let outer = radius + 1
        for dy in -outer...outer {
            for dx in -outer...outer {
                let d2 = dx * dx + dy * dy
                if d2 <= radius * radius {
                    set(x: p.x + dx, y: p.y + dy, c)
                } else if d2 <= outer * outer {
                    set(x: p.x + dx, y: p.y + dy, .black)
                }
            }
        }
    }

    /// Draws `text` with its top-left corner at `(x, y)`, on a filled label when `background`
    /// is given; returns the label's box.
    @discardableResult
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int = 1, _ c: Colour = .white,
                              background: Colour? = nil) -> PixelBox {
        let pad = scale
        let label = PixelBox(x: x, y: y, width: BitmapFont.width(of: text, scale: scale) + 2 * pad,
                             height: BitmapFont.glyphHeight * scale + 2 * pad)
        if let background { fill(label, background, alpha: 0.85) }
        for (i, ch) in text.enumerated() {
            let ox = x + pad + i * BitmapFont.advance * scale
            for gy in 0..<BitmapFont.glyphHeight {
                for gx in 0..<BitmapFont.glyphWidth where BitmapFont.ink(ch, x: gx, y: gy) {
                    fill(PixelBox(x: ox + gx * scale, y: y + pad + gy * scale, width: scale, height: scale), c)
                }
            }
        }
        return label
    }

    /// This image scaled to `width x height`, each output pixel the mean of the input pixels
    /// it covers (or the nearest one when enlarging).
    public func resized(width w: Int, height h: Int) -> RGBImage {
        var out = RGBImage(width: max(1, w), height: max(1, h))
        let xb = (0...out.width).map { $0 * width / out.width }
        let yb = (0...out.height).map { $0 * height / out.height }
        for y in 0..<out.height {
            let y0 = yb[y], y1 = max(yb[y + 1], y0 + 1)
            for x in 0..<out.width {
                let x0 = xb[x], x1 = max(xb[x + 1], x0 + 1)
                var s = (0, 0, 0)
                for sy in y0..<y1 {
                    for sx in x0..<x1 {
                        let i = (sy * width + sx) * 3
                        s.0 += Int(pixels[i]); s.1 += Int(pixels[i + 1]); s.2 += Int(pixels[i + 2])
                    }
                }
                let n = (y1 - y0) * (x1 - x0)
                let o = (y * out.width + x) * 3
                out.pixels[o] = UInt8(s.0 / n); out.pixels[o + 1] = UInt8(s.1 / n); out.pixels[o + 2] = UInt8(s.2 / n)
            }
        }
        return out
    }
}

/// Pictures a person can check at a glance: a frame with a match drawn on it.
public enum MatchPicture {
    /// Text scale that stays legible on the frame: 1 below 400 pixels wide, then 2, 3...
    public static func textScale(forWidth width: Int) -> Int { max(1, width / 400 + 1) }

    /// Draws the mask tinted, the box, the point and a label (query text, track, score).
    public static func draw(on image: inout RGBImage, frame: MatchFrame, text: String, track: Int) {
        let c = Colour.track(track)
        if let mask = frame.mask, mask.width == image.width, mask.height == image.height {
            image.tint(mask.decoded(), c)
        }
        let scale = textScale(forWidth: image.width)
        if let box = frame.box { image.outline(box, c, thickness: scale + 1) }
        if let point = frame.point { image.marker(at: point, c, radius: 2 + 2 * scale) }
        let label = "#\(track) \(text) \(formatScore(frame.score))"
        let labelHeight = BitmapFont.glyphHeight * scale + 2 * scale
        let anchor = frame.box ?? PixelBox(x: 0, y: 0, width: 0, height: 0)
        let y = anchor.y >= labelHeight ? anchor.y - labelHeight : min(image.height - labelHeight, anchor.y + anchor.height)
        let x = min(max(0, anchor.x), max(0, image.width - BitmapFont.width(of: label, scale: scale) - 2 * scale))
        image.text(label, x: x, y: max(0, y), scale: scale, .white, background: c)
    }

    /// Outlines the change detector's motion boxes, or the whole frame for a global change.
    public static func drawMotion(on image: inout RGBImage, _ motion: MotionDetector.Result) {
        let boxes = motion.globalChange ? [PixelBox(x: 0, y: 0, width: image.width, height: image.height)] : motion.boxes
        for box in boxes { image.outline(box, .motion, thickness: 1) }
    }

    public static func formatScore(_ score: Double) -> String {
        let hundredths = Int((score * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }
}
