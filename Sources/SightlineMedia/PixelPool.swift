/// Reuses frame pixel arrays so that a stream running for a day allocates no more than one
/// running for a minute.
///
/// The pool keeps a reference to each array it hands out. When its turn comes round again
/// and the consumer has let go of it, the pool holds the only reference and the next frame is
/// written in place. If the consumer still holds it, writing would copy (value semantics keep
/// the consumer's frame intact), so the pool counts an allocation and grows by one slot,
/// up to `capacity`. In steady state the pool has as many slots as frames the consumer keeps
/// alive at once, and allocates nothing.
struct PixelPool {
    let capacity: Int
    private var slots: [[UInt8]] = []
    private var next = 0
    /// Arrays created (new slots, size changes, and writes that had to copy).
    private(set) var allocations = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// An array of `count` bytes for the next frame; its previous contents are undefined.
    mutating func take(count: Int) -> [UInt8] {
        if slots.isEmpty { slots.append([]) }
        // Move the array out of its slot so that, if the consumer let go, it is unique here.
        var pixels = slots[next]
        slots[next] = []
        if pixels.count != count {
            pixels = [UInt8](repeating: 0, count: count)
            allocations += 1
            return pixels
        }
        let before = pixels.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        // A write access makes the array unique: a no-op if it already is, a copy if not.
        let after = pixels.withUnsafeMutableBufferPointer { UnsafeRawPointer($0.baseAddress) }
        if before != after {
            allocations += 1
            // The consumer keeps more frames alive than the ring has slots: add one.
            if slots.count < capacity { slots.insert([], at: next + 1) }
        }
        return pixels
    }

    /// Called with the array `take` returned, once the frame is made, so the pool keeps a
    /// reference for reuse.
    mutating func keep(_ pixels: [UInt8]) {
        slots[next] = pixels
        next = (next + 1) % slots.count
    }
}
