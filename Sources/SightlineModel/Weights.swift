import SightlineCore

#if canImport(Glibc)
import Glibc
#endif

/// An owned, 64-byte aligned run of floats: converted weights and scratch buffers.
///
/// Large buffers are mapped straight from the kernel rather than taken from malloc, whose
/// adaptive threshold would otherwise keep a released model's pages in the process for good.
final class FloatBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    private let mappedBytes: Int

    private static let mapThreshold = 1 << 20

    init(count: Int) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if bytes >= Self.mapThreshold,
           let mapping = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mapping != MAP_FAILED {
            mappedBytes = bytes
            pointer = mapping.bindMemory(to: Float.self, capacity: max(count, 1))
        } else {
            mappedBytes = 0
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        }
    }

    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        if mappedBytes > 0 {
            munmap(UnsafeMutableRawPointer(pointer), mappedBytes)
        } else {
            UnsafeMutableRawPointer(pointer).deallocate()
        }
    }
}

/// Read-only F32 values that live either in the memory-mapped checkpoint (F32 tensors, used in
/// place) or in a buffer converted once at load (F16, BF16). `owner` keeps the storage alive.
struct Weights: @unchecked Sendable {
    let pointer: UnsafePointer<Float>
    let count: Int
    let owner: AnyObject

    init(_ buffer: FloatBuffer) {
        pointer = UnsafePointer(buffer.pointer)
        count = buffer.count
        owner = buffer
    }

    init(pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
    }

    /// Hands back the checkpoint pages these values are read from in place, once a converted
    /// copy replaces them (a no-op for values in a buffer of their own, freed with it).
    func releaseMappedPages() {
        (owner as? SafeTensorsFile)?.release(UnsafeRawPointer(pointer), byteCount: count * MemoryLayout<Float>.stride)
    }
}

/// A table read one row at a time (the token embedding), kept in the checkpoint's own dtype
/// so a 49408-row F16 table is not doubled in memory.
struct EmbeddingTable: @unchecked Sendable {
    let base: UnsafeRawPointer
    let dtype: TensorDType
    let rows: Int
    let columns: Int
    let owner: AnyObject

    func copyRow(_ row: Int, to destination: UnsafeMutablePointer<Float>) {
        let start = row * columns
        switch dtype {
        case .f32:
            let source = base + start * 4
            for i in 0..<columns { destination[i] = source.loadUnaligned(fromByteOffset: i * 4, as: Float.self) }
        case .f16:
            let source = base + start * 2
            for i in 0..<columns { destination[i] = Float(source.loadUnaligned(fromByteOffset: i * 2, as: Float16.self)) }
        default:
            let source = base + start * 2
            for i in 0..<columns {
                destination[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16)
            }
        }
    }
}

/// Reads the tensors the engine expects from a checkpoint, checking each one's presence, dtype
/// and shape, and naming the file and the tensor in every error.
struct WeightReader {
    let file: SafeTensorsFile

    func entry(_ name: String, shape: [Int]) throws -> TensorEntry {
        guard let entry = file.tensors[name] else {
            throw SightlineError(.modelMismatch, "the checkpoint has no tensor \(name)", context: ["file": file.path, "tensor": name])
        }
        guard let dtype = entry.dtype, dtype.isReadable else {
            // Unknown dtype names are kept as written so the message shows what the file says.
            throw SightlineError(
                .modelMismatch, "tensor \(name) has dtype \(entry.dtypeName); Sightline reads F32, F16 and BF16",
                context: ["file": file.path, "tensor": name, "dtype": entry.dtypeName])
        }
        guard entry.shape == shape else {
            throw SightlineError(
                .modelMismatch, "tensor \(name) has shape \(entry.shape), the configuration needs \(shape)",
                context: ["file": file.path, "tensor": name])
        }
        return entry
    }

    /// The tensor as F32: in place when the file holds aligned F32, converted once otherwise.
    func weights(_ name: String, shape: [Int]) throws -> Weights {
        let entry = try entry(name, shape: shape)
        let count = shape.reduce(1, *)
        let bytes = file.bytes(of: entry)
        if entry.dtype == .f32, Int(bitPattern: bytes) % MemoryLayout<Float>.alignment == 0 {
            return Weights(pointer: bytes.assumingMemoryBound(to: Float.self), count: count, owner: file)
        }
        let buffer = FloatBuffer(count: count)
        Self.convert(bytes, dtype: entry.dtype!, count: count, into: buffer.pointer)
        // The converted copy replaces the mapped bytes: do not hold both.
        file.release(entry)
        return Weights(buffer)
    }

    /// Several tensors stacked row-wise into one converted buffer (q, k and v into one matrix).
    func stacked(_ names: [String], shape: [Int]) throws -> Weights {
        let count = shape.reduce(1, *)
        let buffer = FloatBuffer(count: count * names.count)
        for (i, name) in names.enumerated() {
            let entry = try entry(name, shape: shape)
            Self.convert(file.bytes(of: entry), dtype: entry.dtype!, count: count, into: buffer.pointer + i * count)
            // The copy replaces the mapped bytes: hand their pages back so they are not held twice.
            file.release(entry)
        }
        return Weights(buffer)
    }

    func table(_ name: String, rows: Int, columns: Int) throws -> EmbeddingTable {
        let entry = try entry(name, shape: [rows, columns])
        return EmbeddingTable(base: file.bytes(of: entry), dtype: entry.dtype!, rows: rows, columns: columns, owner: file)
    }

    /// A one-element tensor; older exports store such scalars with shape [1].
    func scalar(_ name: String) throws -> Float {
        let shape = file.tensors[name]?.shape == [1] ? [1] : []
        let value = try weights(name, shape: shape)
        return withExtendedLifetime(value) { value.pointer[0] }
    }

    static func convert(_ source: UnsafeRawPointer, dtype: TensorDType, count: Int, into destination: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            for i in 0..<count { destination[i] = source.loadUnaligned(fromByteOffset: i * 4, as: Float.self) }
        case .f16:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: i * 2, as: Float16.self)) }
        case .bf16:
            for i in 0..<count {
                destination[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16)
            }
        default:
            preconditionFailure("convert called for unreadable dtype \(dtype)")
        }
    }
}
