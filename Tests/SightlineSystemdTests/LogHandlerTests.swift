#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Testing
@testable import SightlineSystemd

@Suite struct LogHandlerTests {
    /// A temporary file whose descriptor stands in for standard error (a file, not a pipe,
    /// so that writers never wait for a reader).
    final class Capture {
        let write: Int32
        let path: String
        init() {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString)").path
            write = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        }
        deinit {
            close(write)
            unlink(path)
        }
        var journalStream: String {
            var st = stat()
            fstat(write, &st)
            return "\(st.st_dev):\(st.st_ino)"
        }
        func drain() -> String {
            String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
        }
    }

    @Test func detectsTheJournalOnlyWhenTheStreamIsStandardError() {
        let capture = Capture()
        #expect(SystemdLogHandler.detectFormat(environment: ["JOURNAL_STREAM": capture.journalStream], fileDescriptor: capture.write) == .journal)
        // Redirected elsewhere (the variable is inherited, the descriptor is not the journal's).
        let other = Capture()
        #expect(SystemdLogHandler.detectFormat(environment: ["JOURNAL_STREAM": capture.journalStream], fileDescriptor: other.write) == .plain)
        #expect(SystemdLogHandler.detectFormat(environment: [:], fileDescriptor: capture.write) == .plain)
        for malformed in ["", "12", "a:b", "1:2:3", "-1:5"] {
            #expect(SystemdLogHandler.detectFormat(environment: ["JOURNAL_STREAM": malformed], fileDescriptor: capture.write) == .plain)
        }
    }

    /// Every line of the daemon passes this handler: a camera's password in the message, the
    /// metadata or an error never reaches the journal.
    @Test(arguments: [SystemdLogHandler.Format.journal, .plain])
    func credentialsAreMaskedInEveryPartOfALine(format: SystemdLogHandler.Format) {
        let capture = Capture()
        let logger = Logger(label: "sightline.test") { SystemdLogHandler(label: $0, format: format, level: .trace, sink: LogSink(fileDescriptor: capture.write)) }
        logger.error("cannot open rtsp://admin:hunter2@cam/live", metadata: ["uri": "rtsp://admin:hunter2@cam2/x"])
        logger.warning("resource \"rtsp:/admin:hun/ter2@cam3/live\" failed")
        let text = capture.drain()
        #expect(!text.contains("hunter2") && !text.contains("hun/ter2") && !text.contains("admin"), "\(text)")
        #expect(text.contains("rtsp://***@cam/live") && text.contains("rtsp://***@cam2/x") && text.contains("rtsp:/***@cam3/live"), "\(text)")
    }

    @Test(arguments: [
        (Logger.Level.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
    ])
    func journalLinesCarryTheSyslogPriority(level: Logger.Level, priority: Int) {
        let capture = Capture()
        var logger = Logger(label: "sightline.test") { SystemdLogHandler(label: $0, format: .journal, level: .trace, sink: LogSink(fileDescriptor: capture.write)) }
        logger[metadataKey: "stream"] = "cam1"
        logger.log(level: level, "frame dropped", metadata: ["count": "3"])
        #expect(capture.drain() == "<\(priority)>sightline.test: frame dropped count=3 stream=cam1\n")
    }

    @Test func everyLineOfAMultilineMessageKeepsItsPriority() {
        let capture = Capture()
        let logger = Logger(label: "l") { SystemdLogHandler(label: $0, format: .journal, sink: LogSink(fileDescriptor: capture.write)) }
        logger.error("first\nsecond")
        #expect(capture.drain() == "<3>l: first\n<3>second\n")
    }

    @Test func plainLinesHaveATimestampAndTheLevelInWords() throws {
        let capture = Capture()
        let logger = Logger(label: "sightline.test") { SystemdLogHandler(label: $0, format: .plain, sink: LogSink(fileDescriptor: capture.write)) }
        logger.debug("below the level")
        logger.warning("stream stalled", metadata: ["stream": "cam1"])
        let line = capture.drain()
        let pattern = try Regex(#"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warning sightline\.test: stream stalled stream=cam1\n$"#)
        #expect(line.wholeMatch(of: pattern) != nil, "\(line)")
    }

    @Test func linesFromManyThreadsNeverInterleave() async {
        let capture = Capture()
        let sink = LogSink(fileDescriptor: capture.write)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let logger = Logger(label: "t\(task)") { SystemdLogHandler(label: $0, format: .journal, sink: sink) }
                    for i in 0..<50 { logger.info("\(String(repeating: "x", count: 200)) \(i)") }
                }
            }
        }
        let lines = capture.drain().split(separator: "\n")
        #expect(lines.count == 400)
        #expect(lines.allSatisfy { $0.wholeMatch(of: /<6>t\d: x{200} \d+/) != nil })
    }
}
