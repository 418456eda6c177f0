// swift-tools-version:6.0
// Sightline: open-vocabulary spatio-temporal grounding on live video, as a Linux daemon.
// Targets are grouped by area; each area keeps its targets together so that work on one
// area does not touch another's lines.
import PackageDescription

let package = Package(
    name: "Sightline",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sightline", targets: ["sightline"]),
        .executable(name: "sightline-bench", targets: ["sightline-bench"]),
        .executable(name: "sightlined", targets: ["sightlined"]),
        // For Swift programs that talk to sightlined: the client and the wire types it speaks,
        // without the daemon's C libraries, NIO or metrics (Docs/protocol.md, "Swift clients").
        .library(name: "SightlineClient", targets: ["SightlineClient", "SightlineProtocol", "SightlineGrounding", "SightlineCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // MARK: Shared pure types (no C module)
        .target(name: "SightlineCore"),
        .testTarget(name: "SightlineCoreTests", dependencies: ["SightlineCore"]),
        // Test helpers shared by the test targets that run built programs (the daemon, the CLI).
        .target(name: "SightlineTestSupport", path: "Tests/SightlineTestSupport"),

        // MARK: Model engine
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // oneDNN's int8 and bf16 matrix products (Debian's libdnnl-dev has no pkg-config file).
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // The element-wise kernels between the matrix products: hot loops over raw buffers whose
        // callers check sizes once at entry, in C so that each is built for AVX2 as well as for
        // baseline x86-64 (optimised in debug builds too); SightlineKernels is their Swift face.
        .target(name: "CKernels", exclude: ["kernels.inc"], cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "SightlineKernels", dependencies: ["CKernels"]),
        .target(
            name: "SightlineModel",
            dependencies: [
                "SightlineCore",
                "SightlineKernels",
                "COpenBLAS",
                "CDNNL",
                .product(name: "Logging", package: "swift-log"),
            ],
            // Optimised even in debug builds, so that the parity tests stay fast, but with every
            // check: this target parses checkpoints, configurations and tokenizer files.
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
        .testTarget(name: "SightlineModelTests", dependencies: ["SightlineModel", "SightlineKernels", "SightlineMedia", "SightlineTestSupport"]),

        // MARK: Media ingest
        .systemLibrary(
            name: "CGStreamer",
            pkgConfig: "gstreamer-app-1.0",
            providers: [.apt(["libgstreamer1.0-dev", "libgstreamer-plugins-base1.0-dev"])]
        ),
        .target(
            name: "SightlineMedia",
            dependencies: [
                "SightlineCore",
                "CGStreamer",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SightlineMediaTests",
            dependencies: [
                "SightlineMedia",
                "SightlineCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Support/rtsp-test-server.py"]
        ),

        // MARK: Grounding
        .target(name: "SightlineGrounding", dependencies: ["SightlineCore"]),
        .testTarget(name: "SightlineGroundingTests", dependencies: ["SightlineGrounding", "SightlineCore"]),
        .target(
            name: "SightlinePipeline",
            dependencies: [
                "SightlineCore", "SightlineGrounding", "SightlineModel", "SightlineMedia",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SightlinePipelineTests",
            dependencies: ["SightlinePipeline", "SightlineGrounding", "SightlineModel", "SightlineMedia", "SightlineCore",
                           "SightlineProtocol", "SightlineTestSupport", .product(name: "Logging", package: "swift-log")]
        ),

        // MARK: Daemon and protocol
        .target(name: "SightlineProtocol", dependencies: ["SightlineCore", "SightlineGrounding"]),
        .testTarget(name: "SightlineProtocolTests", dependencies: ["SightlineProtocol", "SightlineCore", "SightlineGrounding"]),
        .target(
            name: "SightlineDaemon",
            dependencies: [
                "SightlineHub",
                "SightlineCore",
                "SightlineProtocol",
                "SightlineGrounding",
                "SightlineMedia",
                "SightlineModel",
                "SightlinePipeline",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "sightlined",
            dependencies: [
                "SightlineSystemd",
                "SightlineGrounding",
                "SightlineCore",
                "SightlineProtocol",
                "SightlineDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SightlineDaemonTests",
            dependencies: [
                "SightlineTestSupport",
                "SightlineCore",
                "SightlineProtocol",
                "SightlineGrounding",
                "SightlineDaemon",
                "SightlineMedia",
                "SightlineModel",
                "SightlinePipeline",
                "SightlineClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: Event history
        // The durable event log, in SQLite through GRDB (Debian's libsqlite3).
        .target(name: "SightlineHistory", dependencies: ["SightlineCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "SightlineHistoryTests", dependencies: ["SightlineHistory"]),

        // MARK: systemd, installation and model management
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .target(
            name: "SightlineSystemd",
            dependencies: ["CSystemd", "SightlineCore", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "SightlineSystemdTests",
            dependencies: ["SightlineSystemd", "SightlineCore", "SightlineTestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        // OpenSSL's libcrypto, for the SHA-256 and SHA-1 that verify a model pull.
        .systemLibrary(name: "CLibcrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "SightlineHub", dependencies: ["SightlineCore", "CLibcrypto", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "SightlineHubTests",
            dependencies: [
                "SightlineHub",
                "SightlineCore",
                "SightlineTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // MARK: Client library
        // Depends on the protocol alone; SightlineClientTests fails if a C library, NIO or
        // Prometheus enters its dependencies.
        .target(name: "SightlineClient", dependencies: ["SightlineProtocol", "SightlineCore"]),
        .testTarget(name: "SightlineClientTests", dependencies: ["SightlineClient", "SightlineProtocol", "SightlineGrounding", "SightlineCore", "SightlineTestSupport"]),

        // MARK: Command-line client
        .executableTarget(
            name: "sightline",
            dependencies: [
                "SightlineCore",
                "SightlineProtocol",
                "SightlineClient",
                "SightlineGrounding",
                "SightlineModel",
                "SightlineMedia",
                "SightlinePipeline",
                "SightlineHub",
                "SightlineSystemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: Benchmarks
        .executableTarget(
            name: "sightline-bench",
            dependencies: [
                "SightlineCore",
                "SightlineMedia",
                "SightlineGrounding", "SightlineModel", "SightlinePipeline",
                "SightlineProtocol", "SightlineDaemon", "SightlineClient", "SightlineHistory",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
