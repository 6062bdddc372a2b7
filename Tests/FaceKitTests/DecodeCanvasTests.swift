@testable import FaceKit
import Foundation
import XCTest

/// The bulk-indexing shortcuts must give the very pixels and floats of the
/// plain path: decoding into a reused padded canvas, and fitting a crop
/// while converting only the rows the resize reads.
final class DecodeCanvasTests: XCTestCase {
    let loader = ImageLoader()

    private func padded(_ image: Image) throws -> Image {
        try image.padded(top: image.height / 2, bottom: image.height / 2, left: image.width / 2, right: image.width / 2)
    }

    func testCanvasDecodeGivesThePixelsAndPaddingOfThePlainPath() throws {
        let canvas = try DecodeCanvas()
        // Large, small, wide, tall and the same size twice, so that each
        // image lands where the previous one left pixels to clear; a PNG
        // (copied in) and EXIF-rotated JPEG among them.
        var sources: [ImageSource] = try ["img4.jpg", "img10.jpg", "couple.jpg", "img12.jpg", "img12.jpg", "img7.jpg", "img1.jpg"]
            .map(Fixtures.image)
        sources.insert(.data(ImageFiles.png(width: 7, height: 5, colorType: 2, bitDepth: 8, pixel: [9, 8, 7]), name: "small.png"), at: 2)
        sources.insert(.data(try JPEGFixture.rotated(), name: "rotated.jpg"), at: 4)
        for source in sources {
            let plain = try loader.load(source)
            let reused = try loader.load(source, into: canvas)
            XCTAssertEqual([reused.width, reused.height], [plain.width, plain.height], source.name)
            XCTAssertEqual(try reused.bgrBytes(), try plain.bgrBytes(), source.name)
            XCTAssertEqual(try padded(reused).bgrBytes(), try padded(plain).bgrBytes(), source.name)
        }
    }

    /// An engine that keeps its canvases and runs a copy of each network
    /// per lane (the bulk commands') embeds a run of images exactly as one
    /// that takes a fresh canvas for each image and shares one copy, and as
    /// extraction from the plainly decoded image.
    func testAnEngineWithCanvasesEmbedsAsOneWithout() throws {
        let names = ["img4.jpg", "couple.jpg", "img10.jpg", "img1.jpg", "img12.jpg"]
        let sources = try names.map { try Fixtures.image($0) }
        let options = DetectionOptions(detector: .yunet)
        let plain = FaceEngine(workers: 2).embedAll(sources, models: [RecognitionModels.sface], options: options)
        let canvas = FaceEngine(workers: 2, keepDecodeCanvases: true, networksPerLane: true).embedAll(sources, models: [RecognitionModels.sface], options: options)
        for (i, (name, (a, b))) in zip(names, zip(plain, canvas)).enumerated() {
            let x = try a.get(), y = try b.get()
            let direct = try Fixtures.engine.extractFaces(from: try ImageLoader().load(sources[i]), source: name, options: options)
            XCTAssertEqual(direct.map(\.facialArea), x.faces.map(\.facialArea), name)
            XCTAssertEqual(x.faces.map(\.facialArea), y.faces.map(\.facialArea), name)
            XCTAssertEqual(x.faces.map { $0.embeddings["SFace"]! }, y.faces.map { $0.embeddings["SFace"]! }, name)
            XCTAssertFalse(x.faces.isEmpty, name)
        }
    }

    func testAnImageStillHeldKeepsItsPixelsWhenTheCanvasMovesOn() throws {
        let canvas = try DecodeCanvas()
        let first = try loader.load(try Fixtures.image("img1.jpg"), into: canvas)
        let firstPadded = try padded(first)
        let expected = try loader.load(try Fixtures.image("img1.jpg"))
        _ = try loader.load(try Fixtures.image("img2.jpg"), into: canvas)
        _ = try loader.load(try Fixtures.image("img10.jpg"), into: canvas)
        XCTAssertEqual(try first.bgrBytes(), try expected.bgrBytes())
        XCTAssertEqual(try firstPadded.bgrBytes(), try padded(expected).bgrBytes())
    }

    func testACopyOfACanvasImageIsItsOwn() throws {
        let canvas = try DecodeCanvas()
        let image = try loader.load(try Fixtures.image("img1.jpg"), into: canvas)
        let before = try image.bgrBytes()
        let annotated = try image.annotated([(FacialArea(x: 10, y: 10, w: 50, h: 50), "x")])
        XCTAssertNotEqual(try annotated.bgrBytes(), before)
        XCTAssertEqual(try image.bgrBytes(), before)
    }

    func testFittingStraightFromTheBytesGivesTheFloatsOfConvertingTheWholeCropFirst() throws {
        var generator = SystemRandomNumberGenerator()
        let sizes = [(112, 112), (336, 336), (337, 200), (1000, 700), (700, 1000), (999, 333), (450, 451), (2000, 1500),
                     (113, 400), (400, 113), (224, 224), (3, 500), (500, 3),
                     // Enlarged (taps clamped at both ends), barely changed, one pixel.
                     (50, 50), (99, 120), (120, 99), (111, 113), (5, 200), (2, 3), (1, 1)]
        let targets = [(112, 112), (224, 224), (152, 152), (47, 55)]
        for (h, w) in sizes {
            let bytes = (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let crop = try Image(bgr: bytes, width: w, height: h)
            for (tw, th) in targets {
                XCTAssertEqual(try crop.fitted(width: tw, height: th), try crop.fittedConvertingWholeCrop(width: tw, height: th),
                               "\(w)x\(h) -> \(tw)x\(th)")
            }
        }
    }
}
