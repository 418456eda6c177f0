#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SightlineCore

/// A file the installation writes.
public struct PlannedFile: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case binary, unit, sysusers, tmpfiles, config, model, documentation
    }
    /// Absolute path on the target system (without `destdir`).
    public var path: String
    public var kind: Kind
    public var mode: mode_t
    public var content: Content

    /// Small generated or text files are held in memory; binaries and checkpoints are
    /// compared and copied from their source file in chunks.
    public enum Content: Sendable, Equatable {
        case bytes(Data)
        case file(URL)
    }
}

/// One thing `install` or `uninstall` did (or, with `dryRun`, would do).
public struct InstallStep: Sendable, Equatable, CustomStringConvertible {
    public enum Action: String, Sendable {
        case create, update, unchanged, remove
        /// A configuration file changed locally is left as it is.
        case keepModified = "keep-modified"
        case createDirectory = "mkdir"
        case removeDirectory = "rmdir"
        /// A directory the installation created holds other files now, so it stays.
        case keepDirectory = "keep-directory"
        case run
        case note
    }
    public var action: Action
    /// A path (with `destdir`), a command line, or a note.
    public var target: String

    public var description: String { "\(action.rawValue) \(target)" }
}

/// Installs and uninstalls Sightline: binaries, systemd units, sysusers.d and tmpfiles.d
/// files, the default configuration, the bundled test checkpoints, and this documentation;
/// then, on a live system run by systemd, creates the user and enables and starts the
/// service. Installing twice changes nothing the second time; an upgrade replaces what it
/// shipped and keeps configuration the administrator changed.
public struct Installer: Sendable {
    public let options: InstallOptions
    /// Whether `systemctl` can be used (systemd is PID 1, or the user's manager runs).
    public var systemdIsRunning: Bool
    public var logger: Logger

    public static let binaries = ["sightline", "sightlined"]
    public static let units = ["sightlined.socket", "sightlined.service"]

    public init(options: InstallOptions, systemdIsRunning: Bool = SocketActivation.systemdIsRunning, logger: Logger) {
        self.options = options
        self.systemdIsRunning = systemdIsRunning
        self.logger = logger
    }

    private var live: Bool { options.destdir == nil }

    // MARK: Plan

    public func plan() throws -> [PlannedFile] {
        let o = options
        var files: [PlannedFile] = []
        for name in Self.binaries {
            let url = o.binaries.appendingPathComponent(name)
            guard FileManager.default.isExecutableFile(atPath: url.path) else {
                throw SightlineError(.fileNotFound, "\(name) was not found in \(o.binaries.path); build it first (swift build -c release) or pass --bin-dir", context: ["binary": url.path])
            }
            files.append(PlannedFile(path: "\(o.prefix)/bin/\(name)", kind: .binary, mode: 0o755, content: .file(url)))
        }
        let deploy = o.source.appendingPathComponent("Deploy")
        let unitSource = o.scope == .system ? deploy : deploy.appendingPathComponent("user")
        for unit in Self.units {
            let text = String(decoding: try read(unitSource.appendingPathComponent(unit)), as: UTF8.self)
            // The units name /usr/local, the default prefix; point them at the chosen one.
            let rewritten = text.replacingOccurrences(of: "/usr/local/", with: o.prefix + "/")
            files.append(PlannedFile(path: "\(o.unitDirectory)/\(unit)", kind: .unit, mode: 0o644, content: .bytes(Data(rewritten.utf8))))
        }
        if o.scope == .system {
            files.append(PlannedFile(path: "\(o.systemdBase)/sysusers.d/sightline.conf", kind: .sysusers, mode: 0o644, content: .bytes(try read(deploy.appendingPathComponent("sysusers.d/sightline.conf")))))
            files.append(PlannedFile(path: "\(o.systemdBase)/tmpfiles.d/sightline.conf", kind: .tmpfiles, mode: 0o644, content: .bytes(try read(deploy.appendingPathComponent("tmpfiles.d/sightline.conf")))))
        }
        let config = o.source.appendingPathComponent("Config")
        for name in try entries(config) where name != "README.md" {
            files.append(PlannedFile(path: "\(o.configDirectory)/\(name)", kind: .config, mode: 0o644, content: .bytes(try read(config.appendingPathComponent(name)))))
        }
        files.append(PlannedFile(path: "\(o.prefix)/share/doc/sightline/operations.md", kind: .documentation, mode: 0o644, content: .bytes(try read(o.source.appendingPathComponent("Docs/operations.md")))))
        // Every complete checkpoint among the test fixtures: tiny, random, and enough for the
        // daemon to run (under a banner that its matches mean nothing) where no real model is.
        let fixtures = o.source.appendingPathComponent("Tests/Fixtures/clip")
        // Files shared between fixtures are symlinks there; each installed checkpoint gets
        // its own copy so that it stands alone.
        for model in (try? entries(fixtures)) ?? [] {
            let dir = fixtures.appendingPathComponent(model)
            let names = (try? entries(dir)) ?? []
            guard names.contains("config.json"), names.contains("model.safetensors") else { continue }
            for name in names where !name.hasPrefix(".") {
                files.append(PlannedFile(path: "\(o.prefix)/share/sightline/models/\(model)/\(name)", kind: .model, mode: 0o644, content: .file(dir.appendingPathComponent(name).resolvingSymlinksInPath())))
            }
        }
        return files
    }

    // MARK: Install

    @discardableResult
    public func install(dryRun: Bool = false) throws -> [InstallStep] {
        if live, options.scope == .system, !dryRun, geteuid() != 0 {
            throw SightlineError(.invalidArgument, "a system installation writes to /etc and \(options.prefix): run it as root (sudo), or install for yourself with --user")
        }
        let files = try plan()
        let manifestPath = options.staged(options.manifestPath)
        let previous = try readManifest(manifestPath)
        var steps: [InstallStep] = []
        var created = previous?.directories ?? []

        if let destdir = options.destdir, !dryRun {
            // The staging root itself is the caller's, so it is not recorded for removal.
            try FileManager.default.createDirectory(atPath: destdir, withIntermediateDirectories: true)
        }
        for dir in directoriesToCreate(for: files.map(\.path) + [options.manifestPath]) {
            steps.append(InstallStep(action: .createDirectory, target: options.staged(dir)))
            if !created.contains(dir) { created.append(dir) }
            if !dryRun { try makeDirectory(options.staged(dir)) }
        }

        var binaryChanged = false
        var manifestFiles: [InstallManifest.File] = []
        for file in files {
            let target = options.staged(file.path)
            var shipped: Data? = nil
            if file.kind == .config, case .bytes(let data) = file.content { shipped = data }
            let action: InstallStep.Action
            if !FileManager.default.fileExists(atPath: target) {
                action = .create
            } else if try sameContent(target, file.content) {
                action = currentMode(target) == file.mode ? .unchanged : .update
            } else if file.kind == .config, previous?.files.first(where: { $0.path == file.path })?.shipped != FileManager.default.contents(atPath: target) {
                // Changed here (or placed before Sightline was installed): theirs stays, and
                // the manifest keeps what was shipped before so that it is still recognised.
                action = .keepModified
                shipped = previous?.files.first(where: { $0.path == file.path })?.shipped
            } else {
                action = .update
            }
            if file.kind == .binary, action == .update { binaryChanged = true }
            steps.append(InstallStep(action: action, target: target))
            if !dryRun, action == .create || action == .update { try write(file, to: target) }
            manifestFiles.append(InstallManifest.File(path: file.path, kind: file.kind, shipped: shipped))
        }

        // Files a previous version installed that this one no longer ships.
        for old in previous?.files ?? [] where !files.contains(where: { $0.path == old.path }) {
            let target = options.staged(old.path)
            guard FileManager.default.fileExists(atPath: target) else { continue }
            steps.append(InstallStep(action: .remove, target: target))
            if !dryRun { try remove(target) }
        }

        let manifest = InstallManifest(scope: options.scope, prefix: options.prefix, files: manifestFiles, directories: created)
        if !dryRun { try writeAtomically(try manifest.data(), to: manifestPath, mode: 0o644) }
        steps += try activate(binaryChanged: binaryChanged, dryRun: dryRun)
        return steps
    }

    private func activate(binaryChanged: Bool, dryRun: Bool) throws -> [InstallStep] {
        guard live else {
            return [InstallStep(action: .note, target: "staged under \(options.destdir ?? ""): nothing is started")]
        }
        var commands: [[String]] = []
        if options.scope == .system {
            commands.append(["systemd-sysusers", "\(options.systemdBase)/sysusers.d/sightline.conf"])
            commands.append(["systemd-tmpfiles", "--create", "\(options.systemdBase)/tmpfiles.d/sightline.conf"])
        }
        let systemctl = options.scope == .system ? ["systemctl"] : ["systemctl", "--user"]
        if systemdIsRunning {
            commands.append(systemctl + ["daemon-reload"])
            commands.append(systemctl + ["enable", "--now"] + Self.units)
            if binaryChanged { commands.append(systemctl + ["try-restart", "sightlined.service"]) }
        }
        var steps = commands.map { InstallStep(action: .run, target: $0.joined(separator: " ")) }
        if !systemdIsRunning {
            steps.append(InstallStep(action: .note, target: "systemd is not running here: start \(options.prefix)/bin/sightlined yourself"))
        }
        if !dryRun {
            for command in commands { try run(command) }
        }
        return steps
    }

    // MARK: Uninstall

    /// Removes what the installation recorded. Configuration changed locally stays unless
    /// `purge`; `purge` also deletes the service's state and cache (streams, queries, pulled
    /// models). The `sightline` system user stays, as system users always do (its id may own
    /// files elsewhere).
    @discardableResult
    public func uninstall(purge: Bool = false, dryRun: Bool = false) throws -> [InstallStep] {
        let manifestPath = options.staged(options.manifestPath)
        guard let manifest = try readManifest(manifestPath) else {
            throw SightlineError(.fileNotFound, "no Sightline installation was found at \(manifestPath); pass the --prefix, --destdir and --user used to install", context: ["manifest": manifestPath])
        }
        if live, manifest.scope == .system, !dryRun, geteuid() != 0 {
            throw SightlineError(.invalidArgument, "removing a system installation needs root (sudo)")
        }
        var steps: [InstallStep] = []
        let systemctl = manifest.scope == .system ? ["systemctl"] : ["systemctl", "--user"]
        if live, systemdIsRunning {
            let command = systemctl + ["disable", "--now"] + Self.units
            steps.append(InstallStep(action: .run, target: command.joined(separator: " ")))
            if !dryRun { try run(command) }
        }
        for file in manifest.files {
            let target = options.staged(file.path)
            guard FileManager.default.fileExists(atPath: target) else { continue }
            if file.kind == .config, FileManager.default.contents(atPath: target) != file.shipped, !purge {
                steps.append(InstallStep(action: .keepModified, target: target))
                continue
            }
            steps.append(InstallStep(action: .remove, target: target))
            if !dryRun { try remove(target) }
        }
        steps.append(InstallStep(action: .remove, target: manifestPath))
        if !dryRun { try remove(manifestPath) }
        if purge {
            for dir in purgedDirectories(scope: manifest.scope) where FileManager.default.fileExists(atPath: options.staged(dir)) {
                steps.append(InstallStep(action: .remove, target: options.staged(dir)))
                if !dryRun { try remove(options.staged(dir)) }
            }
        }
        for dir in manifest.directories.sorted(by: { $0.split(separator: "/").count > $1.split(separator: "/").count }) {
            let target = options.staged(dir)
            guard FileManager.default.fileExists(atPath: target) else { continue }
            let remaining = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
            // In a dry run the files listed above would be gone: judge by what would remain.
            let wouldRemain = dryRun ? remaining.filter { name in !steps.contains { $0.action == .remove && $0.target == target + "/" + name } } : remaining
            if wouldRemain.isEmpty {
                steps.append(InstallStep(action: .removeDirectory, target: target))
                if !dryRun { try remove(target) }
            } else {
                steps.append(InstallStep(action: .keepDirectory, target: target))
            }
        }
        if live, systemdIsRunning {
            let command = systemctl + ["daemon-reload"]
            steps.append(InstallStep(action: .run, target: command.joined(separator: " ")))
            if !dryRun { try run(command) }
        }
        return steps
    }

    private func purgedDirectories(scope: InstallOptions.Scope) -> [String] {
        switch scope {
        case .system:
            return ["/var/lib/sightline", "/var/cache/sightline", "/var/lib/private/sightline", "/var/cache/private/sightline"]
        case .user:
            let home = URL(fileURLWithPath: options.configHome).deletingLastPathComponent().path
            return [home + "/.local/state/sightline", home + "/.cache/sightline"]
        }
    }

    // MARK: Files

    private func directoriesToCreate(for paths: [String]) -> [String] {
        var result: [String] = []
        for path in paths {
            var chain: [String] = []
            var dir = (path as NSString).deletingLastPathComponent
            while dir != "/" && !dir.isEmpty {
                chain.append(dir)
                dir = (dir as NSString).deletingLastPathComponent
            }
            for dir in chain.reversed() where !FileManager.default.fileExists(atPath: options.staged(dir)) && !result.contains(dir) {
                result.append(dir)
            }
        }
        return result
    }

    private func readManifest(_ path: String) throws -> InstallManifest? {
        do {
            return try InstallManifest.read(at: path)
        } catch {
            throw SightlineError(.invalidFile, "the installation manifest \(path) cannot be read: \(error)", context: ["manifest": path])
        }
    }

    private func read(_ url: URL) throws -> Data {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw SightlineError(.fileNotFound, "\(url.path) is missing from the source tree \(options.source.path)", context: ["file": url.path])
        }
        return data
    }

    private func entries(_ dir: URL) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        } catch {
            throw SightlineError(.fileNotFound, "\(dir.path) is missing from the source tree", context: ["directory": dir.path])
        }
    }

    private func currentMode(_ path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o7777 : nil
    }

    private func makeDirectory(_ path: String) throws {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw SightlineError(.system, "cannot create \(path): \(String(cString: strerror(errno)))", context: ["directory": path])
        }
    }

    private func write(_ file: PlannedFile, to path: String) throws {
        switch file.content {
        case .bytes(let data):
            try writeAtomically(data, to: path, mode: file.mode)
        case .file(let source):
            try AtomicFile.replace(path, mode: file.mode) { temporary throws(SightlineError) in
                do {
                    try FileManager.default.copyItem(atPath: source.path, toPath: temporary)
                } catch {
                    throw SightlineError(.system, "cannot install \(path) from \(source.path): \(error)", context: ["file": path])
                }
            }
        }
    }

    /// Whether the file at `path` already holds `content`, read in chunks for large files.
    private func sameContent(_ path: String, _ content: PlannedFile.Content) throws -> Bool {
        switch content {
        case .bytes(let data):
            return FileManager.default.contents(atPath: path) == data
        case .file(let source):
            var a = stat(), b = stat()
            guard stat(path, &a) == 0, stat(source.path, &b) == 0, a.st_size == b.st_size else { return false }
            guard let left = FileHandle(forReadingAtPath: path), let right = FileHandle(forReadingAtPath: source.path) else { return false }
            defer {
                try? left.close()
                try? right.close()
            }
            while true {
                let x = try left.read(upToCount: 1 << 20) ?? Data()
                let y = try right.read(upToCount: 1 << 20) ?? Data()
                if x != y { return false }
                if x.isEmpty { return true }
            }
        }
    }

    /// Writes beside the target and renames over it (`AtomicFile`): a running binary or a
    /// unit being read is replaced whole, never seen half-written, and a crash mid-install
    /// leaves each file old or new.
    private func writeAtomically(_ data: Data, to path: String, mode: mode_t) throws {
        try AtomicFile.write(Array(data), to: path, mode: mode)
    }

    private func remove(_ path: String) throws {
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw SightlineError(.system, "cannot remove \(path): \(error.localizedDescription)", context: ["path": path])
        }
    }

    private func run(_ command: [String]) throws {
        logger.info("running", metadata: ["command": "\(command.joined(separator: " "))"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            throw SightlineError(.system, "cannot run \(command[0]): \(error)", context: ["command": command.joined(separator: " ")])
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SightlineError(.system, "\(command.joined(separator: " ")) failed (exit \(process.terminationStatus)): \(text.trimmingCharacters(in: .whitespacesAndNewlines))", context: ["command": command.joined(separator: " ")])
        }
    }
}
