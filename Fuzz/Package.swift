// swift-tools-version:6.0
// libFuzzer targets for Sightline's parsers of untrusted input. Not part of the main package:
// it needs the fuzzer and address sanitizers and compiles the parsers from source (the main
// package's one library product is the client, not the model's reader). Scripts/fuzz.sh
// builds and runs it; see README.md.
//
// Sources/SightlineCore, SightlineGrounding and SightlineProtocol are symlinks to the main
// package's folders, and FuzzSafeTensors/SafeTensors.swift to the model engine's reader, so
// the code fuzzed is the code shipped. Here it is also built with the address sanitizer, so an
// overflow, an out-of-bounds index or a bad read of the mapped file traps.
import PackageDescription

let package = Package(
    name: "SightlineFuzz",
    platforms: [.macOS(.v14)],
    targets: [
        .target(name: "SightlineCore"),
        .target(name: "SightlineGrounding", dependencies: ["SightlineCore"]),
        .target(name: "SightlineProtocol", dependencies: ["SightlineCore", "SightlineGrounding"]),

        // The JSON Lines request path: line framing, JSONParser, Request.decode.
        // And the match event lines a client reads: MatchEvent(json:).
        .executableTarget(name: "FuzzProtocolLine", dependencies: ["SightlineProtocol", "SightlineGrounding", "SightlineCore"]),
        // The configuration file: ConfigFile parsing and DaemonConfiguration.apply.
        .executableTarget(name: "FuzzConfigFile", dependencies: ["SightlineProtocol", "SightlineCore"]),
        // The safetensors header reader, from a file whose bytes are the input.
        .executableTarget(name: "FuzzSafeTensors", dependencies: ["SightlineCore"]),
    ],
    swiftLanguageModes: [.v6]
)
