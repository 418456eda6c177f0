import Foundation
import SightlineCore

/// Writes a safetensors file of F16 tensors: an 8-byte little-endian header length, the JSON
/// header naming each tensor's dtype, shape and byte range, then the data. For checkpoints
/// made by programs (the benchmarks' random ones, the tests' formula fixture); the daemon
/// only reads them (`SafeTensors`).
public enum SafeTensorsWriter {
    /// `values(i)` gives tensor `i`'s elements, asked in order, one tensor at a time so that
    /// a large checkpoint is never held whole.
    public static func writeF16(_ tensors: [(name: String, shape: [Int])], to path: String,
                                values: (Int) throws -> [Float16]) throws {
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var offset = 0
        for (name, shape) in tensors {
            let bytes = shape.reduce(1, *) * 2
            header[name] = ["dtype": "F16", "shape": shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
            throw SightlineError(.system, "cannot write a safetensors file", context: ["file": path])
        }
        defer { try? file.close() }
        var length = UInt64(json.count).littleEndian
        try file.write(contentsOf: Data(bytes: &length, count: 8))
        try file.write(contentsOf: json)
        for (i, tensor) in tensors.enumerated() {
            let data = try values(i)
            guard data.count == tensor.shape.reduce(1, *) else {
                throw SightlineError(.invalidArgument, "tensor \(tensor.name) has \(data.count) values for shape \(tensor.shape)")
            }
            try data.withUnsafeBytes { try file.write(contentsOf: Data($0)) }
        }
    }
}
