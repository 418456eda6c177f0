import SightlineKernels

/// CLIP's text transformer: token and position embeddings, causal encoder layers, the final
/// layer norm at the end-of-text token, and the text projection.
struct TextTower: Sendable {
    let config: TowerConfiguration
    let tokenEmbedding: EmbeddingTable
    let positionEmbedding: Weights
    let encoder: TransformerEncoder
    let finalNorm: LayerNormWeights
    let projection: Linear
    let maxPositions: Int
    /// Checkpoints exported before transformers 4.31 say 2 here; the reference then pools at the
    /// highest token id, which is the end-of-text token all the same.
    let eosTokenId: Int

    static func load(_ reader: WeightReader, _ config: CLIPConfiguration) throws -> TextTower {
        let d = config.text.hiddenSize
        return TextTower(
            config: config.text,
            tokenEmbedding: try reader.table("text_model.embeddings.token_embedding.weight", rows: config.vocabSize, columns: d),
            positionEmbedding: try reader.weights("text_model.embeddings.position_embedding.weight", shape: [config.maxPositions, d]),
            encoder: try TransformerEncoder.load(reader, prefix: "text_model.encoder.layers", config: config.text),
            finalNorm: LayerNormWeights(gamma: try reader.weights("text_model.final_layer_norm.weight", shape: [d]),
                                        beta: try reader.weights("text_model.final_layer_norm.bias", shape: [d]),
                                        eps: config.text.layerNormEps),
            projection: Linear(weight: try reader.weights("text_projection.weight", shape: [config.projectionDim, d]),
                               bias: nil, inputs: d, outputs: config.projectionDim),
            maxPositions: config.maxPositions,
            eosTokenId: config.eosTokenId)
    }

    /// The tower with its linear layers in `precision` (the token table stays as stored: it is
    /// read one row per token, not multiplied).
    func converted(to precision: Precision) throws -> TextTower {
        TextTower(config: config, tokenEmbedding: tokenEmbedding, positionEmbedding: positionEmbedding,
                  encoder: try encoder.converted(to: precision), finalNorm: finalNorm, projection: try projection.converted(to: precision),
                  maxPositions: maxPositions, eosTokenId: eosTokenId)
    }

    var linears: [Linear] { [projection] + encoder.layers.flatMap(\.linears) }

    /// Projected, L2-normalised embeddings of token sequences (each at most `maxPositions` long),
    /// written row by row to `output` ([sequences.count, projection]).
    func encode(_ sequences: [[Int32]], output: UnsafeMutablePointer<Float>, workspace: Workspace, pool: ComputePool) {
        let d = config.hiddenSize
        let tokens = sequences.map(\.count).max() ?? 0
        let batch = sequences.count
        workspace.reserve(rows: batch * tokens, dim: d, intermediateSize: config.intermediateSize, tokens: tokens, threads: pool.threadCount)
        let x = workspace.hidden.pointer
        for (b, ids) in sequences.enumerated() {
            for t in 0..<tokens {
                let row = x + (b * tokens + t) * d
                // Positions past a sequence's end are never attended to by its own tokens (the
                // mask is causal), so any finite values will do.
                tokenEmbedding.copyRow(t < ids.count ? Int(ids[t]) : 0, to: row)
                let position = positionEmbedding.pointer + t * d
                for i in 0..<d { row[i] += position[i] }
            }
        }
        encoder.forward(batch: batch, tokens: tokens, causal: true, clearCLIP: false, workspace: workspace, pool: pool)

        let pooled = workspace.normed.pointer
        for (b, ids) in sequences.enumerated() {
            let position: Int
            if eosTokenId == 2 {
                position = ids.indices.max { ids[$0] < ids[$1] } ?? 0  // the first of equal maxima, as torch.argmax
            } else {
                position = ids.firstIndex(of: Int32(eosTokenId)) ?? 0
            }
            finalNorm.apply(rows: 1, dim: d, input: x + (b * tokens + position) * d, output: pooled + b * d)
        }
        projection.apply(rows: batch, input: pooled, inputStride: d, output: output, outputStride: projection.outputs,
                         accumulate: false, activation: nil, scratch: workspace.products[0])
        Kernels.l2Normalize(rows: batch, dim: projection.outputs, data: output)
    }
}
