import ArgumentParser
import Foundation
import SightlineCore
import SightlineGrounding
import SightlineMedia
import SightlineModel
import SightlinePipeline

/// `sightline eval --davis ROOT --expressions CSV --model DIR`: J, F, J&F and tIoU on a
/// dataset in the DAVIS layout.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score grounding on a dataset in the DAVIS layout: J, F, J&F and tIoU.",
        discussion: """
            Grounds each (sequence, query) of the expressions file on the sequence's frames and takes, \
            as the prediction of each frame, the mask of the query's best tube (the highest mean score). \
            Prints a table and writes the scores as JSON.
            """
    )

    @Option(name: .long, help: "Root of the dataset (holds JPEGImages/ and Annotations/).")
    var davis: String

    @Option(name: .long, help: "The cases: a `sequence;query` header, then one `sequence;query` per line.")
    var expressions: String

    @Option(name: .long, help: "Resolution folder of the layout.")
    var resolution = "480p"

    @Option(name: .long, help: "Frame rate the sequences were taken at (for tube durations).")
    var fps = 24.0

    @Option(name: .long, help: "Where to write the scores as JSON.")
    var out = "eval.json"

    @OptionGroup var grounding: GroundingOptions

    func validate() throws {
        guard fps > 0, fps <= 240 else { throw ValidationError("--fps must be in (0, 240]") }
    }

    func run() async throws {
        let logger = groundingLogger("sightline.eval")
        let dataset = try DAVISDataset(root: davis, expressions: expressions, resolution: resolution)
        let model = try await grounding.loadModel(logger: logger)
        let settings = grounding.settings
        let total = dataset.cases.reduce(0) { $0 + $1.frames.count }
        let progress = ProgressBar(label: "evaluating")
        var done = 0
        var scores: [CaseScore] = []
        for c in dataset.cases {
            let grounder = try StreamGrounder(stream: c.sequence, model: model, settings: settings,
                                              queries: [GroundingQuery(id: "q1", text: c.query)], logger: logger)
            var events: [MatchEvent] = []
            var pts: [Double] = []
            var start = 0
            let epoch = Date()
            while start < c.frames.count {
                let paths = Array(c.frames[start..<min(start + grounding.batch, c.frames.count)])
                let first = start
                let fps = self.fps
                let sequence = c.sequence
                let batch = try await engineThread.run { () -> GroundingBatch in
                    let frames = try paths.enumerated().map { i, path in
                        let t = Double(first + i) / fps
                        return Frame(stream: sequence, seq: UInt64(first + i), pts: t, captureTime: epoch.addingTimeInterval(t),
                                     image: try ImageFile.read(path))
                    }
                    return try grounder.process(frames)
                }
                events += batch.events
                pts += paths.indices.map { Double(first + $0) / fps }
                start += paths.count
                done += paths.count
                progress.update(done: done, total: total, detail: c.sequence)
            }
            events += grounder.finish()
            let annotations = c.annotations
            let truth = try await engineThread.run { try annotations.map { path in try path.map(Self.readMask) } }
            scores.append(try CaseScorer.score(sequence: c.sequence, query: c.query, events: events, pts: pts, truth: truth))
        }
        progress.finish()
        let report = EvaluationReport(model: model.info.name, testModel: model.info.isTestModel, precision: model.info.precision.rawValue,
                                      cases: scores)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try encoder.encode(report).write(to: URL(fileURLWithPath: out), options: .atomic)
        } catch {
            throw SightlineError(.system, "cannot write the scores: \(error.localizedDescription)", context: ["file": out])
        }
        Output.line(report.table())
        Output.line("scores written to \(out)")
    }

    /// A ground-truth mask: any non-black pixel is the referred object.
    static func readMask(_ path: String) throws -> BinaryMask {
        let image = try ImageFile.read(path)
        var values = [UInt8](repeating: 0, count: image.width * image.height)
        for i in values.indices {
            let p = i * 3
            values[i] = image.pixels[p] | image.pixels[p + 1] | image.pixels[p + 2]
        }
        return try BinaryMask(width: image.width, height: image.height, values: values)
    }
}
