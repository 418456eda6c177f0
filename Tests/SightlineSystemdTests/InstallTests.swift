import Foundation
import Logging
import SightlineCore
import Testing
@testable import SightlineSystemd

/// `sightline install` and `uninstall` into a staging tree (`--destdir`), with the real
/// binaries of this build and the units checked by systemd-analyze where they landed.
/// Serialized: each test copies this build's binaries (tens of MB in a debug build), and
/// other areas' tests measure timing on the same two cores.
@Suite(.serialized) struct InstallTests {
    let logger = Logger(label: "test")

    /// Fixture checkpoints the installation bundles (each complete one under Tests/Fixtures/clip).
    static var bundledModels: [String] {
        let dir = Package.root.appendingPathComponent("Tests/Fixtures/clip")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter {
            FileManager.default.fileExists(atPath: dir.appendingPathComponent("\($0)/model.safetensors").path)
        }.sorted()
    }

    func sightline(_ arguments: [String], environment: [String: String]? = nil) async throws -> ToolResult {
        try await runTool([Package.sightline.path] + arguments, environment: environment)
    }

    @Test func installsVerifiesReinstallsAndUninstallsLeavingNothing() async throws {
        let destdir = try temporaryDirectory("destdir")
        // A prefix that does not exist here; linked to the staged one so that
        // systemd-analyze finds ExecStart= where the unit says.
        let prefix = "/tmp/sightline-prefix-\(UUID().uuidString.prefix(8))"
        defer {
            try? FileManager.default.removeItem(atPath: prefix)
            try? FileManager.default.removeItem(at: destdir)
        }
        let install = try await sightline(["install", "--destdir", destdir.path, "--prefix", prefix])
        #expect(install.status == 0, "\(install.stderr)")
        let staged = { (path: String) in destdir.path + path }

        for binary in ["sightline", "sightlined"] {
            #expect(FileManager.default.contents(atPath: staged("\(prefix)/bin/\(binary)")) == FileManager.default.contents(atPath: Package.products.appendingPathComponent(binary).path), "\(binary)")
            #expect(FileManager.default.isExecutableFile(atPath: staged("\(prefix)/bin/\(binary)")))
        }
        let unit = try String(contentsOfFile: staged("/etc/systemd/system/sightlined.service"), encoding: .utf8)
        #expect(unit.contains("\nExecStart=\(prefix)/bin/sightlined --config /etc/sightline/sightlined.toml\n"))
        #expect(!unit.contains("/usr/local/"))
        for path in ["/etc/systemd/system/sightlined.socket", "/etc/sysusers.d/sightline.conf", "/etc/tmpfiles.d/sightline.conf",
                     "/etc/sightline/sightlined.toml", "\(prefix)/share/doc/sightline/operations.md", "\(prefix)/share/sightline/install-manifest.json"] {
            #expect(FileManager.default.fileExists(atPath: staged(path)), "\(path)")
        }
        #expect(!FileManager.default.fileExists(atPath: staged("/etc/sightline/README.md")))
        for model in Self.bundledModels {
            for file in ["config.json", "model.safetensors"] {
                #expect(FileManager.default.contents(atPath: staged("\(prefix)/share/sightline/models/\(model)/\(file)"))
                        == FileManager.default.contents(atPath: Package.root.appendingPathComponent("Tests/Fixtures/clip/\(model)/\(file)").path))
            }
        }
        #expect(install.stdout.contains("note staged under \(destdir.path): nothing is started"))

        // systemd-analyze verify on the installed units: nothing on standard error.
        try FileManager.default.createSymbolicLink(atPath: prefix, withDestinationPath: staged(prefix))
        let verify = try await runTool(["systemd-analyze", "verify", "--man=no", staged("/etc/systemd/system/sightlined.service"), staged("/etc/systemd/system/sightlined.socket")])
        #expect(verify.status == 0 && verify.stderr.isEmpty, "\(verify.stderr)")
        try FileManager.default.removeItem(atPath: prefix)

        // Again: nothing changes.
        let again = try await sightline(["install", "--destdir", destdir.path, "--prefix", prefix])
        #expect(again.status == 0)
        let actions = Set(again.stdout.split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) ?? "" })
        #expect(actions == ["unchanged", "note"], "\(again.stdout)")

        let dry = try await sightline(["uninstall", "--destdir", destdir.path, "--prefix", prefix, "--dry-run"])
        #expect(dry.status == 0 && dry.stdout.contains("would remove \(staged("\(prefix)/bin/sightlined"))"))
        #expect(FileManager.default.fileExists(atPath: staged("\(prefix)/bin/sightlined")))

        let uninstall = try await sightline(["uninstall", "--destdir", destdir.path, "--prefix", prefix])
        #expect(uninstall.status == 0, "\(uninstall.stderr)")
        #expect(tree(destdir).isEmpty, "left behind: \(tree(destdir))")

        let twice = try await sightline(["uninstall", "--destdir", destdir.path, "--prefix", prefix])
        #expect(twice.status == 1 && twice.stderr.contains("no Sightline installation was found"))
    }

    @Test func userInstallationVerifiesWithTheUserManager() async throws {
        let destdir = try temporaryDirectory("destdir-user")
        let home = "/tmp/sightline-home-\(UUID().uuidString.prefix(8))"
        let runtime = try temporaryDirectory("xdg-runtime")
        defer {
            try? FileManager.default.removeItem(atPath: home)
            try? FileManager.default.removeItem(at: destdir)
            try? FileManager.default.removeItem(at: runtime)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home
        environment.removeValue(forKey: "XDG_CONFIG_HOME")
        let install = try await sightline(["install", "--user", "--destdir", destdir.path], environment: environment)
        #expect(install.status == 0, "\(install.stderr)")
        let units = destdir.path + home + "/.config/systemd/user"
        let unit = try String(contentsOfFile: units + "/sightlined.service", encoding: .utf8)
        #expect(unit.contains("\nExecStart=\(home)/.local/bin/sightlined --config %E/sightline/sightlined.toml\n"))
        #expect(FileManager.default.fileExists(atPath: destdir.path + home + "/.config/sightline/sightlined.toml"))
        #expect(!FileManager.default.fileExists(atPath: destdir.path + "/etc"))

        try FileManager.default.createSymbolicLink(atPath: home, withDestinationPath: destdir.path + home)
        var verifyEnvironment = ProcessInfo.processInfo.environment
        verifyEnvironment["XDG_RUNTIME_DIR"] = runtime.path
        verifyEnvironment["HOME"] = home
        let verify = try await runTool(["systemd-analyze", "--user", "verify", "--man=no", units + "/sightlined.service", units + "/sightlined.socket"], environment: verifyEnvironment)
        #expect(verify.status == 0 && verify.stderr.isEmpty, "\(verify.stderr)")
        try FileManager.default.removeItem(atPath: home)

        let uninstall = try await sightline(["uninstall", "--user", "--destdir", destdir.path], environment: environment)
        #expect(uninstall.status == 0, "\(uninstall.stderr)")
        #expect(tree(destdir).isEmpty, "left behind: \(tree(destdir))")
    }

    @Test func dryRunWritesNothing() async throws {
        let destdir = try temporaryDirectory("destdir-dry")
        defer { try? FileManager.default.removeItem(at: destdir) }
        let result = try await sightline(["install", "--destdir", destdir.path, "--dry-run"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("would create \(destdir.path)/usr/local/bin/sightlined"))
        #expect(result.stdout.contains("would create \(destdir.path)/usr/local/lib/systemd/system/sightlined.service"))
        #expect(tree(destdir).isEmpty)
    }

    /// On a live system run by systemd, the plan creates the user and enables the units.
    @Test func liveInstallationEnablesTheUnits() async throws {
        let options = try InstallOptions(scope: .system, source: Package.root, binaries: Package.products, environment: [:])
        let steps = try await offPool { try Installer(options: options, systemdIsRunning: true, logger: logger).install(dryRun: true) }
        let commands = steps.filter { $0.action == .run }.map(\.target)
        #expect(commands == [
            "systemd-sysusers /usr/local/lib/sysusers.d/sightline.conf",
            "systemd-tmpfiles --create /usr/local/lib/tmpfiles.d/sightline.conf",
            "systemctl daemon-reload",
            "systemctl enable --now sightlined.socket sightlined.service",
        ])
        let user = try InstallOptions(scope: .user, source: Package.root, binaries: Package.products, environment: ["HOME": "/home/u"])
        let userCommands = try await offPool { try Installer(options: user, systemdIsRunning: true, logger: logger).install(dryRun: true) }.filter { $0.action == .run }.map(\.target)
        #expect(userCommands == ["systemctl --user daemon-reload", "systemctl --user enable --now sightlined.socket sightlined.service"])
        let offline = try await offPool { try Installer(options: options, systemdIsRunning: false, logger: logger).install(dryRun: true) }
        #expect(offline.last?.action == .note && offline.last?.target.contains("systemd is not running") == true)
    }

    /// An upgrade from another source tree: changed files are replaced, files no longer
    /// shipped are removed, a changed configuration is kept, and the binaries' change
    /// restarts the service.
    @Test func upgradesKeepLocalConfigurationChanges() async throws {
        let work = try temporaryDirectory("upgrade")
        defer { try? FileManager.default.removeItem(at: work) }
        let old = work.appendingPathComponent("old-source")
        for part in ["Deploy", "Config", "Docs", "Tests/Fixtures/clip"] where FileManager.default.fileExists(atPath: Package.root.appendingPathComponent(part).path) {
            try FileManager.default.createDirectory(at: old.appendingPathComponent(part).deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: Package.root.appendingPathComponent(part), to: old.appendingPathComponent(part))
        }
        try "obsolete = true\n".write(to: old.appendingPathComponent("Config/retired.toml"), atomically: true, encoding: .utf8)
        let oldBinaries = work.appendingPathComponent("old-bin")
        try FileManager.default.createDirectory(at: oldBinaries, withIntermediateDirectories: true)
        try await offPool {
            for binary in Installer.binaries {
                let copy = oldBinaries.appendingPathComponent(binary)
                try FileManager.default.copyItem(at: Package.products.appendingPathComponent(binary), to: copy)
                let handle = try FileHandle(forWritingTo: copy)
                try handle.seekToEnd()
                try handle.write(contentsOf: Data([0]))
                try handle.close()
            }
        }
        let destdir = work.appendingPathComponent("root").path
        func installer(_ source: URL, _ binaries: URL) throws -> Installer {
            Installer(options: try InstallOptions(scope: .system, destdir: destdir, source: source, binaries: binaries, environment: [:]), systemdIsRunning: true, logger: logger)
        }
        _ = try await offPool { try installer(old, oldBinaries).install() }
        let config = destdir + "/etc/sightline/sightlined.toml"
        #expect(FileManager.default.fileExists(atPath: destdir + "/etc/sightline/retired.toml"))
        let edited = try String(contentsOfFile: config, encoding: .utf8) + "\n[log]\nlevel = \"debug\"\n"
        try edited.write(toFile: config, atomically: true, encoding: .utf8)

        let steps = try await offPool { try installer(Package.root, Package.products).install() }
        #expect(steps.contains(InstallStep(action: .update, target: destdir + "/usr/local/bin/sightlined")))
        #expect(steps.contains(InstallStep(action: .keepModified, target: config)))
        #expect(steps.contains(InstallStep(action: .remove, target: destdir + "/etc/sightline/retired.toml")))
        #expect(try String(contentsOfFile: config, encoding: .utf8) == edited)
        #expect(!FileManager.default.fileExists(atPath: destdir + "/etc/sightline/retired.toml"))

        // The change is still recognised on the next run and kept by uninstall.
        #expect(try await offPool { try installer(Package.root, Package.products).install() }.contains(InstallStep(action: .keepModified, target: config)))
        let removal = try await offPool { try installer(Package.root, Package.products).uninstall() }
        #expect(removal.contains(InstallStep(action: .keepModified, target: config)))
        #expect(tree(URL(fileURLWithPath: destdir)) == ["etc", "etc/sightline", "etc/sightline/sightlined.toml"])

        // Installed over the kept file, it is still theirs; --purge removes it. The directories
        // holding it existed before this installation, so they are not its to remove.
        #expect(try await offPool { try installer(Package.root, Package.products).install() }.contains(InstallStep(action: .keepModified, target: config)))
        #expect(try await offPool { try installer(Package.root, Package.products).uninstall(purge: true) }.contains(InstallStep(action: .remove, target: config)))
        #expect(tree(URL(fileURLWithPath: destdir)) == ["etc", "etc/sightline"])
    }

    @Test func namesWhatIsMissing() async throws {
        let empty = try temporaryDirectory("empty")
        defer { try? FileManager.default.removeItem(at: empty) }
        let noBinaries = try InstallOptions(scope: .system, destdir: empty.path, source: Package.root, binaries: empty, environment: [:])
        let binaries = #expect(throws: SightlineError.self) { try Installer(options: noBinaries, logger: logger).install() }
        #expect(binaries?.message.contains("sightline was not found in \(empty.path)") == true)
        let noSource = try InstallOptions(scope: .system, destdir: empty.path, source: empty, binaries: Package.products, environment: [:])
        let source = #expect(throws: SightlineError.self) { try Installer(options: noSource, logger: logger).install() }
        #expect(source?.message.contains("missing from the source tree") == true)
        #expect(tree(empty).isEmpty)

        #expect(throws: SightlineError.self) { try InstallOptions(scope: .system, prefix: "relative", source: empty, binaries: empty, environment: [:]) }
        #expect(throws: SightlineError.self) { try InstallOptions(scope: .system, destdir: "relative", source: empty, binaries: empty, environment: [:]) }
        #expect(throws: SightlineError.self) { try InstallOptions(scope: .user, source: empty, binaries: empty, environment: [:]) }

        let corrupt = empty.appendingPathComponent("usr/local/share/sightline")
        try FileManager.default.createDirectory(at: corrupt, withIntermediateDirectories: true)
        try "{not json".write(to: corrupt.appendingPathComponent("install-manifest.json"), atomically: true, encoding: .utf8)
        let options = try InstallOptions(scope: .system, destdir: empty.path, source: Package.root, binaries: Package.products, environment: [:])
        let manifest = #expect(throws: SightlineError.self) { try Installer(options: options, logger: logger).uninstall() }
        #expect(manifest?.code == .invalidFile)

        let cli = try await sightline(["install", "--destdir", "relative/path"])
        #expect(cli.status == 1 && cli.stderr.contains("--destdir must be an absolute path"))
    }
}
