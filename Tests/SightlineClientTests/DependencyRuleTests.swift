import Foundation
import SightlineTestSupport
import Testing

/// The rule that makes `SightlineClient` worth having: a Swift program that talks to the
/// daemon builds without any C library (GStreamer, OpenBLAS, libsystemd, libcrypto), NIO or
/// Prometheus. Read from the manifest as SwiftPM evaluates it, so adding any of them to the
/// client's dependencies, or to anything it depends on, fails here.
@Suite struct DependencyRuleTests {
    /// What a client must never link, by target or by the package its products come from.
    static let forbiddenTargets: Set<String> = ["COpenBLAS", "CGStreamer", "CSystemd", "CLibcrypto"]
    static let forbiddenPackages: Set<String> = ["swift-nio", "swift-prometheus"]

    @Test func theClientLibraryLinksNoCLibraryNIOOrPrometheus() async throws {
        let manifest = try await Manifest.load()
        let product = try #require(manifest.products["SightlineClient"], "Package.swift has no SightlineClient product")
        #expect(product.isLibrary)
        #expect(product.targets.contains("SightlineClient"))
        for target in product.targets {
            let closure = try manifest.closure(of: target)
            #expect(closure.systemLibraries.isEmpty, "\(target) reaches system libraries \(closure.systemLibraries.sorted())")
            #expect(closure.targets.isDisjoint(with: Self.forbiddenTargets), "\(target) reaches \(closure.targets.intersection(Self.forbiddenTargets).sorted())")
            let packages = Set(closure.products.map(\.package))
            #expect(packages.isDisjoint(with: Self.forbiddenPackages), "\(target) reaches products of \(packages.intersection(Self.forbiddenPackages).sorted())")
        }
        #expect(try manifest.closure(of: "SightlineClient").targets.contains("SightlineProtocol"))
    }

    /// The same reading finds what the daemon links, so the check above cannot pass by
    /// reading nothing.
    @Test func theCheckSeesWhatTheDaemonLinks() async throws {
        let closure = try await Manifest.load().closure(of: "SightlineDaemon")
        #expect(closure.systemLibraries.isSuperset(of: ["COpenBLAS", "CGStreamer"]))
        #expect(Set(closure.products.map(\.package)).isSuperset(of: Self.forbiddenPackages))
    }

    @Test func theCommandLineClientTalksToTheDaemonThroughTheClientLibrary() async throws {
        let manifest = try await Manifest.load()
        let direct = try #require(manifest.targets["sightline"]).dependencies
        #expect(direct.contains(.target("SightlineClient")))
        #expect(!direct.contains(.target("SightlineDaemon")), "the CLI should reach the daemon through SightlineClient")
    }
}
