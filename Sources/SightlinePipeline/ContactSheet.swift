import SightlineCore
import SightlineGrounding

/// One picture summing up a query: thumbnails of its matches in time order, each captioned.
public enum ContactSheet {
    public static let background = Colour(32, 32, 36)

    /// Lays `tiles` out in rows of `columns`, each scaled to `tileWidth` pixels wide, under a
    /// title line; with no tiles, a sheet that says `empty`.
    public static func make(title: String, tiles: [(image: RGBImage, caption: String)], columns: Int = 4,
                            tileWidth: Int = 240, empty: String = "no matches") -> RGBImage {
        let gap = 8
        let titleScale = 2
        let titleHeight = BitmapFont.lineHeight * titleScale + 2 * gap
        let captionHeight = BitmapFont.lineHeight + 4
        let tileHeight = tiles.map { Int((Double($0.image.height) * Double(tileWidth) / Double($0.image.width)).rounded()) }.max() ?? 0
        let cols = max(1, min(columns, tiles.count))
        let rows = (tiles.count + cols - 1) / cols
        let titleWidth = BitmapFont.width(of: title, scale: titleScale) + 2 * gap
        let width = max(titleWidth, cols * tileWidth + (cols + 1) * gap, BitmapFont.width(of: empty, scale: titleScale) + 2 * gap)
        let height = titleHeight + (tiles.isEmpty ? titleHeight : rows * (tileHeight + captionHeight + gap) + gap)
        var sheet = RGBImage(width: width, height: height)
        sheet.fill(PixelBox(x: 0, y: 0, width: width, height: height), background)
        sheet.text(title, x: gap - titleScale, y: gap - titleScale, scale: titleScale, .white)
        if tiles.isEmpty {
            sheet.text(empty, x: gap - titleScale, y: titleHeight, scale: titleScale, Colour(160, 160, 160))
            return sheet
        }
        for (i, tile) in tiles.enumerated() {
            let h = max(1, Int((Double(tile.image.height) * Double(tileWidth) / Double(tile.image.width)).rounded()))
            let thumb = tile.image.resized(width: tileWidth, height: h)
            let x0 = gap + (i % cols) * (tileWidth + gap)
            let y0 = titleHeight + (i / cols) * (tileHeight + captionHeight + gap)
            for y in 0..<thumb.height {
                let src = y * thumb.width * 3
                let dst = ((y0 + y) * width + x0) * 3
                sheet.pixels.replaceSubrange(dst..<(dst + thumb.width * 3), with: thumb.pixels[src..<(src + thumb.width * 3)])
            }
            // Captions are cut to the tile's width.
            let fit = max(0, (tileWidth + 1) / BitmapFont.advance)
            sheet.text(String(tile.caption.prefix(fit)), x: x0 - 1, y: y0 + tileHeight + 1, scale: 1, Colour(220, 220, 220))
        }
        return sheet
    }
}
