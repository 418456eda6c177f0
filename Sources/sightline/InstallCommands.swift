import ArgumentParser
import Foundation
import SightlineCore
import SightlineSystemd

/// Options shared by `install` and `uninstall`.
struct InstallLocation: ParsableArguments {
    @Option(help: "Installation prefix (default: /usr/local, or ~/.local with --user).")
    var prefix: String?

    @Option(help: "Stage every file under this directory (for packaging); nothing is started.")
    var destdir: String?

    @Flag(help: "The service of your own user's systemd instance (under ~/.local) instead of the system service.")
    var user = false

    @Flag(help: "Print what would be done, change nothing.")
    var dryRun = false

    func options(source: URL, binaries: URL) throws -> InstallOptions {
        try InstallOptions(scope: user ? .user : .system, prefix: prefix, destdir: destdir, source: source, binaries: binaries, environment: ProcessInfo.processInfo.environment)
    }

    func installer(source: URL, binaries: URL) throws -> Installer {
        let options = try options(source: source, binaries: binaries)
        var running = SocketActivation.systemdIsRunning
        if user {
            // The user's manager answers on its private socket; without it, systemctl --user fails.
            let runtime = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"] ?? "/nonexistent"
            running = running && FileManager.default.fileExists(atPath: runtime + "/systemd/private")
        }
        return Installer(options: options, systemdIsRunning: running, logger: commandLogger("sightline.install"))
    }

    func print(_ steps: [InstallStep]) {
        // Only steps that change something are "would": what stays is printed as it is.
        let changes: Set<InstallStep.Action> = [.create, .update, .remove, .createDirectory, .removeDirectory, .run]
        for step in steps {
            Output.line((dryRun && changes.contains(step.action) ? "would " : "") + step.description)
        }
    }
}

/// The running sightline binary (through /proc, so that a symlink on PATH leads to the build).
var runningExecutable: URL { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath() }

struct InstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Install sightline and sightlined as a systemd service.",
        discussion: """
            Installs the binaries, the units, the sysusers.d and tmpfiles.d files, the \
            default configuration (/etc/sightline, kept when changed locally), the bundled \
            test checkpoints and the operations guide; then, when systemd runs, creates the \
            sightline user and enables and starts sightlined.socket and sightlined.service. \
            Running it again changes only what differs.
            """
    )

    @OptionGroup var location: InstallLocation

    @Option(help: "Source tree with Deploy/ and Config/ (default: the tree this sightline was built in).")
    var source: String?

    @Option(help: "Directory of the built sightline and sightlined (default: this sightline's).")
    var binDir: String?

    func run() throws {
        try reportingErrors {
            guard let tree = source.map({ URL(fileURLWithPath: $0) }) ?? InstallOptions.sourceTree(containing: runningExecutable) else {
                throw SightlineError(.fileNotFound, "no source tree (Deploy/sightlined.service) above \(runningExecutable.path); pass --source")
            }
            let binaries = binDir.map { URL(fileURLWithPath: $0) } ?? runningExecutable.deletingLastPathComponent()
            location.print(try location.installer(source: tree, binaries: binaries).install(dryRun: location.dryRun))
        }
    }
}

struct UninstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Stop sightlined and remove what `sightline install` installed.",
        discussion: "Configuration changed locally is kept unless --purge. The sightline system user is kept."
    )

    @OptionGroup var location: InstallLocation

    @Flag(help: "Also remove changed configuration and the service's state and cache (streams, queries, pulled models).")
    var purge = false

    func run() throws {
        try reportingErrors {
            let here = runningExecutable.deletingLastPathComponent()
            location.print(try location.installer(source: here, binaries: here).uninstall(purge: purge, dryRun: location.dryRun))
        }
    }
}
