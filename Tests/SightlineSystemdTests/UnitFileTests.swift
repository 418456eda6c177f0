import Foundation
import Testing

/// The files in Deploy/, checked with systemd's own tools.
@Suite struct UnitFileTests {
    static let deploy = Package.root.appendingPathComponent("Deploy")

    @Test func serviceExposureIsAtMostTwo() async throws {
        let result = try await runTool(["systemd-analyze", "security", "--offline=true", "--no-pager", Self.deploy.appendingPathComponent("sightlined.service").path])
        let match = try #require(result.stdout.firstMatch(of: /Overall exposure level for sightlined\.service: (\d+\.\d)/), "\(result.stdout)\(result.stderr)")
        let score = try #require(Double(match.1))
        #expect(score <= 2.0, "\(result.stdout)")
    }

    @Test(arguments: ["sightlined.service", "user/sightlined.service"])
    func serviceDeclaresWhatSystemdNeeds(unit: String) throws {
        let text = try String(contentsOf: Self.deploy.appendingPathComponent(unit), encoding: .utf8)
        for line in ["Type=notify", "NotifyAccess=main", "WatchdogSec=30s", "Restart=on-failure", "StateDirectory=sightline", "RuntimeDirectory=sightline",
                     "CacheDirectory=sightline", "Environment=GST_REGISTRY=%C/sightline/gstreamer-registry.bin", "ExecReload=/bin/kill -HUP $MAINPID",
                     "Requires=sightlined.socket"] {
            #expect(text.split(separator: "\n").contains(Substring(line)), "\(unit) lacks \(line)")
        }
    }

    /// A unit with a parse error still exits 0, so the check reads standard error; this
    /// proves that the check sees such errors at all.
    @Test func verifyReportsParseErrorsOnStandardError() async throws {
        let dir = try temporaryDirectory("unit-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let unit = dir.appendingPathComponent("broken.service")
        try "[Service]\nExecStart=/bin/true\nthis is not a setting\n".write(to: unit, atomically: true, encoding: .utf8)
        let result = try await runTool(["systemd-analyze", "verify", "--man=no", unit.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("Missing '='"))
    }

    /// sysusers.d and tmpfiles.d applied to a scratch root: the user exists and the model store
    /// has the owners and modes the service and `sudo sightline model pull` rely on.
    @Test func sysusersAndTmpfilesApplyToAScratchRoot() async throws {
        let root = try temporaryDirectory("sysroot")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("etc"), withIntermediateDirectories: true)
        let sysusers = try await runTool(["systemd-sysusers", "--root=\(root.path)", Self.deploy.appendingPathComponent("sysusers.d/sightline.conf").path])
        #expect(sysusers.status == 0, "\(sysusers.stderr)")
        let passwd = try String(contentsOf: root.appendingPathComponent("etc/passwd"), encoding: .utf8)
        let entry = try #require(passwd.split(separator: "\n").first { $0.hasPrefix("sightline:") }).split(separator: ":", omittingEmptySubsequences: false)
        #expect(entry[5] == "/var/lib/sightline")
        let uid = try #require(UInt32(entry[2]))
        #expect(uid > 0 && uid < 1000)

        let tmpfiles = try await runTool(["systemd-tmpfiles", "--root=\(root.path)", "--create", Self.deploy.appendingPathComponent("tmpfiles.d/sightline.conf").path])
        #expect(tmpfiles.status == 0 && tmpfiles.stderr.isEmpty, "\(tmpfiles.stderr)")
        let state = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent("var/lib/sightline").path)
        #expect((state[.ownerAccountID] as? NSNumber)?.uint32Value == uid)
        let models = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent("var/lib/sightline/models").path)
        #expect((models[.ownerAccountID] as? NSNumber)?.uint32Value == 0)
        #expect((models[.posixPermissions] as? NSNumber)?.intValue == 0o755)
    }
}
