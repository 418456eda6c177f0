import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore
import SightlineProtocol

/// `--socket`, shared by every command that talks to the daemon.
struct SocketOptions: ParsableArguments {
    @Option(name: .long, help: "The daemon's socket (default: $SIGHTLINE_SOCKET, then your own daemon's, then the system's).")
    var socket: String?

    /// The socket to use: the explicit one, else the first default that exists.
    var path: String {
        socket ?? DaemonClient.defaultSocketPath()
    }

    /// Connects, runs `body`, and turns the daemon's errors into a message and exit status 1.
    func withClient<T>(_ body: (DaemonClient) async throws -> T) async throws -> T {
        do {
            return try await DaemonClient.withConnection(socketPath: path, body)
        } catch let error as SightlineError {
            Output.error("sightline: \(error.message)")
            throw ExitCode(error.code == .unavailable ? 69 : 1)
        }
    }
}

/// Small formatting helpers for human-readable output.
enum Display {
    static func json(_ value: JSONValue?) -> String {
        guard let value else { return "-" }
        if let s = value.stringValue { return s }
        return JSONWriter.string(value)
    }

    static func number(_ value: JSONValue?, digits: Int = 2) -> String {
        guard let d = value?.doubleValue else { return "-" }
        if d == d.rounded() && abs(d) < 1e12 { return String(Int64(d)) }
        return String(format: "%.\(digits)f", d)
    }

    /// Left-aligned columns.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
