import SightlineCore
import SightlineKernels

/// CLIP's vision transformer: patch embedding as one matrix product, class token, position
/// embeddings (interpolated for other grids), pre-norm, encoder layers, post-norm, projection.
struct VisionTower: Sendable {
    let config: TowerConfiguration
    let patchSize: Int
    /// Patches per side of the grid the position embeddings were trained on.
    let side: Int
    /// [hidden, 3 * patch * patch]: the convolution's kernel, unrolled in (channel, y, x) order.
    let patchEmbedding: Linear
    let classEmbedding: Weights
    let positionEmbedding: Weights
    let preNorm: LayerNormWeights
    let postNorm: LayerNormWeights
    let encoder: TransformerEncoder
    let projection: Linear

    static func load(_ reader: WeightReader, _ config: CLIPConfiguration) throws -> VisionTower {
        let d = config.vision.hiddenSize, p = config.patchSize, side = config.gridSize
        func norm(_ name: String) throws -> LayerNormWeights {
            LayerNormWeights(gamma: try reader.weights("vision_model.\(name).weight", shape: [d]),
                             beta: try reader.weights("vision_model.\(name).bias", shape: [d]), eps: config.vision.layerNormEps)
        }
        return VisionTower(
            config: config.vision, patchSize: p, side: side,
            patchEmbedding: Linear(weight: try reader.weights("vision_model.embeddings.patch_embedding.weight", shape: [d, 3, p, p]),
                                   bias: nil, inputs: 3 * p * p, outputs: d),
            classEmbedding: try reader.weights("vision_model.embeddings.class_embedding", shape: [d]),
            positionEmbedding: try reader.weights("vision_model.embeddings.position_embedding.weight", shape: [side * side + 1, d]),
            preNorm: try norm("pre_layrnorm"), postNorm: try norm("post_layernorm"),
            encoder: try TransformerEncoder.load(reader, prefix: "vision_model.encoder.layers", config: config.vision),
            projection: Linear(weight: try reader.weights("visual_projection.weight", shape: [config.projectionDim, d]),
                               bias: nil, inputs: d, outputs: config.projectionDim))
    }

    /// The tower with its linear layers in `precision`, but for the patch embedding: it is under
    /// 1% of a ViT-B's work, and on small models the layer whose int8 rounding moved the
    /// pooled embeddings most (Docs/model-engine.md).
    func converted(to precision: Precision) throws -> VisionTower {
        VisionTower(config: config, patchSize: patchSize, side: side, patchEmbedding: patchEmbedding,
                    classEmbedding: classEmbedding, positionEmbedding: positionEmbedding, preNorm: preNorm, postNorm: postNorm,
                    encoder: try encoder.converted(to: precision), projection: try projection.converted(to: precision))
    }

    var linears: [Linear] { [patchEmbedding, projection] + encoder.layers.flatMap(\.linears) }

    /// Position embeddings for a grid of `height` x `width` patches: the trained table for its own
    /// square grid, the bicubic interpolation of it for any other.
    func positions(height: Int, width: Int) -> Weights {
        if height == side && width == side { return positionEmbedding }
        return Weights(PositionInterpolation.interpolate(positionEmbedding.pointer, side: side, dim: config.hiddenSize, height: height, width: width))
    }

    enum Output {
        /// One embedding per image from the class token: [images, projection].
        case pooled
        /// ClearCLIP patch embeddings: [images, patches, projection], patches row-major over (y, x).
        case dense
    }

    /// Encodes images that all have the same size, a multiple of the patch size. `lookup` maps
    /// (channel, byte) to the normalised input value; `positions` matches the grid.
    func encode(_ images: [RGBImage], lookup: [Float], positions: Weights, output mode: Output,
                into output: UnsafeMutablePointer<Float>, workspace: Workspace, pool: ComputePool) {
        let d = config.hiddenSize, p = patchSize, projectionDim = projection.outputs
        let width = images[0].width, height = images[0].height
        let gridWidth = width / p, gridHeight = height / p
        let patchCount = gridWidth * gridHeight, tokens = patchCount + 1
        let batch = images.count, rows = batch * tokens, patchValues = 3 * p * p
        let threads = pool.threadCount
        workspace.reserve(rows: rows, dim: d, intermediateSize: config.intermediateSize, tokens: tokens, threads: threads)
        workspace.reservePatches(batch * patchCount * patchValues)
        let x = workspace.hidden.pointer, unrolled = workspace.patches.pointer

        lookup.withUnsafeBufferPointer { lookup in
            let lookup = lookup.baseAddress!
            pool.run { share in
                // Unroll each patch in the kernel's (channel, y, x) order, normalising on the way.
                let part = ComputePool.part(batch * patchCount, share: share, of: threads)
                for n in part {
                    let image = images[n / patchCount], local = n % patchCount
                    let top = (local / gridWidth) * p, left = (local % gridWidth) * p
                    let destination = unrolled + n * patchValues
                    image.pixels.withUnsafeBufferPointer { pixels in
                        for c in 0..<3 {
                            let table = lookup + c * 256
                            for ky in 0..<p {
                                let source = pixels.baseAddress! + ((top + ky) * width + left) * 3 + c
                                let row = destination + (c * p + ky) * p
                                for kx in 0..<p { row[kx] = table[Int(source[kx * 3])] }
                            }
                        }
                    }
                }
                // One product per image's share of patches, straight into its token rows.
                var n = part.lowerBound
                while n < part.upperBound {
                    let b = n / patchCount, local = n % patchCount
                    let count = min(part.upperBound - n, patchCount - local)
                    patchEmbedding.apply(rows: count, input: unrolled + n * patchValues, inputStride: patchValues,
                                         output: x + (b * tokens + 1 + local) * d, outputStride: d, accumulate: false,
                                         activation: nil, scratch: workspace.products[share])
                    n += count
                }
            }
        }
        pool.run { share in
            for row in ComputePool.part(rows, share: share, of: threads) {
                let t = row % tokens
                let destination = x + row * d, position = positions.pointer + t * d
                if t == 0 {
                    for i in 0..<d { destination[i] = classEmbedding.pointer[i] + position[i] }
                } else {
                    for i in 0..<d { destination[i] += position[i] }
                }
                preNorm.apply(rows: 1, dim: d, input: destination, output: destination)
            }
        }

        encoder.forward(batch: batch, tokens: tokens, causal: false, clearCLIP: mode == .dense, workspace: workspace, pool: pool)

        let normed = workspace.normed.pointer
        switch mode {
        case .pooled:
            for b in 0..<batch {
                postNorm.apply(rows: 1, dim: d, input: x + b * tokens * d, output: normed + b * d)
            }
            projection.apply(rows: batch, input: normed, inputStride: d, output: output, outputStride: projectionDim,
                             accumulate: false, activation: nil, scratch: workspace.products[0])
            Kernels.l2Normalize(rows: batch, dim: projectionDim, data: output)
        case .dense:
            pool.run { share in
                let part = ComputePool.part(batch * patchCount, share: share, of: threads)
                var n = part.lowerBound
                while n < part.upperBound {
                    let b = n / patchCount, local = n % patchCount
                    let count = min(part.upperBound - n, patchCount - local)
                    let first = b * tokens + 1 + local
                    postNorm.apply(rows: count, dim: d, input: x + first * d, output: normed + first * d)
                    projection.apply(rows: count, input: normed + first * d, inputStride: d, output: output + n * projectionDim,
                                     outputStride: projectionDim, accumulate: false, activation: nil, scratch: workspace.products[share])
                    Kernels.l2Normalize(rows: count, dim: projectionDim, data: output + n * projectionDim)
                    n += count
                }
            }
        }
    }
}
