import CLibcrypto
import SightlineCore

/// An incremental hash through libcrypto's EVP interface: maintained, and dispatched at run
/// time to the CPU's SHA extensions where it has them.
///
/// Not thread-safe: one owner feeds it (a download's serial delegate queue, or one reader).
final class Digest {
    enum Algorithm: Sendable {
        case sha256
        case sha1
    }

    private let context: OpaquePointer

    init(_ algorithm: Algorithm) {
        // Allocation and initialisation fail only when memory is exhausted.
        guard let context = EVP_MD_CTX_new() else { fatalError("libcrypto cannot allocate a digest context") }
        let md = switch algorithm {
        case .sha256: EVP_sha256()
        case .sha1: EVP_sha1()
        }
        guard EVP_DigestInit_ex(context, md, nil) == 1 else { fatalError("libcrypto cannot initialise \(algorithm)") }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    /// The hash in lowercase hex, the form the hub uses. The digest is finished after this.
    func finalize() -> String {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        return out.prefix(Int(length)).hexString
    }

    /// The hash of `bytes` in one call.
    static func hash<Bytes: Sequence>(_ algorithm: Algorithm, _ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digest = Digest(algorithm)
        digest.update(bytes)
        return digest.finalize()
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
