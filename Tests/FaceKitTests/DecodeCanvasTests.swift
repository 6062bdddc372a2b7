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

    /// Progressive JPEGs keep their coefficients in the canvas's memory,
    /// reused from one image to the next and zeroed again: a large photo, then
    /// smaller ones and a baseline JPEG over what it left, decode as alone.
    /// Every coefficient a scan leaves at zero must read zero, or the pixels
    /// show the previous image.
    func testProgressiveJPEGsThroughOneCanvasDecodeAsAlone() throws {
        let canvas = try DecodeCanvas()
        for name in ["img49.jpg", "img2.jpg", "img22.jpg", "img10.jpg", "img12.jpg", "img40.jpg", "img61.jpg", "img49.jpg"] {
            let source = try Fixtures.image(name)
            let plain = try loader.load(source)
            let reused = try loader.load(source, into: canvas)
            XCTAssertEqual([reused.width, reused.height], [plain.width, plain.height], name)
            XCTAssertTrue(try reused.bgrBytes() == plain.bgrBytes(), "\(name): the pixels differ from a plain decode")
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

    /// A canvas image padded by deepface's border is virtual (the border is
    /// never written); resizing it as YuNet does (to at most 640 a side,
    /// among other sizes) from its interior gives the bytes of cv::resize on
    /// the whole padded image.
    func testResizingAVirtuallyPaddedImageGivesTheBytesOfResizingThePaddedPixels() throws {
        var generator = SystemRandomNumberGenerator()
        let canvas = try DecodeCanvas()
        var checked = 0
        // Photos, and noise (where OpenCV's two roundings, vector and scalar,
        // part more often than on smooth photos).
        var sources = try ["img1.jpg", "couple.jpg", "img10.jpg", "img12.jpg", "img41.jpg", "img38.jpg"].map { try Fixtures.image($0) }
        for (w, h) in [(1201, 799), (640, 1100), (333, 1917)] {
            let bytes = (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let path = Fixtures.temporaryDirectory.appendingPathComponent("noise-\(w)x\(h).png").path
            try Image(bgr: bytes, width: w, height: h).write(to: path)
            sources.append(.path(path))
        }
        for source in sources {
            let name = source.name
            let virtual = try padded(try loader.load(source, into: canvas))
            let whole = try padded(try loader.load(source))
            XCTAssertEqual([virtual.width, virtual.height], [whole.width, whole.height], name)
            let r = 640.0 / Double(max(whole.width, whole.height))
            var sizes = [(Int(Double(whole.width) * r), Int(Double(whole.height) * r)), (whole.width / 2, whole.height / 2),
                         (whole.width / 2 + 1, whole.height / 3), (whole.width * 2 / 3, whole.height * 3 / 4), (97, 61),
                         // Narrow outputs: a row shorter than OpenCV's vectors.
                         (1, whole.height / 3), (2, whole.height / 2), (5, whole.height / 2 + 1), (8, whole.height * 2 / 3)]
            // Many more on noise: where the vector loops stop depends on the width.
            for _ in 0..<(name.hasSuffix(".png") ? 40 : 4) {
                sizes.append((Int.random(in: 8...whole.width, using: &generator), Int.random(in: 8...whole.height, using: &generator)))
            }
            for (w, h) in sizes {
                XCTAssertEqual(try virtual.resizedBytes(width: w, height: h, gray: false),
                               try whole.resizedBytes(width: w, height: h, gray: false), "\(name) -> \(w)x\(h)")
                checked += 1
            }
            XCTAssertEqual(try virtual.bgrBytes(), try whole.bgrBytes(), name)
        }
        XCTAssertEqual(checked, 225)
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
