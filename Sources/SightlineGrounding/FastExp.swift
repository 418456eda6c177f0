/// `e^x` to about 1e-5 relative error, written with arithmetic and wrapping integer
/// operations only so that loops over arrays vectorise (no call to `floor`); used where a
/// softmax weights neighbours and millions of exponentials are taken per frame.
@inline(__always)
func fastExp(_ x: Float) -> Float {
    let t = max(x, -87) * 1.442_695_04
    // Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low bits.
    let shifted = t + 12_582_912
    let whole = shifted - 12_582_912
    let f = t - whole
    // 2^f on [-0.5, 0.5]: its Taylor series to degree 5.
    let p = 1 + f * (0.693_147_18 + f * (0.240_226_51 + f * (0.055_504_11 + f * (0.009_618_13 + f * 0.001_333_36))))
    let integer = shifted.bitPattern &- 0x4B40_0000
    return p * Float(bitPattern: (integer &+ 127) &<< 23)
}
