import Foundation
import SightlineCore

/// `CLIPImageProcessor`'s settings, from the checkpoint's `preprocessor_config.json` (or the
/// CLIP defaults at the model's image size when the file is absent).
struct ImageProcessorConfiguration: Sendable, Equatable {
    enum Resize: Sendable, Equatable {
        case shortestEdge(Int)
        case exact(width: Int, height: Int)
    }

    var resize: Resize?
    var filter: ResampleFilter = .bicubic
    var crop: (width: Int, height: Int)?
    var rescaleFactor: Double? = 1.0 / 255.0
    var mean: [Double]? = [0.48145466, 0.4578275, 0.40821073]
    var std: [Double]? = [0.26862954, 0.26130258, 0.27577711]

    static func == (a: Self, b: Self) -> Bool {
        a.resize == b.resize && a.filter == b.filter && a.crop?.width == b.crop?.width && a.crop?.height == b.crop?.height
            && a.rescaleFactor == b.rescaleFactor && a.mean == b.mean && a.std == b.std
    }

    static func defaults(imageSize: Int) -> Self {
        ImageProcessorConfiguration(resize: .shortestEdge(imageSize), crop: (imageSize, imageSize))
    }

    init(resize: Resize?, crop: (width: Int, height: Int)?) {
        self.resize = resize
        self.crop = crop
    }

    init(contentsOf path: String, imageSize: Int) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SightlineError(.fileNotFound, "cannot read the image processor configuration", context: ["file": path])
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw SightlineError(.invalidFile, "the image processor configuration is not a JSON object", context: ["file": path])
        }
        let reader = ConfigReader(path: path)
        self = .defaults(imageSize: imageSize)
        func flag(_ key: String) -> Bool { json[key] as? Bool ?? true }
        func size(_ key: String) throws -> [String: Int]? {
            guard let value = json[key], !(value is NSNull) else { return nil }
            if let number = value as? NSNumber { return ["shortest_edge": number.intValue, "square": number.intValue] }
            guard let dict = value as? [String: Any] else {
                throw SightlineError(.invalidFile, "\(key) must be a number or an object", context: ["file": path])
            }
            var sizes: [String: Int] = [:]
            for (name, raw) in dict where !(raw is NSNull) {
                guard let number = raw as? NSNumber, number.intValue > 0 else {
                    throw SightlineError(.invalidFile, "\(key).\(name) must be a positive integer", context: ["file": path])
                }
                sizes[name] = number.intValue
            }
            return sizes
        }
        if !flag("do_resize") {
            resize = nil
        } else if let sizes = try size("size") {
            if let edge = sizes["shortest_edge"] {
                resize = .shortestEdge(edge)
            } else if let height = sizes["height"], let width = sizes["width"] {
                resize = .exact(width: width, height: height)
            } else {
                throw SightlineError(.modelMismatch, "size needs shortest_edge or height and width", context: ["file": path])
            }
        }
        if !flag("do_center_crop") {
            crop = nil
        } else if let sizes = try size("crop_size") {
            if let square = sizes["square"] {
                crop = (square, square)
            } else if let height = sizes["height"], let width = sizes["width"] {
                crop = (width, height)
            } else {
                throw SightlineError(.modelMismatch, "crop_size needs height and width", context: ["file": path])
            }
        }
        let resample = try reader.int(json, "resample", in: "preprocessor", default: 3)
        guard let filter = ResampleFilter(rawValue: resample) else {
            throw SightlineError(.modelMismatch, "resample \(resample) is not supported (2 bilinear, 3 bicubic)", context: ["file": path])
        }
        self.filter = filter
        if flag("do_rescale") {
            guard json["rescale_factor"] == nil || json["rescale_factor"] is NSNumber else {
                throw SightlineError(.invalidFile, "rescale_factor must be a number", context: ["file": path])
            }
            rescaleFactor = (json["rescale_factor"] as? NSNumber)?.doubleValue ?? 1.0 / 255.0
        } else {
            rescaleFactor = nil
        }
        if flag("do_normalize") {
            for key in ["image_mean", "image_std"] {
                guard let value = json[key], !(value is NSNull) else { continue }
                let numbers = (value as? [NSNumber])?.map(\.doubleValue) ?? (value as? NSNumber).map { [Double](repeating: $0.doubleValue, count: 3) }
                guard let numbers, numbers.count == 3 else {
                    throw SightlineError(.invalidFile, "\(key) must be three numbers", context: ["file": path])
                }
                if key == "image_mean" { mean = numbers } else { std = numbers }
            }
            guard std!.allSatisfy({ $0 != 0 }) else {
                throw SightlineError(.invalidFile, "image_std must not contain 0", context: ["file": path])
            }
        } else {
            mean = nil
            std = nil
        }
    }
}

/// Turns 8-bit RGB frames into the model's input, exactly as the reference processor does:
/// Pillow resampling on the 8-bit image, centre crop, then a per-channel lookup that reproduces
/// numpy's `(x * rescale_factor as float64 -> float32 - mean) / std` in float32.
struct ImagePreprocessor: Sendable {
    let configuration: ImageProcessorConfiguration
    /// 3 x 256 normalised values: the whole rescale-and-normalise step for each channel and byte.
    let lookup: [Float]

    init(configuration: ImageProcessorConfiguration) {
        self.configuration = configuration
        var lookup = [Float](repeating: 0, count: 768)
        for channel in 0..<3 {
            for value in 0..<256 {
                var x = configuration.rescaleFactor.map { Float(Double(value) * $0) } ?? Float(value)
                if let mean = configuration.mean, let std = configuration.std {
                    x = (x - Float(mean[channel])) / Float(std[channel])
                }
                lookup[channel * 256 + value] = x
            }
        }
        self.lookup = lookup
    }

    /// The size `standard` produces for an image of the given size.
    func outputSize(width: Int, height: Int) -> (width: Int, height: Int) {
        if let crop = configuration.crop { return crop }
        return resizedSize(width: width, height: height)
    }

    func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        switch configuration.resize {
        case nil:
            return (width, height)
        case .exact(let w, let h):
            return (w, h)
        case .shortestEdge(let edge):
            // transformers' get_resize_output_image_size: the long side is truncated, not rounded.
            let short = min(width, height), long = max(width, height)
            let newLong = Int(Double(edge * long) / Double(short))
            return width <= height ? (edge, newLong) : (newLong, edge)
        }
    }

    /// Resize and centre crop: the `CLIPImageProcessor` path.
    func standard(_ image: RGBImage) -> RGBImage {
        let size = resizedSize(width: image.width, height: image.height)
        let resized = ImageResampler.resize(image, width: size.width, height: size.height, filter: configuration.filter)
        guard let crop = configuration.crop else { return resized }
        return Self.centerCrop(resized, width: crop.width, height: crop.height)
    }

    /// Full-frame mode: no crop; the frame is resized so both sides are multiples of the patch
    /// size, the short side near `shortSide`, keeping the aspect ratio as closely as that allows.
    func fullFrame(_ image: RGBImage, shortSide: Int, patchSize: Int) -> RGBImage {
        let size = Self.fullFrameSize(width: image.width, height: image.height, shortSide: shortSide, patchSize: patchSize)
        return ImageResampler.resize(image, width: size.width, height: size.height, filter: configuration.filter)
    }

    static func fullFrameSize(width: Int, height: Int, shortSide: Int, patchSize: Int) -> (width: Int, height: Int) {
        let short = Double(min(width, height)), long = Double(max(width, height))
        let p = Double(patchSize)
        let newShort = max(patchSize, Int((Double(shortSide) / p + 0.5).rounded(.down)) * patchSize)
        let newLong = max(patchSize, Int((long * Double(shortSide) / short / p + 0.5).rounded(.down)) * patchSize)
        return width >= height ? (newLong, newShort) : (newShort, newLong)
    }

    /// transformers' center_crop: the offset rounds down (Python's `//`), and where the image is
    /// smaller than the crop the missing pixels are zeros.
    static func centerCrop(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        if image.width == width && image.height == height { return image }
        let x0 = floorDiv(image.width - width, 2), y0 = floorDiv(image.height - height, 2)
        var output = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let sy = y0 + y
            guard sy >= 0, sy < image.height else { continue }
            for x in 0..<width {
                let sx = x0 + x
                guard sx >= 0, sx < image.width else { continue }
                let s = (sy * image.width + sx) * 3, d = (y * width + x) * 3
                output[d] = image.pixels[s]
                output[d + 1] = image.pixels[s + 1]
                output[d + 2] = image.pixels[s + 2]
            }
        }
        return ImageResampler.makeImage(width: width, height: height, pixels: output)
    }

    private static func floorDiv(_ a: Int, _ b: Int) -> Int {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
