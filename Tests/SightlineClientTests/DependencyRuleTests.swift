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

/// The parts of `swift package dump-package` the rule needs.
struct Manifest {
    enum Dependency: Hashable {
        case target(String)
        case product(name: String, package: String)
    }

    struct Target {
        var isSystemLibrary: Bool
        var dependencies: [Dependency]
    }

    struct Product {
        var isLibrary: Bool
        var targets: [String]
    }

    struct Closure {
        var targets: Set<String> = []
        var systemLibraries: Set<String> = []
        var products: Set<Dependency.ProductKey> = []
    }

    var targets: [String: Target] = [:]
    var products: [String: Product] = [:]

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func load() async throws -> Manifest {
        // A scratch path of its own: the tests run while `swift test` holds the lock on .build.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-manifest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let result = try await ChildProcesses.run("/usr/bin/env", ["swift", "package", "--package-path", packageRoot, "--scratch-path", scratch,
                                                                   "--manifest-cache", "none", "dump-package"])
        guard result.status == 0 else {
            throw ManifestError(message: "swift package dump-package failed (\(result.status)): \(result.stderr)")
        }
        return try Manifest(json: Data(result.stdout.utf8))
    }

    init(json data: Data) throws {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let targetList = root["targets"] as? [[String: Any]], let productList = root["products"] as? [[String: Any]] else {
            throw ManifestError(message: "dump-package printed no targets and products")
        }
        for target in targetList {
            guard let name = target["name"] as? String else { continue }
            var dependencies: [Dependency] = []
            for dependency in target["dependencies"] as? [[String: Any]] ?? [] {
                if let byName = dependency["byName"] as? [Any], let n = byName.first as? String {
                    dependencies.append(.target(n))
                } else if let byTarget = dependency["target"] as? [Any], let n = byTarget.first as? String {
                    dependencies.append(.target(n))
                } else if let product = dependency["product"] as? [Any], let n = product.first as? String {
                    dependencies.append(.product(name: n, package: product.count > 1 ? (product[1] as? String ?? "") : ""))
                } else {
                    throw ManifestError(message: "\(name): a dependency of a form this test does not know: \(dependency)")
                }
            }
            targets[name] = Target(isSystemLibrary: target["type"] as? String == "system", dependencies: dependencies)
        }
        for product in productList {
            guard let name = product["name"] as? String else { continue }
            let type = product["type"] as? [String: Any] ?? [:]
            products[name] = Product(isLibrary: type["library"] != nil, targets: product["targets"] as? [String] ?? [])
        }
    }

    /// Everything `name` depends on, directly or not.
    func closure(of name: String) throws -> Closure {
        var closure = Closure()
        var queue = [name]
        while let next = queue.popLast() {
            guard let target = targets[next] else {
                // A name that is no target here is a product of another package.
                throw ManifestError(message: "\(next) is not a target of this package; name its package with .product(name:package:)")
            }
            if target.isSystemLibrary { closure.systemLibraries.insert(next) }
            for dependency in target.dependencies {
                switch dependency {
                case .target(let t):
                    if closure.targets.insert(t).inserted { queue.append(t) }
                case .product(let product, let package):
                    closure.products.insert(Dependency.ProductKey(name: product, package: package))
                }
            }
        }
        return closure
    }
}

extension Manifest.Dependency {
    struct ProductKey: Hashable {
        var name: String
        var package: String
    }
}

struct ManifestError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
