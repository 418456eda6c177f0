import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The status line and headers of a response (header names lowercased).
struct HTTPHead: Sendable {
    var status: Int
    var headers: [String: String]
    var url: URL?
}

/// One GET whose body streams into a callback as it arrives, so a large file never sits in
/// memory and a cut transfer leaves on disk what had arrived.
///
/// URLSession (libcurl underneath on Linux) supplies HTTPS and redirects. Its delegate
/// callbacks run on a serial queue of their own, never on the cooperative thread pool; the
/// body callback writes to disk there.
enum HTTPTransfer {
    /// Largest error body kept for the message.
    static let errorBodyLimit = 64 * 1024

    /// Performs the request. `body` receives 2xx bodies chunk by chunk; other statuses have
    /// their (truncated) body returned instead. Transport failures are thrown as `URLError`;
    /// errors thrown by `onHead` or `body` cancel the transfer and are rethrown.
    static func get(
        _ url: URL,
        headers: [String: String],
        timeout: TimeInterval,
        onHead: @escaping @Sendable (HTTPHead) throws -> Void = { _ in },
        body: @escaping @Sendable (Data) throws -> Void
    ) async throws -> (HTTPHead, Data) {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalAndRemoteCacheData, timeoutInterval: timeout)
        request.httpMethod = "GET"
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.urlCache = nil
        let delegate = TransferDelegate(originalHost: url.host, onHead: onHead, body: body)
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                delegate.start(continuation: continuation)
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
    }
}

private final class TransferDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // Mutable state is touched only from the session's serial delegate queue, after start().
    private let originalHost: String?
    private let onHead: @Sendable (HTTPHead) throws -> Void
    private let body: @Sendable (Data) throws -> Void
    private var continuation: CheckedContinuation<(HTTPHead, Data), Error>?
    private var head = HTTPHead(status: 0, headers: [:], url: nil)
    private var errorBody = Data()
    private var callbackError: Error?

    init(originalHost: String?, onHead: @escaping @Sendable (HTTPHead) throws -> Void, body: @escaping @Sendable (Data) throws -> Void) {
        self.originalHost = originalHost
        self.onHead = onHead
        self.body = body
    }

    func start(continuation: CheckedContinuation<(HTTPHead, Data), Error>) {
        self.continuation = continuation
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse, completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let http = response as? HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http?.allHeaderFields ?? [:] {
            if let key = key as? String, let value = value as? String { headers[key.lowercased()] = value }
        }
        head = HTTPHead(status: http?.statusCode ?? 0, headers: headers, url: response.url)
        do {
            try onHead(head)
            completionHandler(.allow)
        } catch {
            callbackError = error
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard callbackError == nil else { return }
        if (200..<300).contains(head.status) {
            do {
                try body(data)
            } catch {
                callbackError = error
                dataTask.cancel()
            }
        } else if errorBody.count < HTTPTransfer.errorBodyLimit {
            errorBody.append(data.prefix(HTTPTransfer.errorBodyLimit - errorBody.count))
        }
    }

    /// Keeps the request's headers (the Range of a resumed download) across the hub's redirect
    /// to its file storage, but not its credentials when the redirect leaves the hub's host.
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse, newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        var redirected = request
        for (name, value) in task.originalRequest?.allHTTPHeaderFields ?? [:] where redirected.value(forHTTPHeaderField: name) == nil {
            redirected.setValue(value, forHTTPHeaderField: name)
        }
        if request.url?.host != originalHost {
            redirected.setValue(nil, forHTTPHeaderField: "Authorization")
        }
        completionHandler(redirected)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        guard let continuation else { return }
        self.continuation = nil
        if let callbackError {
            continuation.resume(throwing: callbackError)
        } else if let error {
            continuation.resume(throwing: error)
        } else {
            continuation.resume(returning: (head, errorBody))
        }
    }
}
