/// The 4-connected regions of the pixels at or above a threshold, found on runs rather than
/// pixels: each row's runs of foreground are joined (union-find) to the runs they touch in
/// the row above, so the work is one pass over the values plus a little per run.
struct ConnectedComponents {
    struct Run {
        var y: Int
        /// Columns `x0..<x1`.
        var x0: Int
        var x1: Int
        /// 1...count.
        var component: Int
    }

    var runs: [Run]
    var count: Int
    let width: Int
    let height: Int

    init(values: [Float], width: Int, height: Int, threshold: Float) {
        self.width = width
        self.height = height
        var runs: [Run] = []
        var parent: [Int] = []
        func find(_ a: Int) -> Int {
            var a = a
            while parent[a] != a {
                parent[a] = parent[parent[a]]
                a = parent[a]
            }
            return a
        }
        var previous = 0..<0
        values.withUnsafeBufferPointer { v in
            for y in 0..<height {
                let row = v.baseAddress! + y * width
                let first = runs.count
                var x = 0
                while x < width {
                    while x < width && row[x] < threshold { x += 1 }
                    guard x < width else { break }
                    let start = x
                    while x < width && row[x] >= threshold { x += 1 }
                    let id = parent.count
                    parent.append(id)
                    runs.append(Run(y: y, x0: start, x1: x, component: id))
                }
                // Join with the runs above that share a column.
                var j = previous.lowerBound
                for i in first..<runs.count {
                    while j < previous.upperBound && runs[j].x1 <= runs[i].x0 { j += 1 }
                    var k = j
                    while k < previous.upperBound && runs[k].x0 < runs[i].x1 {
                        let a = find(runs[i].component), b = find(runs[k].component)
                        if a != b { parent[max(a, b)] = min(a, b) }
                        k += 1
                    }
                }
                previous = first..<runs.count
            }
        }
        // Number the regions 1...count in order of first appearance.
        var number = [Int](repeating: 0, count: parent.count)
        var count = 0
        for i in runs.indices {
            let root = find(runs[i].component)
            if number[root] == 0 {
                count += 1
                number[root] = count
            }
            runs[i].component = number[root]
        }
        self.runs = runs
        self.count = count
    }

    /// 0 for background, else the region's number; row-major.
    var labels: [Int32] {
        var out = [Int32](repeating: 0, count: width * height)
        for r in runs { for x in r.x0..<r.x1 { out[r.y * width + x] = Int32(r.component) } }
        return out
    }
}
