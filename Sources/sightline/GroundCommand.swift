import ArgumentParser
import Foundation
import SightlineCore
import SightlineGrounding
import SightlineMedia
import SightlineModel
import SightlinePipeline
import SightlineProtocol

/// `sightline ground FILE --query ... --model DIR --out DIR`: grounds a whole video file.
struct GroundCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ground",
        abstract: "Ground text queries in a video file: events, pictures and contact sheets.",
        discussion: """
            Writes OUT/events.jsonl (match events in the daemon's schema, masks as COCO RLE), \
            OUT/pictures/<query>/track-<n>-<pts>.png (frames with the match drawn on them, at most one \
            per --picture-interval seconds per track) and OUT/<query>.png (a contact sheet per query). \
            With --show-motion the pictures also show the change detector's motion boxes in yellow \
            (the whole frame outlined for a global change), as the daemon computes them for status.
            """
    )

    @Argument(help: "The video file.")
    var file: String

    @Option(name: .customLong("query"), help: "A text query (repeatable; at least one).")
    var queries: [String]

    @Option(name: .long, help: "Output directory (created if missing).")
    var out: String

    @Option(name: .customLong("sample-rate"), help: "Frames per second to ground.")
    var sampleRate = 5.0

    @Option(name: .customLong("frame-short-side"), help: "Scale frames so that the short side has this many pixels (default: as decoded).")
    var frameShortSide: Int?

    @Option(name: .customLong("picture-interval"), help: "Seconds between pictures of one track.")
    var pictureInterval = 1.0

    @Flag(name: .customLong("show-motion"), help: "Draw the change detector's motion boxes on the pictures and count the frames that changed.")
    var showMotion = false

    @OptionGroup var grounding: GroundingOptions

    func validate() throws {
        guard !queries.isEmpty else { throw ValidationError("give at least one --query") }
        guard queries.allSatisfy({ !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else { throw ValidationError("a --query is empty") }
        guard sampleRate > 0, sampleRate <= 120 else { throw ValidationError("--sample-rate must be in (0, 120]") }
        guard pictureInterval >= 0 else { throw ValidationError("--picture-interval must not be negative") }
        if let s = frameShortSide, s < 16 { throw ValidationError("--frame-short-side must be at least 16") }
    }

    func run() async throws {
        let logger = groundingLogger("sightline.ground")
        guard FileManager.default.fileExists(atPath: file) else {
            throw SightlineError(.fileNotFound, "the video file does not exist", context: ["file": file])
        }
        let outputs = try GroundOutputs(directory: out, queries: queries.enumerated().map { GroundingQuery(id: "q\($0.offset + 1)", text: $0.element) },
                                        pictureInterval: pictureInterval, retention: grounding.minDuration + grounding.grace + 2)
        let model = try await grounding.loadModel(logger: logger)
        let grounder = try StreamGrounder(stream: file, model: model, settings: grounding.settings, queries: outputs.queries, logger: logger)
        let progress = ProgressBar(label: "grounding")
        var batch: [Frame] = []
        var frames = 0
        let started = Date()
        func run(_ frames: [Frame]) async throws {
            let result = try await engineThread.run { try grounder.process(frames) }
            for frame in frames { outputs.keep(frame) }
            try outputs.write(result.events)
        }
        var detector = MotionDetector()
        var changed = (frames: 0, global: 0)
        for try await frame in readFrames(of: file, sampleRate: sampleRate, shortSide: frameShortSide, stream: file, logger: logger) {
            if showMotion {
                let verdict = try await detector.updateOffPool(frame.image)
                if verdict.changed { changed.frames += 1 }
                if verdict.globalChange { changed.global += 1 }
                outputs.note(verdict, at: frame.pts)
            }
            if let first = batch.first, first.image.width != frame.image.width || first.image.height != frame.image.height {
                try await run(batch)
                batch.removeAll()
            }
            batch.append(frame)
            frames += 1
            if batch.count >= grounding.batch {
                try await run(batch)
                batch.removeAll()
            }
            let rate = Double(frames) / max(Date().timeIntervalSince(started), 1e-3)
            progress.update(done: frames, total: nil, detail: "frames, t=\(Self.seconds(frame.pts)), \(Self.seconds(rate)) frames/s, \(outputs.eventCount) events")
        }
        try await run(batch)
        try outputs.write(grounder.finish())
        progress.finish()
        let sheets = try outputs.finish()
        Output.line("grounded \(frames) frames of \(file) in \(Self.seconds(Date().timeIntervalSince(started))) s")
        for (query, tracks) in outputs.trackCounts { Output.line("  \(query.id) \"\(query.text)\": \(tracks) track\(tracks == 1 ? "" : "s")") }
        if showMotion { Output.line("motion: \(changed.frames) of \(frames) frames changed (\(changed.global) of them as a whole)") }
        Output.line("events: \(outputs.eventsPath) (\(outputs.eventCount) events)")
        Output.line("pictures: \(outputs.pictureCount) in \(out)/pictures; contact sheets: \(sheets.joined(separator: ", "))")
        if model.info.isTestModel { Output.line("model \(model.info.name) is a test model with random weights: these matches mean nothing") }
    }

    static func seconds(_ v: Double) -> String {
        let hundredths = Int((v * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }
}

/// Everything `ground` writes, as it goes: events at once, pictures when their frame is at hand.
final class GroundOutputs {
    let directory: String
    let queries: [GroundingQuery]
    let pictureInterval: Double
    /// Seconds of frames kept for pictures: a tube's first frames are reported only once it
    /// is confirmed, so its frames must still be at hand then.
    let retention: Double
    let eventsPath: String
    private let events: FileHandle
    private var recent: [Double: RGBImage] = [:]
    private var motion: [Double: MotionDetector.Result] = [:]
    private var lastPicture: [Int: Double] = [:]
    private var tiles: [String: [(image: RGBImage, caption: String)]] = [:]
    private var tracks: [String: Set<Int>] = [:]
    private(set) var eventCount = 0
    private(set) var pictureCount = 0
    static let tileWidth = 240
    static let maxTiles = 48

    init(directory: String, queries: [GroundingQuery], pictureInterval: Double, retention: Double) throws {
        self.directory = directory
        self.queries = queries
        self.pictureInterval = pictureInterval
        self.retention = retention
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for q in queries { try fm.createDirectory(atPath: "\(directory)/pictures/\(slug(q.id, q.text))", withIntermediateDirectories: true) }
        } catch {
            throw SightlineError(.fileNotFound, "cannot create the output directory: \(error.localizedDescription)", context: ["directory": directory])
        }
        eventsPath = "\(directory)/events.jsonl"
        guard fm.createFile(atPath: eventsPath, contents: nil), let handle = FileHandle(forWritingAtPath: eventsPath) else {
            throw SightlineError(.system, "cannot write the events file", context: ["file": eventsPath])
        }
        events = handle
    }

    var trackCounts: [(GroundingQuery, Int)] { queries.map { ($0, tracks[$0.id]?.count ?? 0) } }

    func keep(_ frame: Frame) {
        recent[frame.pts] = frame.image
        recent = recent.filter { $0.key >= frame.pts - retention }
        motion = motion.filter { $0.key >= frame.pts - retention }
    }

    /// The change detector's verdict on the frame at `pts`, drawn on its pictures.
    func note(_ verdict: MotionDetector.Result, at pts: Double) { motion[pts] = verdict }

    func write(_ batch: [MatchEvent]) throws {
        guard !batch.isEmpty else { return }
        var bytes: [UInt8] = []
        for event in batch {
            // The same line a subscriber of the daemon receives.
            bytes += Event.match(event).line()
            tracks[event.query, default: []].insert(event.track)
            for frame in event.frames { try picture(event, frame) }
        }
        try events.write(contentsOf: Data(bytes))
        eventCount += batch.count
    }

    private func picture(_ event: MatchEvent, _ frame: MatchFrame) throws {
        if let last = lastPicture[event.track], frame.pts - last < pictureInterval { return }
        guard var image = recent[frame.pts] else { return }
        lastPicture[event.track] = frame.pts
        MatchPicture.draw(on: &image, frame: frame, text: event.text, track: event.track)
        // On top, so that a mask's tint does not hide the boxes.
        if let verdict = motion[frame.pts] { MatchPicture.drawMotion(on: &image, verdict) }
        let query = queries.first { $0.id == event.query }
        let folder = "\(directory)/pictures/\(slug(event.query, query?.text ?? event.text))"
        try ImageFile.writePNG(image, to: "\(folder)/track-\(event.track)-\(GroundCommand.seconds(frame.pts)).png")
        pictureCount += 1
        let h = max(1, image.height * Self.tileWidth / image.width)
        var list = tiles[event.query, default: []]
        list.append((image.resized(width: Self.tileWidth, height: h), "#\(event.track) t=\(GroundCommand.seconds(frame.pts))s \(MatchPicture.formatScore(frame.score))"))
        // Past the limit, keep every other tile: the sheet still spans the whole video.
        if list.count > 2 * Self.maxTiles { list = list.enumerated().filter { $0.offset % 2 == 0 }.map(\.element) }
        tiles[event.query] = list
    }

    /// Closes the events file and writes the contact sheets; returns their paths.
    func finish() throws -> [String] {
        try events.close()
        var paths: [String] = []
        for q in queries {
            var list = tiles[q.id] ?? []
            if list.count > Self.maxTiles {
                let step = Double(list.count) / Double(Self.maxTiles)
                list = (0..<Self.maxTiles).map { list[Int(Double($0) * step)] }
            }
            let sheet = ContactSheet.make(title: "\(q.id): \(q.text)", tiles: list, columns: 4, tileWidth: Self.tileWidth)
            let path = "\(directory)/\(slug(q.id, q.text)).png"
            try ImageFile.writePNG(sheet, to: path)
            paths.append(path)
        }
        return paths
    }
}
