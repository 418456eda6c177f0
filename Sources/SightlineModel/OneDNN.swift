import CDNNL
import SightlineCore

/// The process's oneDNN CPU engine and what its dispatcher found in the CPU. oneDNN picks its
/// kernels at run time from the instruction sets present (and `DNNL_MAX_CPU_ISA`, which caps
/// them: the tests use it to run the AVX2 kernels on a newer CPU).
final class OneDNN: @unchecked Sendable {
    static let shared = OneDNN()

    let engine: dnnl_engine_t?
    private let isa: UInt32

    private init() {
        var engine: dnnl_engine_t?
        self.engine = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? engine : nil
        isa = dnnl_get_effective_cpu_isa().rawValue
    }

    /// int8 dot products without a saturating 16-bit step: AVX512-VNNI (bit 0x40 of oneDNN's
    /// ISA masks, set in every ISA above it) or AVX-VNNI (0x400). Without them oneDNN multiplies
    /// u8 by s8 pairwise into 16 bits with saturation (`vpmaddubsw`), so the weights keep 7 bits.
    var hasInt8DotProduct: Bool { isa & 0x40 != 0 || isa & 0x400 != 0 }
    /// bf16 products in hardware (AVX512-BF16, bit 0x80, or AMX above it).
    var hasBF16: Bool { isa & 0x80 != 0 }

    /// oneDNN's name for the kernels it dispatches to.
    var isaName: String {
        switch isa {
        case 0x3e7: "avx512_core_amx"
        case 0xe7: "avx512_core_bf16"
        case 0x67: "avx512_core_vnni"
        case 0x27: "avx512_core"
        case 0x407: "avx2_vnni"
        case 0x7: "avx2"
        default: String(format: "isa 0x%x", isa)
        }
    }

    static func check(_ status: dnnl_status_t, _ what: String) throws {
        guard status == dnnl_success else {
            throw SightlineError(.system, "oneDNN could not \(what) (status \(status.rawValue))", context: ["library": "libdnnl"])
        }
    }
}

/// A matrix product `destination[M, N] = source[M, K] · weightsᵀ` with the weights [N, K] held
/// by oneDNN and M given at each call (one primitive serves every batch size).
final class OneDNNProduct: @unchecked Sendable {
    let inputs: Int
    let outputs: Int
    private let sourceType: dnnl_data_type_t
    private let destinationType: dnnl_data_type_t
    private let primitive: dnnl_primitive_t
    private let weights: dnnl_memory_t

    /// `weightBytes` holds [outputs, inputs] row-major values of `weightType`; they are copied.
    init(inputs: Int, outputs: Int, source: dnnl_data_type_t, weightType: dnnl_data_type_t, destination: dnnl_data_type_t,
         weightBytes: UnsafeRawPointer) throws {
        guard let engine = OneDNN.shared.engine else {
            throw SightlineError(.system, "oneDNN has no CPU engine", context: ["library": "libdnnl"])
        }
        self.inputs = inputs
        self.outputs = outputs
        sourceType = source
        destinationType = destination
        var sourceDesc = dnnl_memory_desc_t(), weightDesc = dnnl_memory_desc_t(), destinationDesc = dnnl_memory_desc_t()
        var sourceDims: [dnnl_dim_t] = [CDNNL_runtimeDimension, dnnl_dim_t(inputs)]
        // The weights as a K x N matrix whose columns are our rows: oneDNN's "ba" layout.
        var weightDims: [dnnl_dim_t] = [dnnl_dim_t(inputs), dnnl_dim_t(outputs)]
        var destinationDims: [dnnl_dim_t] = [CDNNL_runtimeDimension, dnnl_dim_t(outputs)]
        try OneDNN.check(dnnl_memory_desc_init_by_tag(&sourceDesc, 2, &sourceDims, source, dnnl_ab), "describe a product's input")
        try OneDNN.check(dnnl_memory_desc_init_by_tag(&weightDesc, 2, &weightDims, weightType, dnnl_ba), "describe a product's weights")
        try OneDNN.check(dnnl_memory_desc_init_by_tag(&destinationDesc, 2, &destinationDims, destination, dnnl_ab), "describe a product's output")
        var desc = dnnl_matmul_desc_t()
        try OneDNN.check(dnnl_matmul_desc_init(&desc, &sourceDesc, &weightDesc, nil, &destinationDesc), "set up a matrix product")
        var primitiveDesc: dnnl_primitive_desc_t?
        try OneDNN.check(dnnl_primitive_desc_create(&primitiveDesc, &desc, nil, engine, nil),
                         "find a matrix product for \(source) x \(weightType) on this CPU")
        defer { dnnl_primitive_desc_destroy(primitiveDesc) }
        var primitive: dnnl_primitive_t?
        try OneDNN.check(dnnl_primitive_create(&primitive, primitiveDesc), "create a matrix product")
        var weights: dnnl_memory_t?
        try OneDNN.check(dnnl_memory_create(&weights, &weightDesc, engine, CDNNL_allocate()), "allocate a product's weights")
        var handle: UnsafeMutableRawPointer?
        dnnl_memory_get_data_handle(weights, &handle)
        handle!.copyMemory(from: weightBytes, byteCount: dnnl_memory_desc_get_size(&weightDesc))
        self.primitive = primitive!
        self.weights = weights!
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_memory_destroy(weights)
    }

    /// Runs the product for `rows` rows on the calling thread alone.
    func run(rows: Int, source: UnsafeRawPointer, destination: UnsafeMutableRawPointer, stream: dnnl_stream_t) {
        guard rows > 0 else { return }
        let engine = OneDNN.shared.engine
        CDNNL_singleThreadedCaller()
        var sourceDesc = dnnl_memory_desc_t(), destinationDesc = dnnl_memory_desc_t()
        var sourceDims: [dnnl_dim_t] = [dnnl_dim_t(rows), dnnl_dim_t(inputs)]
        var destinationDims: [dnnl_dim_t] = [dnnl_dim_t(rows), dnnl_dim_t(outputs)]
        dnnl_memory_desc_init_by_tag(&sourceDesc, 2, &sourceDims, sourceType, dnnl_ab)
        dnnl_memory_desc_init_by_tag(&destinationDesc, 2, &destinationDims, destinationType, dnnl_ab)
        var sourceMemory: dnnl_memory_t?, destinationMemory: dnnl_memory_t?
        dnnl_memory_create(&sourceMemory, &sourceDesc, engine, UnsafeMutableRawPointer(mutating: source))
        dnnl_memory_create(&destinationMemory, &destinationDesc, engine, destination)
        defer {
            dnnl_memory_destroy(sourceMemory)
            dnnl_memory_destroy(destinationMemory)
        }
        var arguments = [
            dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: sourceMemory),
            dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weights),
            dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: destinationMemory),
        ]
        let status = dnnl_primitive_execute(primitive, stream, 3, &arguments)
        precondition(status == dnnl_success, "oneDNN matrix product failed (status \(status.rawValue))")
        dnnl_stream_wait(stream)
    }
}

/// A oneDNN stream for one compute thread (streams are not shared between threads).
final class OneDNNStream: @unchecked Sendable {
    let stream: dnnl_stream_t

    init() {
        var stream: dnnl_stream_t?
        let status = dnnl_stream_create(&stream, OneDNN.shared.engine, dnnl_stream_default_flags.rawValue)
        precondition(status == dnnl_success, "oneDNN could not create a stream (status \(status.rawValue))")
        self.stream = stream!
    }

    deinit { dnnl_stream_destroy(stream) }
}
