import Foundation
import Logging
import SightlineCore
@testable import SightlineMedia
import Testing

/// Damaged copies of the committed clip, as users' files get damaged: cut short at many
/// points (a download or copy that stopped), the index garbled or lost, the header
/// overwritten, the start zeroed, the middle scrambled.
struct DamagedFiles {
    /// Files nothing can be played from: every reading must end with `invalid_file`.
    let unplayable: [String]
    /// Files readable up to the damage: a reading ends, with or without an error.
    let partlyReadable: [String]

    init(in directory: TemporaryDirectory) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.davisMP4)))
        // mp4mux writes the index (moov) last; find it to damage it on purpose.
        let moov = Self.atom("moov", in: bytes)!
        var files: [String] = []
        func write(_ name: String, _ content: [UInt8]) throws {
            let path = directory.path(name)
            try Data(content).write(to: URL(fileURLWithPath: path))
            files.append(path)
        }
        for fraction in [0.01, 0.05, 0.3, 0.6, 0.7, 0.9, 0.995] {
            try write("cut-\(fraction).mp4", Array(bytes.prefix(Int(Double(bytes.count) * fraction))))
        }
        var random = SplitMix(seed: 7)
        var garbledIndex = bytes
        for i in (moov + 8)..<bytes.count { garbledIndex[i] = random.byte() }
        try write("garbled-index.mp4", garbledIndex)
        var damagedIndex = bytes
        for i in (moov + 200)..<(moov + 600) { damagedIndex[i] = random.byte() }
        try write("damaged-index.mp4", damagedIndex)
        var header = bytes
        for i in 0..<64 { header[i] = random.byte() }
        try write("garbled-header.mp4", header)
        var zeroed = bytes
        for i in 40..<(bytes.count / 2) { zeroed[i] = 0 }
        try write("zeroed-start.mp4", zeroed)
        unplayable = files

        let scrambled = directory.path("scrambled-middle.mp4")
        try TestMedia.corrupt(Fixtures.davisMP4, to: scrambled)
        partlyReadable = [scrambled]
    }

    /// Offset of the first top-level atom of this type.
    static func atom(_ type: String, in bytes: [UInt8]) -> Int? {
        var offset = 0
        while offset + 8 <= bytes.count {
            let size = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            if String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self) == type { return offset }
            guard size >= 8 else { return nil }
            offset += size
        }
        return nil
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func byte() -> UInt8 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return UInt8(truncatingIfNeeded: z ^ (z >> 31))
    }
}

/// Every reading of a damaged file ends, with GStreamer's reason, however many run at once
/// and however busy the machine. GStreamer's decodebin drops the errors of an element it is
/// still plugging in; with the demuxer in pull mode a truncated MP4's only error could land
/// there and its pipeline waited forever (see `FileFront`). These tests read damaged files
/// hundreds of times, several at once, with every safety deadline off, so a lost error
/// shows as a test that runs into its time limit.
@Suite struct DamagedFileTests {
    @Test(.timeLimit(.minutes(3))) func everyReadingOfADamagedFileEnds() async throws {
        let directory = try TemporaryDirectory()
        let files = try DamagedFiles(in: directory)
        let rounds = 8
        let outcomes = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var problems: [String] = []
                    for _ in 0..<rounds {
                        for path in files.unplayable {
                            do {
                                for try await _ in readFrames(of: path, sampleRate: 5, stallTimeout: nil) {}
                                problems.append("\(path): no error")
                            } catch let error as SightlineError {
                                if error.code != .invalidFile || error.context["file"] != path || error.message.isEmpty {
                                    problems.append("\(path): \(error)")
                                }
                            }
                        }
                        for path in files.partlyReadable {
                            var frames = 0
                            do {
                                for try await _ in readFrames(of: path, sampleRate: 5, stallTimeout: nil) { frames += 1 }
                            } catch let error as SightlineError where error.code == .invalidFile {}
                            if frames == 0 { problems.append("\(path): no frame before the damage") }
                        }
                    }
                    return problems
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(outcomes.isEmpty, "\(outcomes)")
    }

    @Test(.timeLimit(.minutes(3))) func sourcesOnDamagedFilesAllFail() async throws {
        let directory = try TemporaryDirectory()
        let files = try DamagedFiles(in: directory).unplayable
        for round in 0..<2 {
            // A generous stall timeout: a lost error would show as a stall, not as `failed`.
            let runs = try files.enumerated().map { index, path in
                try SourceRun("bad-\(round)-\(index)", SourceOptions(uri: path, realtime: false, stallTimeout: 60))
            }
            for run in runs {
                #expect(await run.finished(timeout: 120))
                let states = await run.states
                guard states.count == 2, states[0] == .starting, case .failed(let message) = states[1] else {
                    Issue.record("\(run.source.options.uri): \(states)")
                    continue
                }
                #expect(!message.isEmpty)
            }
            for run in runs { await run.stop() }
        }
    }

    @Test(.timeLimit(.minutes(3))) func stillImagesOfDamagedVideosFailAtOnce() async throws {
        let directory = try TemporaryDirectory()
        let files = try DamagedFiles(in: directory).unplayable
        // ImageFile blocks its caller: each reader is a thread of its own.
        let problems = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    await onThread {
                        var problems: [String] = []
                        for _ in 0..<2 {
                            for path in files {
                                do {
                                    _ = try ImageFile.read(path)
                                    problems.append("\(path): read")
                                } catch let error as SightlineError where error.code == .invalidFile {
                                } catch {
                                    // A timeout (media_error) would mean the pipeline lost its error.
                                    problems.append("\(path): \(error)")
                                }
                            }
                        }
                        return problems
                    }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(problems.isEmpty, "\(problems)")
    }
}

/// Runs blocking work on a thread of its own, off the cooperative pool.
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}
