import ArgumentParser
import Foundation
import SightlineClient
import SightlineProtocol

/// `sightline stream add|rm|ls`.
struct StreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Add, remove and list the daemon's video streams.",
        subcommands: [Add.self, Remove.self, List.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a stream (an RTSP camera, a file, any URI GStreamer opens).")

        @Argument(help: "A URI (rtsp://..., file:///...) or a file path.")
        var uri: String

        @Option(name: .long, help: "Stream id (letters, digits, . _ -); generated when left out.")
        var id: String?

        @Option(name: .long, help: "Frames per second to sample (default: the daemon's streams.default_fps).")
        var fps: Double?

        @Flag(name: .long, help: "Start a file again at its end.")
        var loop = false

        @Option(name: .customLong("short-side"), help: "Analysis size: frames are scaled down so that their short side is this many pixels; 0 keeps the source's size (default: the daemon's streams.default_short_side, 480).")
        var shortSide: Int?

        @OptionGroup var connection: SocketOptions

        func run() async throws {
            var target = uri
            // A relative path means nothing to the daemon, whose working directory differs.
            if !target.contains("://"), !target.hasPrefix("/") {
                target = FileManager.default.currentDirectoryPath + "/" + target
            }
            if let path = Self.localPath(target) {
                var isDirectory: ObjCBool = false
                if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                    Output.error("sightline: \(path): no such file")
                    throw ExitCode.failure
                }
                if isDirectory.boolValue {
                    Output.error("sightline: \(path) is a directory, not a video file")
                    throw ExitCode.failure
                }
            }
            let result = try await connection.withClient { try await $0.request(.streamAdd(StreamSpec(id: id, uri: target, fps: fps, loop: loop, shortSide: shortSide))) }
            Output.line(Display.json(result["stream"]?["id"]))
        }

        /// The file a plain path or a `file://` URI names, checked here before the request: the
        /// daemon would accept it and report the failure only later, in the stream's status.
        static func localPath(_ uri: String) -> String? {
            if !uri.contains("://") { return uri }
            guard uri.lowercased().hasPrefix("file://"), let url = URL(string: uri), url.isFileURL else { return nil }
            return url.path
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a stream.")

        @Argument(help: "The stream's id.")
        var id: String

        @OptionGroup var connection: SocketOptions

        func run() async throws {
            _ = try await connection.withClient { try await $0.request(.streamRemove(id: id)) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the streams.")

        @Flag(name: .long, help: "Print the daemon's JSON.")
        var json = false

        @OptionGroup var connection: SocketOptions

        func run() async throws {
            let result = try await connection.withClient { try await $0.request(.streamList) }
            if json {
                Output.line(JSONWriter.string(.object(result)))
                return
            }
            let rows = (result["streams"]?.arrayValue ?? []).map { s in
                [Display.json(s["id"]), Display.number(s["fps"]), s["loop"]?.boolValue == true ? "yes" : "no",
                 s["short_side"].map { $0 == 0 ? "source" : Display.json($0) } ?? "-", s["origin"].map { Display.json($0) } ?? "-",
                 Display.json(s["created"]), Display.json(s["uri"])]
            }
            Output.line(Display.table(["ID", "FPS", "LOOP", "SHORT_SIDE", "ORIGIN", "CREATED", "URI"], rows))
        }
    }
}
