import Foundation
import SightlineCore

/// What `sightline install` installs, from where, and to where.
public struct InstallOptions: Sendable {
    public enum Scope: String, Sendable, Codable {
        /// A system service running as the `sightline` user.
        case system
        /// A service of the invoking user's own systemd instance.
        case user
    }

    public var scope: Scope
    /// Where binaries, data and documentation go: `/usr/local` (system) or `~/.local` (user).
    public var prefix: String
    /// A staging root prepended to every path (packaging); nothing is started then.
    public var destdir: String?
    /// A source tree: `Deploy/`, `Config/`, `Docs/operations.md` and the test checkpoints
    /// under `Tests/Fixtures/clip/`.
    public var source: URL
    /// The directory holding the built `sightline` and `sightlined`.
    public var binaries: URL
    /// The user's configuration directory (`$XDG_CONFIG_HOME` or `~/.config`), for `.user`.
    public var configHome: String

    public init(scope: Scope, prefix: String? = nil, destdir: String? = nil, source: URL, binaries: URL, environment: [String: String]) throws {
        let home = environment["HOME"] ?? ""
        if scope == .user, !home.hasPrefix("/") {
            throw SightlineError(.invalidArgument, "a user installation needs HOME to be an absolute path", context: ["HOME": home])
        }
        let chosen = prefix ?? (scope == .system ? "/usr/local" : home + "/.local")
        guard chosen.hasPrefix("/") else {
            throw SightlineError(.invalidArgument, "--prefix must be an absolute path", context: ["prefix": chosen])
        }
        if let destdir, !destdir.hasPrefix("/") {
            throw SightlineError(.invalidArgument, "--destdir must be an absolute path", context: ["destdir": destdir])
        }
        self.scope = scope
        self.prefix = Self.normalized(chosen)
        self.destdir = destdir.map(Self.normalized).flatMap { $0 == "/" ? nil : $0 }
        self.source = source
        self.binaries = binaries
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            configHome = Self.normalized(xdg)
        } else {
            configHome = home + "/.config"
        }
    }

    /// Directories where systemd finds units, sysusers.d and tmpfiles.d files: the vendor
    /// locations under `/usr` and `/usr/local` (both searched by systemd), else `/etc`.
    var systemdBase: String {
        ["/usr", "/usr/local"].contains(prefix) ? prefix + "/lib" : "/etc"
    }

    var unitDirectory: String {
        scope == .system ? systemdBase + "/systemd/system" : configHome + "/systemd/user"
    }

    var configDirectory: String {
        scope == .system ? "/etc/sightline" : configHome + "/sightline"
    }

    var manifestPath: String { prefix + "/share/sightline/install-manifest.json" }

    /// A path as it is written: under `destdir` when staging.
    func staged(_ path: String) -> String { (destdir ?? "") + path }

    private static func normalized(_ path: String) -> String {
        var p = path
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        return p
    }

    /// The source tree that holds the running executable: a build directory
    /// (`<tree>/.build/<config>/sightline`) lies inside it. Nil when there is none.
    public static func sourceTree(containing executable: URL) -> URL? {
        var dir = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Deploy/sightlined.service").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }
}
