import FaceKit
import Foundation
import XCTest

final class ImageDecodingTests: XCTestCase {
    let loader = ImageLoader()

    func testDatasetJPEGDecodes() throws {
        let image = try loader.load(try Fixtures.image("img1.jpg"))
        XCTAssertGreaterThan(image.width, 100)
        XCTAssertGreaterThan(image.height, 100)
    }

    func testGreyscale16BitAndAlphaPNGsBecomeBGR() throws {
        let grey = ImageFiles.png(width: 4, height: 3, colorType: 0, bitDepth: 8, pixel: [200])
        let g = try loader.decode(grey, name: "grey.png")
        XCTAssertEqual([g.width, g.height], [4, 3])
        XCTAssertEqual(Array(try g.bgrBytes().prefix(3)), [200, 200, 200])

        // 16-bit RGB: 0xFF00 red, 0x8000 green, 0x0000 blue -> 8-bit (255, 128, 0)
        let deep = ImageFiles.png(width: 2, height: 2, colorType: 2, bitDepth: 16, pixel: [0xFF, 0x00, 0x80, 0x00, 0x00, 0x00])
        let d = try loader.decode(deep, name: "deep.png")
        XCTAssertEqual(Array(try d.bgrBytes().prefix(3)), [0, 128, 255])

        let rgba = ImageFiles.png(width: 2, height: 2, colorType: 6, bitDepth: 8, pixel: [10, 20, 30, 40])
        let r = try loader.decode(rgba, name: "rgba.png")
        XCTAssertEqual(Array(try r.bgrBytes().prefix(3)), [30, 20, 10])
    }

    func testBase64WithAndWithoutDataPrefix() throws {
        let png = ImageFiles.png(width: 3, height: 2, colorType: 2, bitDepth: 8, pixel: [1, 2, 3])
        let plain = try loader.load(.base64(png.base64EncodedString()))
        let prefixed = try loader.load(.base64("data:image/png;base64," + png.base64EncodedString()))
        XCTAssertEqual([plain.width, plain.height], [3, 2])
        XCTAssertEqual(try plain.bgrBytes(), try prefixed.bgrBytes())
        XCTAssertEqual(ImageSource(argument: "data:image/png;base64,AAAA"), .base64("data:image/png;base64,AAAA"))
    }

    func testBadBase64IsAnInputError() {
        XCTAssertThrowsError(try loader.load(.base64("data:image/png;base64,@@@@"))) { error in
            XCTAssertEqual((error as? FaceKitError)?.category, .input, "\(error)")
        }
    }

    func testExifOrientationIsApplied() throws {
        // A 2x1 JPEG whose EXIF says "rotate 90 degrees clockwise" decodes as 1x2.
        let jpeg = try JPEGFixture.rotated()
        let image = try loader.decode(jpeg, name: "rotated.jpg")
        XCTAssertEqual([image.width, image.height], [JPEGFixture.height, JPEGFixture.width])
    }

    func testEmptyTruncatedAndNonImageInputsAreTypedErrors() throws {
        func expectUnreadable(_ data: Data, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try loader.decode(data, name: name), file: file, line: line) { error in
                guard case FaceKitError.imageUnreadable(let source, _) = error else {
                    return XCTFail("\(error)", file: file, line: line)
                }
                XCTAssertEqual(source, name, file: file, line: line)
            }
        }
        expectUnreadable(Data(), "empty.jpg")
        expectUnreadable(Data("hello, not an image".utf8), "text.jpg")
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.image("img1.jpg").name))
        expectUnreadable(jpeg.prefix(jpeg.count / 2), "half.jpg")
        let png = ImageFiles.png(width: 50, height: 50, colorType: 2, bitDepth: 8, pixel: [1, 2, 3])
        expectUnreadable(png.prefix(png.count - 20), "cut.png")
    }

    func testMissingFileIsNotFound() {
        XCTAssertThrowsError(try loader.load(.path("/no/such/image.jpg"))) { error in
            XCTAssertEqual(error as? FaceKitError, .imageNotFound(path: "/no/such/image.jpg"))
        }
    }

    func testDecompressionBombIsRefusedBeforeDecoding() throws {
        let bomb = ImageFiles.bomb(side: 30000)
        XCTAssertLessThan(bomb.count, 10_000_000)
        XCTAssertThrowsError(try loader.decode(bomb, name: "bomb.png")) { error in
            guard case FaceKitError.imageTooLarge(_, let w, let h, let limit) = error else { return XCTFail("\(error)") }
            XCTAssertEqual([w, h], [30000, 30000])
            XCTAssertEqual(limit, ImageLoader.defaultMaxPixels)
        }
        // A lower limit applies to ordinary images too.
        XCTAssertThrowsError(try ImageLoader(maxPixels: 1000).load(try Fixtures.image("img1.jpg")))
    }
}

/// A tiny JPEG made by the bridge, with an EXIF APP1 segment spliced in.
enum JPEGFixture {
    static let width = 16, height = 8

    static func rotated() throws -> Data {
        let pixels = [UInt8](repeating: 128, count: width * height * 3)
        let image = try Image(bgr: pixels, width: width, height: height)
        let path = Fixtures.temporaryDirectory.appendingPathComponent("plain.jpg").path
        try image.write(to: path)
        var jpeg = try Data(contentsOf: URL(fileURLWithPath: path))
        // EXIF: big-endian TIFF with one IFD entry, Orientation (0x0112) = 6.
        var tiff = Data([0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01])
        tiff += Data([0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00])
        tiff += Data([0x00, 0x00, 0x00, 0x00])
        let payload = Data("Exif".utf8) + Data([0, 0]) + tiff
        let length = UInt16(payload.count + 2)
        let app1 = Data([0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)]) + payload
        jpeg.insert(contentsOf: app1, at: 2)
        return jpeg
    }
}
