import Foundation
import SightlineCore

#if canImport(Glibc)
import Glibc
#endif

/// Element types a safetensors file may declare. The engine computes in F32 and reads F32, F16
/// and BF16; the others are recognised so that a file holding them (for example the I64
/// `position_ids` buffers of older checkpoints) is still validated and readable.
enum TensorDType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"
    case f64 = "F64", i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", u16 = "U16", u32 = "U32", u64 = "U64"
    case bool = "BOOL", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: 1
        }
    }

    /// Whether the engine can turn this type into F32 weights.
    var isReadable: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

/// One tensor's entry in a safetensors header; `offset` is from the start of the file.
struct TensorEntry: Sendable {
    var name: String
    var dtypeName: String
    var dtype: TensorDType?
    var shape: [Int]
    var offset: Int
    var byteCount: Int
}

/// A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header, then
/// the tensor bytes. The mapping stays alive as long as this object, so F32 weights can be used
/// in place without a copy.
final class SafeTensorsFile: @unchecked Sendable {
    let path: String
    let tensors: [String: TensorEntry]
    private let base: UnsafeMutableRawPointer?
    private let size: Int

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            let code: SightlineError.Code = errno == ENOENT ? .fileNotFound : .invalidFile
            throw SightlineError(code, "cannot open the weights file: \(reason)", context: ["file": path])
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SightlineError(.invalidFile, "cannot stat the weights file: \(String(cString: strerror(errno)))", context: ["file": path])
        }
        size = Int(info.st_size)
        guard size >= 8 else {
            throw SightlineError(.invalidFile, "truncated safetensors file: \(size) bytes, too short for the 8-byte header length", context: ["file": path])
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw SightlineError(.invalidFile, "cannot map the weights file: \(String(cString: strerror(errno)))", context: ["file": path])
        }
        base = mapped
        do {
            tensors = try Self.parseHeader(mapped, size: size, path: path)
        } catch {
            munmap(mapped, size)
            throw error
        }
    }

    deinit {
        if let base { munmap(base, size) }
    }

    /// The raw bytes of a tensor, valid while this object lives.
    func bytes(of entry: TensorEntry) -> UnsafeRawPointer {
        UnsafeRawPointer(base!) + entry.offset
    }

    /// Drops the resident pages that lie wholly inside a tensor whose values were copied out.
    /// The mapping is private and read-only, so the pages are simply read again if touched.
    func release(_ entry: TensorEntry) {
        release(offset: entry.offset, byteCount: entry.byteCount)
    }

    /// The same for values read in place (F32) that a converted copy has replaced.
    func release(_ pointer: UnsafeRawPointer, byteCount: Int) {
        guard let base, pointer >= UnsafeRawPointer(base), pointer + byteCount <= UnsafeRawPointer(base) + size else { return }
        release(offset: pointer - UnsafeRawPointer(base), byteCount: byteCount)
    }

    private func release(offset: Int, byteCount: Int) {
        guard let base else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset + page - 1) / page * page
        let end = (offset + byteCount) / page * page
        if end > start { madvise(base + start, end - start, MADV_DONTNEED) }
    }

    private static func parseHeader(_ base: UnsafeMutableRawPointer, size: Int, path: String) throws -> [String: TensorEntry] {
        let headerLength = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(size - 8) else {
            throw SightlineError(.invalidFile, "truncated safetensors file: the header claims \(headerLength) bytes but only \(size - 8) follow", context: ["file": path])
        }
        let dataStart = 8 + Int(headerLength)
        let headerData = Data(bytes: base + 8, count: Int(headerLength))
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: headerData)
        } catch {
            throw SightlineError(.invalidFile, "corrupt safetensors header: not valid JSON", context: ["file": path])
        }
        guard let header = json as? [String: Any] else {
            throw SightlineError(.invalidFile, "corrupt safetensors header: not a JSON object", context: ["file": path])
        }
        var tensors: [String: TensorEntry] = [:]
        for (name, value) in header where name != "__metadata__" {
            func corrupt(_ what: String) -> SightlineError {
                SightlineError(.invalidFile, "corrupt safetensors header: \(what)", context: ["file": path, "tensor": name])
            }
            guard let fields = value as? [String: Any] else { throw corrupt("the entry is not an object") }
            guard let dtypeName = fields["dtype"] as? String else { throw corrupt("no dtype") }
            guard let shapeValues = fields["shape"] as? [Any], let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 }) else {
                throw corrupt("shape is not a list of non-negative integers")
            }
            guard let offsetValues = fields["data_offsets"] as? [Any], let offsets = integers(offsetValues), offsets.count == 2,
                  offsets[0] >= 0, offsets[1] >= offsets[0]
            else {
                throw corrupt("data_offsets is not a pair of increasing non-negative integers")
            }
            guard offsets[1] <= size - dataStart else {
                throw SightlineError(
                    .invalidFile,
                    "truncated safetensors file: the tensor's data ends at byte \(dataStart + offsets[1]) but the file has \(size)",
                    context: ["file": path, "tensor": name])
            }
            let dtype = TensorDType(rawValue: dtypeName)
            // Products checked by hand, so that a hostile shape (for example [2^32, 2^32]) is a
            // clear error rather than an overflow trap or, built unchecked, a wrapped count
            // that matches the span and lets a huge shape through.
            guard let elements = Self.elementCount(shape) else {
                throw corrupt("shape \(shape) has more elements than any file can hold")
            }
            if let dtype {
                let (byteCount, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
                if overflow {
                    throw corrupt("\(elements) elements of \(dtypeName) need more bytes than any file can hold")
                }
                if byteCount != offsets[1] - offsets[0] {
                    throw corrupt("\(elements) elements of \(dtypeName) need \(byteCount) bytes, data_offsets span \(offsets[1] - offsets[0])")
                }
            }
            tensors[name] = TensorEntry(name: name, dtypeName: dtypeName, dtype: dtype, shape: shape,
                                        offset: dataStart + offsets[0], byteCount: offsets[1] - offsets[0])
        }
        return tensors
    }

    /// The product of a shape's dimensions, or nil when it does not fit in an `Int`.
    private static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            count = product
        }
        return count
    }

    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let number = value as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double == double.rounded(), abs(double) < 1e15 else { return nil }
            result.append(number.intValue)
        }
        return result
    }
}
