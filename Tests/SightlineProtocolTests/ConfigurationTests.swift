import Foundation
import SightlineCore
import Testing

@testable import SightlineProtocol

@Suite struct ConfigurationTests {
    static let user = RunEnvironment(variables: ["XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/ada"], uid: 1000, home: "/home/ada")

    @Test func defaultsForANormalUser() {
        let c = DaemonConfiguration(defaultsFor: Self.user)
        #expect(c.socketPath == "/run/user/1000/sightline/sightline.sock")
        #expect(c.stateDirectory == "/home/ada/.local/state/sightline")
        #expect(c.socketMode == 0o660 && c.readAccess == .group && c.metricsAddress == nil)
    }

    @Test func defaultsForAService() {
        let root = RunEnvironment(variables: [:], uid: 0, home: "/root")
        #expect(root.defaultPaths == ("/run/sightline/sightline.sock", "/var/lib/sightline"))
        let unit = RunEnvironment(variables: ["RUNTIME_DIRECTORY": "/run/sl", "STATE_DIRECTORY": "/var/lib/sl:/var/lib/other"], uid: 990, home: nil)
        #expect(unit.defaultPaths == ("/run/sl/sightline.sock", "/var/lib/sl"))
    }

    @Test func aUserWithoutARuntimeDirectoryGetsOneInTmp() {
        let env = RunEnvironment(variables: ["HOME": "/h", "XDG_STATE_HOME": "/h/st"], uid: 1234, home: nil)
        #expect(env.defaultPaths == ("/tmp/sightline-1234/sightline.sock", "/h/st/sightline"))
        #expect(env.clientSocketCandidates == ["/tmp/sightline-1234/sightline.sock", "/run/sightline/sightline.sock"])
    }

    /// The shipped file parses, and with every key uncommented it still parses and sets the
    /// documented default values: the file and the code cannot drift apart.
    @Test func theShippedFileDocumentsTheDefaults() throws {
        let text = try Self.shippedFile()
        var c = DaemonConfiguration(defaultsFor: Self.user)
        try c.apply(ConfigFile(parsing: text, name: "sightlined.toml"))
        #expect(c == DaemonConfiguration(defaultsFor: Self.user))

        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            let l = line.hasPrefix("# ") && line.dropFirst(2).first?.isLowercase == true && line.contains(" = ") ? line.dropFirst(2) : line
            return String(l)
        }.joined(separator: "\n")
        let file = try ConfigFile(parsing: uncommented, name: "uncommented")
        #expect(Set(file.entries.keys) == DaemonConfiguration.fileKeys)
        var all = DaemonConfiguration(defaultsFor: RunEnvironment(variables: [:], uid: 0, home: nil))
        try all.apply(file)
        #expect(all.socketPath == "/run/sightline/sightline.sock")
        #expect(all.stateDirectory == "/var/lib/sightline")
        #expect(all.maxBatch == 8 && all.framesPerStream == 4 && all.subscriberQueue == 1024)
        #expect(all.modelRepository == "openai/clip-vit-base-patch16" && all.modelPrecision == "auto")
        #expect(all.metricsAddress == "127.0.0.1:9464")
        #expect(all.socketGroup == "sightline")
    }

    @Test func parsesTheTOMLSubset() throws {
        let file = try ConfigFile(parsing: """
            top = 1
            [a]  # comment
            s = "x # not a comment \\" \\u00e9"
            i = 0o660
            n = 1_000
            f = 2.5
            b = false
            l = ["p", "q" , "r"]
            e = []
            """, name: "t")
        #expect(file.entry("top")?.value == .integer(1))
        #expect(file.entry("a.s")?.value == .string("x # not a comment \" é"))
        #expect(file.entry("a.i")?.value == .integer(0o660))
        #expect(file.entry("a.n")?.value == .integer(1000))
        #expect(file.entry("a.f")?.value == .float(2.5))
        #expect(file.entry("a.b")?.value == .bool(false))
        #expect(file.entry("a.l")?.value == .strings(["p", "q", "r"]))
        #expect(file.entry("a.e")?.value == .strings([]))
    }

    @Test(arguments: [
        ("[socket\npath = \"x\"", 1, "table header"),
        ("[socket]\npath = x", 2, "is not a value"),
        ("[socket]\npath = \"x", 2, "unterminated string"),
        ("[socket]\npath = \"x\"\npath = \"y\"", 3, "set twice (first on line 2)"),
        ("[socket]\n\npaht = \"x\"", 3, "unknown key socket.paht"),
        ("[socket]\nmode = \"0660\"", 2, "socket.mode must be an integer"),
        ("[scheduler]\nmax_batch = 0", 2, "outside 1...64"),
        ("[motion]\nrefresh = 0.1", 2, "motion.refresh = 0.1 is outside 0.5...3600.0"),
        ("[motion]\ncarry = \"yes\"", 2, "motion.carry must be true or false"),
        ("[scheduler]\nmax_latency = -1.0", 2, "scheduler.max_latency = -1.0 is outside 0.0...3600.0"),
        ("[scheduler]\nmax_latency = \"1s\"", 2, "scheduler.max_latency must be a number"),
        ("[matches]\nupdate_interval = 7200", 2, "matches.update_interval = 7200"),
        ("[socket]\nread_access = \"everyone\"", 2, "\"group\" or \"anyone\""),
        ("[metrics]\naddress = \"localhost\"", 2, "is not host:port"),
        ("[log]\nlevel = \"loud\"", 2, "log.level must be one of"),
        ("[model]\nprecision = \"int4\"", 2, "model.precision must be auto, fp32, int8 or bf16, not \"int4\""),
        ("[model]\n\nprecision = \"INT8\"", 3, "model.precision must be auto, fp32, int8 or bf16, not \"INT8\""),
        ("[model]\nprecision = \"\"", 2, "model.precision must be auto, fp32, int8 or bf16, not \"\""),
        ("[model]\nprecision = 8", 2, "model.precision must be a string"),
        ("[streams]\n\ndefault_short_side = 10", 3, "streams.default_short_side: 10 is not 0"),
        ("[streams]\ndefault_short_side = 99999", 2, "outside 0...4320"),
        ("just words", 1, "expected key = value"),
        ("[[array]]", 1, "table header"),
        ("[model]\npath = [\"a\", 1]", 2, "arrays hold strings only"),
        ("[model]\npath = \"\\u+041\"", 2, "four hex digits"),
        ("[model]\npath = \"\\u-000\"", 2, "four hex digits"),
        ("[model]\npath = \"\\ud800\"", 2, "four hex digits"),
    ])
    func badFilesNameTheLine(text: String, line: Int, fragment: String) {
        var c = DaemonConfiguration(defaultsFor: Self.user)
        #expect {
            try c.apply(ConfigFile(parsing: text, name: "bad.toml"))
        } throws: { error in
            guard let e = error as? SightlineError else { return false }
            return e.code == .invalidFile && e.message.hasPrefix("bad.toml line \(line): ") && e.message.contains(fragment)
        }
    }

    @Test func readsStreamsAndQueriesDefinedInTheFile() throws {
        var c = DaemonConfiguration(defaultsFor: Self.user)
        try c.apply(ConfigFile(parsing: """
            [streams]
            default_fps = 3

            [query.bikes]
            text = "  a person riding a bike "
            streams = ["front-door"]
            threshold = 0.4

            [stream.front-door]
            uri = "rtsp://user:pw@10.0.0.5/stream"
            fps = 1
            short_side = 360

            [stream.clip]
            uri = "/videos/a.mp4"
            loop = true

            [query.cars]
            text = "a white car"
            min_duration = 2
            """, name: "d.toml"))
        #expect(c.defaultFPS == 3)
        #expect(c.definedStreams == [
            DefinedStream(spec: StreamSpec(id: "front-door", uri: "rtsp://user:pw@10.0.0.5/stream", fps: 1, shortSide: 360), file: "d.toml", line: 9),
            DefinedStream(spec: StreamSpec(id: "clip", uri: "/videos/a.mp4", loop: true), file: "d.toml", line: 14),
        ])
        #expect(c.definedQueries == [
            DefinedQuery(id: "bikes", spec: QuerySpec(text: "a person riding a bike", streams: ["front-door"], threshold: 0.4), file: "d.toml", line: 4),
            DefinedQuery(id: "cars", spec: QuerySpec(text: "a white car", minDuration: 2), file: "d.toml", line: 18),
        ])
    }

    /// Definitions are checked like the requests that add streams and queries over the
    /// socket; an error names the line of the key at fault, else of the table.
    @Test(arguments: [
        ("[stream.cam1]\nfps = 2", 1, "stream.cam1.uri: required"),
        ("[stream.cam1]\nuri = \"rtsp://c/s\"\nfps = 0", 3, "stream.cam1.fps: 0.0 is outside"),
        ("[stream.cam1]\nuri = \"videos/a.mp4\"", 2, "stream.cam1.uri: \"videos/a.mp4\" is neither a URI nor an absolute path"),
        ("[stream.cam1]\nuri = \"/a.mp4\"\nshort_side = 10", 3, "stream.cam1.short_side: 10 is not 0"),
        ("[stream.cam1]\nuri = \"/a.mp4\"\nurl = \"/b.mp4\"", 3, "stream.cam1.url: unknown parameter"),
        ("[stream.cam1]\nuri = \"/a.mp4\"\nid = \"cam2\"", 3, "the stream's id is the table's name"),
        ("[stream.cam.1]\nuri = \"/a.mp4\"", 2, "no dots"),
        ("[stream._x]\nuri = \"/a.mp4\"", 1, "is not a valid id"),
        ("[stream]\nuri = \"/a.mp4\"", 2, "belongs in a table of its own"),
        ("[stream.cam1]", 1, "stream.cam1.uri: required"),
        ("[stream.cam1]\nuri = \"/a.mp4\"\n[stream.cam1]\nfps = 1", 3, "table [stream.cam1] is defined twice (first on line 1)"),
        ("[query.q1]\nthreshold = 0.5", 1, "query.q1.text: required"),
        ("[query.q1]\ntext = \"a\"\nstreams = \"cam1\"", 3, "query.q1.streams: expected array of strings"),
        ("[query.q1]\ntext = \"a\"\nthreshold = 1.5", 3, "query.q1.threshold: 1.5 is outside"),
        ("[query.q1]\ntext = \"  \"", 2, "query.q1.text: must not be empty"),
        ("[queries.q1]\ntext = \"a\"", 2, "unknown key queries.q1.text"),
    ])
    func badDefinitionsNameTheLine(text: String, line: Int, fragment: String) {
        var c = DaemonConfiguration(defaultsFor: Self.user)
        #expect {
            try c.apply(ConfigFile(parsing: text, name: "bad.toml"))
        } throws: { error in
            guard let e = error as? SightlineError else { return false }
            return e.code == .invalidFile && e.message.hasPrefix("bad.toml line \(line): ") && e.message.contains(fragment)
        }
    }

    @Test func environmentOverridesTheFile() throws {
        var c = DaemonConfiguration(defaultsFor: Self.user)
        try c.apply(ConfigFile(parsing: "[socket]\npath = \"/from/file\"\n[log]\nlevel = \"debug\"", name: "f"))
        try c.apply(environment: ["SIGHTLINE_SOCKET": "/from/env", "SIGHTLINE_MODEL": "/models/m", "SIGHTLINE_METRICS_ADDRESS": "[::1]:9000"])
        #expect(c.socketPath == "/from/env" && c.modelPath == "/models/m" && c.logLevel == "debug" && c.metricsAddress == "[::1]:9000")
        #expect(throws: SightlineError.self) { try c.apply(environment: ["SIGHTLINE_LOG_LEVEL": "chatty"]) }
        #expect(throws: SightlineError.self) { try c.apply(environment: ["SIGHTLINE_METRICS_ADDRESS": "9000"]) }
        try c.apply(environment: ["SIGHTLINE_MAX_LATENCY": "0.75"])
        #expect(c.maxLatency == 0.75)
        for bad in ["-1", "soon", "1e9"] {
            #expect(throws: SightlineError.self) { try c.apply(environment: ["SIGHTLINE_MAX_LATENCY": bad]) }
        }
        #expect(try DaemonConfiguration.parseAddress("[::1]:9000", field: "x") == ("::1", 9000))
    }

    /// `model.precision` from the file, then `SIGHTLINE_PRECISION` over it; a bad value names
    /// the variable, the key it sets and the choices.
    @Test func precisionComesFromTheFileAndTheEnvironment() throws {
        var c = DaemonConfiguration(defaultsFor: Self.user)
        #expect(c.modelPrecision == "auto")
        try c.apply(ConfigFile(parsing: "[model]\nprecision = \"fp32\"", name: "f"))
        #expect(c.modelPrecision == "fp32")
        try c.apply(environment: ["SIGHTLINE_PRECISION": ""])
        #expect(c.modelPrecision == "fp32", "an empty variable is no setting")
        try c.apply(environment: ["SIGHTLINE_PRECISION": "int8"])
        #expect(c.modelPrecision == "int8")
        for bad in ["int4", "Auto", " fp32", "bf16,int8"] {
            #expect {
                try c.apply(environment: ["SIGHTLINE_PRECISION": bad])
            } throws: { error in
                (error as? SightlineError)?.message == "SIGHTLINE_PRECISION (model.precision) must be auto, fp32, int8 or bf16, not \"\(bad)\""
            }
        }
        #expect(c.modelPrecision == "int8")
        #expect(DaemonConfiguration.environmentKeys["SIGHTLINE_PRECISION"] == "model.precision")
    }

    static func shippedFile() throws -> String {
        // The test reads the repository's own file, found from this source file's path.
        let root = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        return try String(contentsOfFile: "/" + root + "/Config/sightlined.toml", encoding: .utf8)
    }
}
