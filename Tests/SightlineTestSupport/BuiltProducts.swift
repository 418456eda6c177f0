import Foundation

/// The executables SwiftPM built beside the test bundle (`swift build --build-tests` builds
/// them all), so that tests run `sightline` and `sightlined` as a user would.
public enum BuiltProducts {
    /// The build's products directory: the nearest folder above the test binary that holds
    /// `sightline` (the bundle sits inside it, or beside it, depending on the platform).
    public static let directory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        while !dir.isEmpty, dir != "/", !FileManager.default.fileExists(atPath: dir + "/sightline") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }()

    /// The path of the built executable `name`.
    public static func path(_ name: String) -> String { directory + "/" + name }
}
