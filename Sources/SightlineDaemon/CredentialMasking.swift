import Logging
import SightlineCore
import SightlineProtocol

/// Camera URIs carry passwords (`rtsp://user:secret@cam/live`). The daemon needs them to
/// connect and keeps them in its state file, but nothing it says — replies, events, errors,
/// status, log lines — shows them. Each outlet masks at its edge, so that a new message that
/// happens to quote a URI (GStreamer's errors do) is covered without having to remember it.

extension SourceStatus {
    /// The same status with the credentials in its texts hidden.
    var maskingCredentials: SourceStatus {
        var masked = self
        if case .failed(let message) = state { masked.state = .failed(SightlineCore.maskingCredentials(message)) }
        masked.error = error.map { SightlineCore.maskingCredentials($0) }
        return masked
    }
}

extension SightlineError {
    /// The same error with the credentials in its message and context hidden.
    var maskingCredentials: SightlineError {
        SightlineError(code, SightlineCore.maskingCredentials(message), context: context.mapValues { SightlineCore.maskingCredentials($0) })
    }
}

extension Reply {
    /// Every string in the reply, keys included, with credentials hidden.
    var maskingCredentials: Reply {
        switch outcome {
        case .success(let result):
            guard case .object(let masked) = JSONValue.object(result).maskingCredentials else { return self }
            return Reply(id: id, outcome: .success(masked))
        case .failure(let error):
            return Reply(id: id, outcome: .failure(error.maskingCredentials))
        }
    }
}

extension JSONValue {
    var maskingCredentials: JSONValue {
        switch self {
        case .string(let text): return .string(SightlineCore.maskingCredentials(text))
        case .array(let items): return .array(items.map(\.maskingCredentials))
        case .object(let object):
            return .object(JSONObject(object.members.map { (key: SightlineCore.maskingCredentials($0.key), value: $0.value.maskingCredentials) }))
        default: return self
        }
    }
}

extension Logger {
    /// This logger with every message, metadata value and error text masked before it
    /// reaches the handler.
    func maskingCredentials() -> Logger {
        guard !(handler is CredentialMaskingLogHandler) else { return self }
        var logger = self
        logger.handler = CredentialMaskingLogHandler(base: handler)
        return logger
    }
}

/// A `LogHandler` in front of another that masks URI credentials in what is logged.
struct CredentialMaskingLogHandler: LogHandler {
    var base: any LogHandler

    init(base: any LogHandler) {
        self.base = base
        if let provider = base.metadataProvider { self.base.metadataProvider = Self.masking(provider) }
    }

    var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue.mapValues(Self.mask) }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue.map(Self.mask) }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue.map(Self.masking) }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: SightlineCore.maskingCredentials(event.message.description))
        event.metadata = event.metadata?.mapValues(Self.mask)
        event.error = event.error.map { MaskedError(description: SightlineCore.maskingCredentials(String(describing: $0))) }
        base.log(event: event)
    }

    static func mask(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): .string(SightlineCore.maskingCredentials(text))
        case .stringConvertible(let convertible): .string(SightlineCore.maskingCredentials(convertible.description))
        case .array(let items): .array(items.map(mask))
        case .dictionary(let entries): .dictionary(entries.mapValues(mask))
        }
    }

    static func masking(_ provider: Logger.MetadataProvider) -> Logger.MetadataProvider {
        Logger.MetadataProvider { provider.get().mapValues(mask) }
    }

    /// An error as its masked text, for handlers that print `LogEvent.error`.
    struct MaskedError: Error, CustomStringConvertible { var description: String }
}
