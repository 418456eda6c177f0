import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A Hugging Face hub on 127.0.0.1 for tests: the metadata endpoint, `resolve` with a
/// redirect to LFS storage for large files, HTTP Range, the hub's error headers, and faults
/// on demand (a transfer cut in the middle, bytes that differ from the published hash).
final class LocalHub: Sendable {
    struct File: Sendable {
        var data: Data
        var lfs: Bool
        var sha256: String
        var gitBlobID: String
    }

    struct Repo: Sendable {
        var commit: String
        var files: [String: File]
    }

    struct Request: Sendable, Equatable {
        var path: String
        var range: String?
    }

    struct Faults: Sendable {
        /// Cut the body of this file after this many bytes, for this many requests.
        var cut: [String: (afterBytes: Int, times: Int)] = [:]
        /// Serve these files with one byte changed (the metadata keeps the true hash).
        var corrupt: Set<String> = []
        /// Ignore Range headers (answer 200 with the whole file).
        var ignoreRange = false
        /// Answer this many 503s before serving anything.
        var unavailable = 0
        /// Listed in the metadata but answered with 404 EntryNotFound.
        var missing: Set<String> = []
    }

    private let state = Mutex<(repos: [String: Repo], faults: Faults, requests: [Request])>(([:], Faults(), []))
    private let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    let port: Int

    var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

    init() async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let box = HandlerState(hub: nil)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(HubHandler(state: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.channel = channel
        port = channel.localAddress!.port!
        box.hub.withLock { $0 = self }
    }

    func shutdown() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }

    func add(repo id: String, commit: String, files: [String: (Data, lfs: Bool)]) async throws {
        var repo = Repo(commit: commit, files: [:])
        for (name, (data, lfs)) in files {
            repo.files[name] = File(data: data, lfs: lfs, sha256: try await Self.sha256sum(data), gitBlobID: try await Self.gitBlobID(data))
        }
        state.withLock { $0.repos[id] = repo }
    }

    func setFaults(_ faults: Faults) { state.withLock { $0.faults = faults } }
    var requests: [Request] { state.withLock { $0.requests } }
    func clearRequests() { state.withLock { $0.requests = [] } }

    // MARK: Hashes from coreutils, independent of the implementation under test

    static func sha256sum(_ data: Data) async throws -> String { try await digest("sha256sum", data) }

    static func gitBlobID(_ data: Data) async throws -> String {
        try await digest("sha1sum", Data("blob \(data.count)\0".utf8) + data)
    }

    /// Every fixture hub serves the same files: each is hashed by coreutils once.
    private struct Input: Hashable {
        var tool: String
        var data: Data
    }

    private static let known = Mutex<[Input: String]>([:])

    private static func digest(_ tool: String, _ data: Data) async throws -> String {
        let key = Input(tool: tool, data: data)
        if let cached = known.withLock({ $0[key] }) { return cached }
        let result = try await offPool { try run(tool, data) }
        known.withLock { $0[key] = result }
        return result
    }

    private static func run(_ tool: String, _ data: Data) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hub-digest-\(UUID().uuidString)")
        try data.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/\(tool)")
        process.arguments = [file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
    }

    // MARK: Routing

    enum Reply {
        case json(Int, String, errorCode: String?)
        case redirect(String)
        case file(Data, range: String?, cutAfter: Int?)
        case status(Int)
    }

    fileprivate func route(path: String, range: String?) -> Reply {
        state.withLock { state -> Reply in
            state.requests.append(Request(path: path, range: range))
            if state.faults.unavailable > 0 {
                state.faults.unavailable -= 1
                return .status(503)
            }
            let parts = path.split(separator: "?").first.map { $0.split(separator: "/").map(String.init) } ?? []
            // /api/models/<owner>/<name>/revision/<rev>
            if parts.count == 6, parts[0] == "api", parts[1] == "models", parts[4] == "revision" {
                let id = "\(parts[2])/\(parts[3])"
                guard let repo = state.repos[id] else { return .json(404, #"{"error":"Repository not found"}"#, errorCode: "RepoNotFound") }
                guard parts[5] == "main" || parts[5] == repo.commit else {
                    return .json(404, #"{"error":"Invalid rev id: \#(parts[5])"}"#, errorCode: "RevisionNotFound")
                }
                let siblings = repo.files.sorted { $0.key < $1.key }.map { name, file in
                    file.lfs
                        ? #"{"rfilename":"\#(name)","blobId":"\#(file.gitBlobID)","size":\#(file.data.count),"lfs":{"sha256":"\#(file.sha256)","size":\#(file.data.count),"pointerSize":134}}"#
                        : #"{"rfilename":"\#(name)","blobId":"\#(file.gitBlobID)","size":\#(file.data.count)}"#
                }
                return .json(200, #"{"id":"\#(id)","sha":"\#(repo.commit)","siblings":[\#(siblings.joined(separator: ","))]}"#, errorCode: nil)
            }
            // /<owner>/<name>/resolve/<rev>/<file>
            if parts.count == 5, parts[2] == "resolve" {
                let id = "\(parts[0])/\(parts[1])"
                guard let repo = state.repos[id] else { return .json(404, #"{"error":"Repository not found"}"#, errorCode: "RepoNotFound") }
                guard let file = repo.files[parts[4]], !state.faults.missing.contains(parts[4]) else { return .json(404, #"{"error":"Entry not found"}"#, errorCode: "EntryNotFound") }
                if file.lfs { return .redirect("/lfs-storage/\(id)/\(parts[4])") }
                return serve(file, name: parts[4], range: range, state: &state)
            }
            // /lfs-storage/<owner>/<name>/<file>
            if parts.count == 4, parts[0] == "lfs-storage", let file = state.repos["\(parts[1])/\(parts[2])"]?.files[parts[3]] {
                return serve(file, name: parts[3], range: range, state: &state)
            }
            return .status(404)
        }
    }

    private func serve(_ file: File, name: String, range: String?, state: inout (repos: [String: Repo], faults: Faults, requests: [Request])) -> Reply {
        var data = file.data
        if state.faults.corrupt.contains(name), !data.isEmpty { data[data.count / 2] ^= 0xff }
        var cutAfter: Int?
        if let cut = state.faults.cut[name], cut.times > 0 {
            cutAfter = cut.afterBytes
            state.faults.cut[name] = (cut.afterBytes, cut.times - 1)
        }
        return .file(data, range: state.faults.ignoreRange ? nil : range, cutAfter: cutAfter)
    }
}

private final class HandlerState: Sendable {
    let hub: Mutex<LocalHub?>
    init(hub: LocalHub?) { self.hub = Mutex(hub) }
}

private final class HubHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: HandlerState
    private var head: HTTPRequestHead?

    init(state: HandlerState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head, let hub = state.hub.withLock({ $0 }) else { return }
            respond(context: context, hub.route(path: head.uri, range: head.headers.first(name: "Range")))
        }
    }

    private func respond(context: ChannelHandlerContext, _ reply: LocalHub.Reply) {
        var headers = HTTPHeaders()
        switch reply {
        case .json(let status, let body, let errorCode):
            headers.add(name: "Content-Type", value: "application/json")
            if let errorCode { headers.add(name: "X-Error-Code", value: errorCode) }
            send(context: context, status: .init(statusCode: status), headers: headers, body: Data(body.utf8))
        case .redirect(let location):
            headers.add(name: "Location", value: location)
            send(context: context, status: .found, headers: headers, body: Data())
        case .status(let status):
            send(context: context, status: .init(statusCode: status), headers: headers, body: Data())
        case .file(let data, let range, let cutAfter):
            var status = HTTPResponseStatus.ok
            var slice = data
            if let range, range.hasPrefix("bytes="), let start = Int(range.dropFirst(6).split(separator: "-").first ?? "") {
                guard start < data.count else {
                    headers.add(name: "Content-Range", value: "bytes */\(data.count)")
                    send(context: context, status: .rangeNotSatisfiable, headers: headers, body: Data())
                    return
                }
                status = .partialContent
                slice = data.subdata(in: start..<data.count)
                headers.add(name: "Content-Range", value: "bytes \(start)-\(data.count - 1)/\(data.count)")
            }
            headers.add(name: "Content-Length", value: "\(slice.count)")
            headers.add(name: "Accept-Ranges", value: "bytes")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            if let cutAfter, cutAfter < slice.count {
                // Half the body, then the connection drops, as a flaky network does.
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: slice.prefix(cutAfter)))))).whenComplete { _ in
                    channel.close(promise: nil)
                }
                return
            }
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: slice)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private func send(context: ChannelHandlerContext, status: HTTPResponseStatus, headers: HTTPHeaders, body: Data) {
        var headers = headers
        headers.add(name: "Content-Length", value: "\(body.count)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// Runs blocking work (copying binaries, running a program) on a thread of its own, so that
/// tests of other areas waiting on the two-thread cooperative pool are not held up.
func offPool<T: Sendable>(_ work: @escaping () throws -> T) async throws -> T {
    nonisolated(unsafe) let work = work
    return try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
