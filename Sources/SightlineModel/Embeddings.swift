import COpenBLAS

/// Embeddings, one per row, row-major: row `i` is `values[i * dim ..< (i + 1) * dim]`.
public struct EmbeddingMatrix: Sendable, Equatable {
    public var rows: Int
    public var dim: Int
    public var values: [Float]

    public init(rows: Int, dim: Int, values: [Float]) {
        precondition(values.count == rows * dim, "EmbeddingMatrix needs rows * dim values")
        self.rows = rows
        self.dim = dim
        self.values = values
    }

    public subscript(row: Int) -> ArraySlice<Float> {
        values[(row * dim)..<((row + 1) * dim)]
    }
}

/// Patch embeddings of one image in the joint text-image space, each L2-normalised, row-major
/// over (y, x) patches: patch (x, y) is `values[(y * gridWidth + x) * dim ..< ... + dim]`.
public struct DenseEmbeddings: Sendable, Equatable {
    public var gridWidth: Int
    public var gridHeight: Int
    public var dim: Int
    public var values: [Float]

    public init(gridWidth: Int, gridHeight: Int, dim: Int, values: [Float]) {
        precondition(values.count == gridWidth * gridHeight * dim, "DenseEmbeddings needs gridWidth * gridHeight * dim values")
        self.gridWidth = gridWidth
        self.gridHeight = gridHeight
        self.dim = dim
        self.values = values
    }

    public var patchCount: Int { gridWidth * gridHeight }
}

/// The cosine similarity of every patch with every text row (both are unit length, so this is
/// their dot product) as one matrix product: [patches, texts], row-major.
public func cosineSimilarities(_ dense: DenseEmbeddings, _ texts: EmbeddingMatrix) -> [Float] {
    precondition(dense.dim == texts.dim, "patch and text embeddings have different widths (\(dense.dim) and \(texts.dim))")
    let patches = dense.patchCount
    var result = [Float](repeating: 0, count: patches * texts.rows)
    guard patches > 0, texts.rows > 0 else { return result }
    dense.values.withUnsafeBufferPointer { a in
        texts.values.withUnsafeBufferPointer { b in
            result.withUnsafeMutableBufferPointer { c in
                matmul(rows: patches, columns: texts.rows, inner: dense.dim, a.baseAddress!, dense.dim,
                       b.baseAddress!, texts.dim, transposeB: true, c.baseAddress!, texts.rows)
            }
        }
    }
    return result
}
