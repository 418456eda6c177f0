import Foundation
import SightlineCore
import SightlineMedia
import SightlineModel

extension PrecisionCheck {
    /// What the self-check encodes beside the photographs: texts about what they show, and a
    /// few about what they do not, so that the text tower is compared on both.
    public static let bundledTexts = [
        "a person riding a bike", "a horse jumping over a fence", "a soapbox car racing down a street", "a tree", "a dog",
    ]

    /// The self-check inputs built into Sightline: three real photographs (DAVIS frames,
    /// `SelfCheckImages`) and `bundledTexts`. Real pictures, not noise: a lower precision's
    /// errors show on the activations real scenes produce. Decoding blocks for a few
    /// milliseconds (GStreamer): call it where a model is loaded, off the cooperative pool.
    public static func bundled() throws -> PrecisionCheck {
        PrecisionCheck(images: try SelfCheckImages.jpegs.map(decode), texts: bundledTexts)
    }

    static func decode(_ entry: (name: String, base64: String)) throws -> RGBImage {
        let what = "the self-check photograph \(entry.name) built into Sightline"
        guard let bytes = Data(base64Encoded: entry.base64, options: .ignoreUnknownCharacters) else {
            throw SightlineError(.invalidFile, "\(what) is not valid base64 (rebuild SelfCheckImages.swift with Scripts/make-self-check-images.sh)",
                                 context: ["image": entry.name])
        }
        do {
            return try ImageFile.decode([UInt8](bytes), name: entry.name)
        } catch let error as SightlineError {
            throw SightlineError(error.code, "GStreamer cannot decode \(what): \(error.message) (is its JPEG decoder, gstreamer1.0-plugins-good, installed?)",
                                 context: error.context)
        }
    }
}
