import Foundation
import Logging
import SightlineCore

extension CLIPModel {
    /// The same checkpoint with its linear layers in `precision`: a new engine with threads of
    /// its own. The fp32 values are not kept by the new model (Linear.converted).
    ///
    /// `SIGHTLINE_DEBUG_FAIL_PRECISION=int8` (or bf16) makes that conversion fail as oneDNN
    /// does when it has no kernel for a product: how the tests reach `auto`'s fallback.
    public func converted(to precision: Precision) throws -> CLIPModel {
        guard precision.isSupported else { throw precision.unsupportedError(field: "precision") }
        if ProcessInfo.processInfo.environment["SIGHTLINE_DEBUG_FAIL_PRECISION"] == precision.rawValue {
            throw SightlineError(.system, "oneDNN could not find a matrix product for \(precision.rawValue) on this CPU (SIGHTLINE_DEBUG_FAIL_PRECISION)",
                                 context: ["library": "libdnnl"])
        }
        return try CLIPModel(name: info.name, directory: info.directory, configuration: configuration, tokenizer: tokenizer,
                             text: try text.converted(to: precision), vision: try vision.converted(to: precision),
                             preprocessor: preprocessor, logitScale: info.logitScale, storage: info.weightsDType,
                             threads: info.threads, precision: precision, precisionReason: "converted from \(info.precision.rawValue)")
    }

    /// What the self-check compares: dense patch embeddings of its images over the whole frame
    /// at the model's own input size, and pooled embeddings of its images and of its texts
    /// (when the model has a tokenizer).
    struct CheckResults {
        var dense: [Float] = []
        var pooled: [Float] = []
    }

    func checkResults(_ check: PrecisionCheck) throws -> CheckResults {
        var results = CheckResults()
        results.dense = try encodeDense(check.images, framing: .fullFrame(shortSide: info.imageSize)).flatMap(\.values)
        results.pooled = try encodeImages(check.images).values
        if tokenizer != nil, !check.texts.isEmpty { results.pooled += try encodeTexts(check.texts).values }
        return results
    }

    /// How closely `other` (the same checkpoint at another precision) reproduces this model on `check`.
    public func agreement(of other: CLIPModel, on check: PrecisionCheck) throws -> PrecisionAgreement {
        agreement(try checkResults(check), try other.checkResults(check))
    }

    func agreement(_ reference: CheckResults, _ candidate: CheckResults) -> PrecisionAgreement {
        let patches = Self.rowCosines(reference.dense, candidate.dense, dim: info.embedDim)
        let pooled = Self.rowCosines(reference.pooled, candidate.pooled, dim: info.embedDim)
        return PrecisionAgreement(
            meanPatchCosine: patches.reduce(0, +) / Float(max(1, patches.count)),
            minimumPatchCosine: patches.min() ?? 1, minimumPooledCosine: pooled.min() ?? 1)
    }

    /// Cosine similarity of each pair of rows (the embeddings are L2-normalised, but a
    /// conversion's rounding is what is measured, so they are normalised again here).
    static func rowCosines(_ a: [Float], _ b: [Float], dim: Int) -> [Float] {
        stride(from: 0, to: min(a.count, b.count), by: dim).map { start in
            var dot: Float = 0, aa: Float = 0, bb: Float = 0
            for i in start..<(start + dim) {
                dot += a[i] * b[i]
                aa += a[i] * a[i]
                bb += b[i] * b[i]
            }
            return dot / max((aa * bb).squareRoot(), .leastNormalMagnitude)
        }
    }

    /// The model at the precision `setting` asks for. `auto` takes the fastest candidate whose
    /// results agree with fp32 on `check`, else fp32; an explicit precision is used as asked,
    /// with a warning when it fails the check. `self` is the fp32 model.
    func choosing(_ setting: PrecisionSetting, check: PrecisionCheck?, logger: Logger) throws -> CLIPModel {
        switch setting {
        case .fixed(.fp32):
            return self
        case .fixed(let precision):
            guard precision.isSupported else { throw precision.unsupportedError(field: "precision") }
            let reference = try check.map { try checkResults($0) }
            let candidate = try converted(to: precision)
            var reason = "\(precision.rawValue) was asked for"
            if let check, let reference {
                let agreement = agreement(reference, try candidate.checkResults(check))
                reason += agreement.passes ? " and passes the self-check (\(agreement.summary))" : " and fails the self-check (\(agreement.summary))"
                if !agreement.passes {
                    logger.warning("the asked-for precision disagrees with fp32 on the self-check images; its matches may differ",
                                   metadata: ["precision": "\(precision.rawValue)", "check": "\(agreement.summary)"])
                }
            }
            return candidate.withPrecisionReason(reason)
        case .auto:
            guard let check else { return withPrecisionReason("auto without self-check inputs stays at fp32") }
            let reference = try checkResults(check)
            var failures: [String] = []
            for precision in Precision.candidates {
                // A precision whose kernels cannot be made or run here is passed over like one
                // that fails the check: auto never stops the engine from loading in fp32.
                let candidate: CLIPModel, agreement: PrecisionAgreement
                do {
                    candidate = try converted(to: precision)
                    agreement = self.agreement(reference, try candidate.checkResults(check))
                } catch {
                    logger.warning("cannot run this precision: passing it over", metadata: [
                        "precision": "\(precision.rawValue)", "error": "\(error)", "model": "\(info.name)",
                    ])
                    failures.append("\(precision.rawValue): \(error)")
                    continue
                }
                if agreement.passes {
                    return candidate.withPrecisionReason("auto: \(precision.rawValue) passes the self-check (\(agreement.summary))")
                }
                logger.info("self-check failed: not running this precision", metadata: [
                    "precision": "\(precision.rawValue)", "check": "\(agreement.summary)", "model": "\(info.name)",
                ])
                failures.append("\(precision.rawValue): \(agreement.summary)")
            }
            let reason = failures.isEmpty
                ? "auto: no lower precision runs on this CPU"
                : "auto: fp32, as no lower precision runs and passes the self-check (\(failures.joined(separator: "; ")))"
            if !failures.isEmpty {
                logger.warning("running fp32: no lower precision agrees with it closely enough on this checkpoint",
                               metadata: ["model": "\(info.name)", "check": "\(failures.joined(separator: "; "))"])
            }
            return withPrecisionReason(reason)
        }
    }

    /// This model with another account of its precision (the engine is shared, not copied).
    func withPrecisionReason(_ reason: String) -> CLIPModel {
        CLIPModel(sharing: self, precisionReason: reason)
    }
}
