import Foundation
import SightlineProtocol

#if canImport(Glibc)
import Glibc
#endif

extension DaemonClient {
    /// The socket to use when none is named: `$SIGHTLINE_SOCKET`, else the first of this
    /// user's own daemon's socket and the system daemon's that exists (the user's when neither
    /// does, so that the error names the socket a user most likely meant). The daemon derives
    /// its own default from the same `RunEnvironment`, so the two agree.
    public static func defaultSocketPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let run = RunEnvironment(variables: environment, uid: geteuid(), home: NSHomeDirectory())
        let candidates = run.clientSocketCandidates
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }
}
