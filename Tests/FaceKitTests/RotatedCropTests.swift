@testable import FaceKit
import Foundation
import XCTest

/// deepface's eye-levelling crop computes only the box's pixels of the
/// rotated margin image; they must be the pixels warpAffine gives over the
/// whole width.
final class RotatedCropTests: XCTestCase {
    /// A face box inside, across or beyond the image's edges, and eyes a
    /// third of its width apart at a random angle.
    private func randomBox(in image: Image, sides: ClosedRange<Int>, angles: ClosedRange<Double>,
                           using generator: inout SystemRandomNumberGenerator)
        -> (x: Int, y: Int, w: Int, h: Int, left: Point, right: Point, angle: Double)
    {
        let w = Int.random(in: sides.lowerBound...min(sides.upperBound, image.width), using: &generator)
        let h = Int.random(in: sides.lowerBound...min(sides.upperBound, image.height), using: &generator)
        let x = Int.random(in: -w / 2...(image.width - w / 2), using: &generator)
        let y = Int.random(in: -h / 2...(image.height - h / 2), using: &generator)
        let angle = Double.random(in: angles, using: &generator)
        let right = Point(x: Double(x) + Double(w) / 3, y: Double(y) + Double(h) / 3)
        let left = Point(x: right.x + Double(w) / 3 * cos(angle), y: right.y + Double(w) / 3 * sin(angle))
        return (x, y, w, h, left, right, angle)
    }

    func testTheBoxAloneIsRotatedAsTheWholeWidthIs() throws {
        var generator = SystemRandomNumberGenerator()
        for name in ["img1.jpg", "couple.jpg"] {
            let image = try ImageLoader().load(try Fixtures.image(name))
            for _ in 0..<60 {
                let (x, y, w, h, left, right, angle) = randomBox(in: image, sides: 1...600, angles: -1.2...1.2, using: &generator)
                let crop = try image.deepfaceCrop(x: x, y: y, w: w, h: h, align: true, leftEye: left, rightEye: right)
                let reference = try image.deepfaceCropRotatingWholeWidth(x: x, y: y, w: w, h: h, leftEye: left, rightEye: right)
                let what = "\(name) box \(x),\(y) \(w)x\(h) angle \(angle)"
                XCTAssertEqual([crop.width, crop.height], [reference.width, reference.height], what)
                if !reference.isEmpty { XCTAssertEqual(try crop.bgrBytes(), try reference.bgrBytes(), what) }
            }
        }
    }

    /// Without eyes deepface cuts the box from the margin sub-image as it
    /// is: the crop is a copy, and keeps its pixels once the image is gone
    /// and its memory reused.
    func testACropWithoutEyesOutlivesItsImage() throws {
        let source = try Fixtures.image("img1.jpg")
        var crops: [Image] = []
        do {
            let image = try ImageLoader().load(source)
            for (x, y) in [(300, 200), (0, 0), (image.width - 150, image.height - 150)] {
                crops.append(try image.deepfaceCrop(x: x, y: y, w: 200, h: 220, align: true, leftEye: nil, rightEye: nil))
            }
        }
        var others: [Image] = []
        for name in ["couple.jpg", "img2.jpg", "img1.jpg"] { others.append(try ImageLoader().load(try Fixtures.image(name))) }
        let image = try ImageLoader().load(source)
        for (crop, (x, y)) in zip(crops, [(300, 200), (0, 0), (image.width - 150, image.height - 150)]) {
            let fresh = try image.deepfaceCrop(x: x, y: y, w: 200, h: 220, align: true, leftEye: nil, rightEye: nil)
            XCTAssertFalse(fresh.isEmpty)
            XCTAssertTrue(try crop.bgrBytes() == fresh.bgrBytes(), "box at \(x),\(y): the crop's pixels changed")
        }
        XCTAssertEqual(others.count, 3)
    }

    /// A crop cut only for fitting to some model sizes computes only the
    /// pixels those resizes read: fitted to each size, it gives the floats of
    /// the whole crop, and it refuses any other use.
    func testACropCutForItsFitsFitsAsTheWholeCropDoes() throws {
        var generator = SystemRandomNumberGenerator()
        let image = try ImageLoader().load(try Fixtures.image("couple.jpg"))
        let sizeSets: [[FitSize]] = [[(112, 112)], [(224, 224), (160, 160), (112, 112)], [(47, 55)], [(152, 152), (150, 150)]]
        var partial = 0
        for round in 0..<40 {
            let (x, y, w, h, left, right, angle) = randomBox(in: image, sides: 20...1200, angles: -0.8...0.8, using: &generator)
            let fits = sizeSets[round % sizeSets.count]
            let whole = try image.deepfaceCrop(x: x, y: y, w: w, h: h, align: true, leftEye: left, rightEye: right)
            let cut = try image.deepfaceCrop(x: x, y: y, w: w, h: h, align: true, leftEye: left, rightEye: right, fits: fits)
            let what = "box \(x),\(y) \(w)x\(h) angle \(angle)"
            XCTAssertEqual([cut.width, cut.height], [whole.width, whole.height], what)
            if whole.isEmpty { continue }
            for size in fits {
                XCTAssertEqual(try cut.fitted(width: size.width, height: size.height),
                               try whole.fitted(width: size.width, height: size.height), "\(what) -> \(size)")
            }
            // Only a crop at least 3x its fit is cut; it refuses other uses.
            if (try? cut.bgrBytes()) == nil {
                partial += 1
                XCTAssertThrowsError(try cut.fitted(width: 96, height: 96), what)
                XCTAssertThrowsError(try cut.fitted(width: fits[0].width, height: fits[0].height, fromBytes: true), what)
            } else {
                XCTAssertEqual(try cut.bgrBytes(), try whole.bgrBytes(), what)
            }
        }
        XCTAssertGreaterThan(partial, 5, "boxes large enough to be cut")
    }
}
