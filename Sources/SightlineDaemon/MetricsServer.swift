import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import SightlineCore
import SightlineProtocol

/// A small HTTP server for Prometheus: `GET /metrics` returns the text exposition; anything
/// else is 404. Meant for a local address (the default configuration serves nothing).
public final class MetricsServer: Service, Sendable {
    let host: String
    let port: Int
    let render: @Sendable () -> [UInt8]
    let group: MultiThreadedEventLoopGroup
    let logger: Logger

    public init(address: String, group: MultiThreadedEventLoopGroup, logger: Logger, render: @escaping @Sendable () -> [UInt8]) throws {
        (host, port) = try DaemonConfiguration.parseAddress(address, field: "metrics.address")
        self.group = group
        self.logger = logger
        self.render = render
    }

    public func run() async throws {
        let render = self.render
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { child in
                    // Runs on the child's event loop, so the handler never crosses threads.
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.configureHTTPServerPipeline()
                        try child.pipeline.syncOperations.addHandler(MetricsHandler(render: render))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            throw SightlineError(.system, "cannot serve metrics on \(host):\(port): \(error)")
        }
        logger.info("serving Prometheus metrics", metadata: ["address": "\(host):\(port)"])
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

private final class MetricsHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let render: @Sendable () -> [UInt8]
    var head: HTTPRequestHead?

    init(render: @escaping @Sendable () -> [UInt8]) { self.render = render }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            let found = head.method == .GET && (head.uri == "/metrics" || head.uri.hasPrefix("/metrics?"))
            let body = found ? render() : Array("not found; metrics are at /metrics\n".utf8)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
            headers.add(name: "Content-Length", value: String(body.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: found ? .ok : .notFound, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            let keepAlive = head.isKeepAlive
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
            self.head = nil
        }
    }
}
