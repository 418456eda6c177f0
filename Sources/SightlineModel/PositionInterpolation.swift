/// Resizes the patch position embeddings to another grid exactly as the reference's
/// `interpolate_pos_encoding`: `torch.nn.functional.interpolate(mode="bicubic",
/// align_corners=False)` over the square grid, i.e. Keys' cubic convolution with A = -0.75,
/// source coordinate `(i + 0.5) * in / out - 0.5`, edge rows and columns repeated, in float.
enum PositionInterpolation {
    @inline(__always)
    static func coefficients(_ t: Float) -> (Float, Float, Float, Float) {
        let a: Float = -0.75
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return (far(t + 1), near(t), near(1 - t), far(2 - t))
    }

    /// `table` is [1 + side * side, dim] (class position first); the result is
    /// [1 + height * width, dim], the class position unchanged.
    static func interpolate(_ table: UnsafePointer<Float>, side: Int, dim: Int, height: Int, width: Int) -> FloatBuffer {
        let result = FloatBuffer(count: (1 + height * width) * dim)
        let out = result.pointer
        out.update(from: table, count: dim)
        let grid = table + dim
        func taps(_ outputSize: Int) -> [(indices: (Int, Int, Int, Int), weights: (Float, Float, Float, Float))] {
            let scale = Float(side) / Float(outputSize)
            return (0..<outputSize).map { o in
                let source = scale * (Float(o) + 0.5) - 0.5
                let base = Int(source.rounded(.down))
                let t = source - Float(base)
                func clamp(_ i: Int) -> Int { min(max(i, 0), side - 1) }
                return ((clamp(base - 1), clamp(base), clamp(base + 1), clamp(base + 2)), coefficients(t))
            }
        }
        let rows = taps(height), columns = taps(width)
        var line = [Float](repeating: 0, count: 4)
        for y in 0..<height {
            let (ry, wy) = rows[y]
            let ys = [ry.0, ry.1, ry.2, ry.3]
            for x in 0..<width {
                let (cx, wx) = columns[x]
                let destination = out + (1 + y * width + x) * dim
                for d in 0..<dim {
                    for (k, yy) in ys.enumerated() {
                        let row = grid + yy * side * dim + d
                        line[k] = row[cx.0 * dim] * wx.0 + row[cx.1 * dim] * wx.1 + row[cx.2 * dim] * wx.2 + row[cx.3 * dim] * wx.3
                    }
                    destination[d] = line[0] * wy.0 + line[1] * wy.1 + line[2] * wy.2 + line[3] * wy.3
                }
            }
        }
        return result
    }

    /// The rows of a whole grid's table (`[1 + gridHeight * gridWidth, dim]`) for the cells of
    /// `window`, row-major over the window, after the class position: the table a window
    /// cut out of that grid is encoded with.
    static func slice(_ table: UnsafePointer<Float>, gridWidth: Int, dim: Int, window: PatchWindow) -> FloatBuffer {
        let result = FloatBuffer(count: (1 + window.cellCount) * dim)
        let out = result.pointer
        out.update(from: table, count: dim)
        for row in 0..<window.height {
            let source = table + (1 + (window.y + row) * gridWidth + window.x) * dim
            (out + (1 + row * window.width) * dim).update(from: source, count: window.width * dim)
        }
        return result
    }
}
