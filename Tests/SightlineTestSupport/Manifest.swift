import Foundation

/// The parts of `swift package dump-package` that the tests of the package's own rules read
/// (what the client may link, which code is built without runtime checks).
public struct Manifest {
    public enum Dependency: Hashable, Sendable {
        case target(String)
        case product(name: String, package: String)
    }

    public struct Target: Sendable {
        public var isSystemLibrary: Bool
        public var dependencies: [Dependency]
        /// `unsafeFlags` of its Swift settings.
        public var unsafeFlags: [String]
    }

    public struct Product: Sendable {
        public var isLibrary: Bool
        public var targets: [String]
    }

    public struct Closure: Sendable {
        public var targets: Set<String> = []
        public var systemLibraries: Set<String> = []
        public var products: Set<Dependency.ProductKey> = []
    }

    public var targets: [String: Target] = [:]
    public var products: [String: Product] = [:]

    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    public static func load() async throws -> Manifest {
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

    public init(json data: Data) throws {
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
            var unsafeFlags: [String] = []
            for setting in target["settings"] as? [[String: Any]] ?? [] {
                if let kind = setting["kind"] as? [String: Any], let flags = kind["unsafeFlags"] as? [String: Any] {
                    unsafeFlags += flags["_0"] as? [String] ?? []
                }
            }
            targets[name] = Target(isSystemLibrary: target["type"] as? String == "system", dependencies: dependencies, unsafeFlags: unsafeFlags)
        }
        for product in productList {
            guard let name = product["name"] as? String else { continue }
            let type = product["type"] as? [String: Any] ?? [:]
            products[name] = Product(isLibrary: type["library"] != nil, targets: product["targets"] as? [String] ?? [])
        }
    }

    /// Everything `name` depends on, directly or not.
    public func closure(of name: String) throws -> Closure {
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
    public struct ProductKey: Hashable, Sendable {
        public var name: String
        public var package: String
    }
}

public struct ManifestError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
