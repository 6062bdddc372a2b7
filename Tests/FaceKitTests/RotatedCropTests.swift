@testable import FaceKit
import Foundation
import XCTest

/// deepface's eye-levelling crop computes only the box's pixels of the
/// rotated margin image; they must be the pixels warpAffine gives over the
/// whole width.
final class RotatedCropTests: XCTestCase {
    func testTheBoxAloneIsRotatedAsTheWholeWidthIs() throws {
        var generator = SystemRandomNumberGenerator()
        for name in ["img1.jpg", "couple.jpg"] {
            let image = try ImageLoader().load(try Fixtures.image(name))
            for _ in 0..<60 {
                let w = Int.random(in: 1...min(600, image.width), using: &generator)
                let h = Int.random(in: 1...min(600, image.height), using: &generator)
                // Boxes inside, across and beyond the edges.
                let x = Int.random(in: -w / 2...(image.width - w / 2), using: &generator)
                let y = Int.random(in: -h / 2...(image.height - h / 2), using: &generator)
                let angle = Double.random(in: -1.2...1.2, using: &generator)
                let dx = Double(w) / 3 * cos(angle), dy = Double(w) / 3 * sin(angle)
                let right = Point(x: Double(x) + Double(w) / 3, y: Double(y) + Double(h) / 3)
                let left = Point(x: right.x + dx, y: right.y + dy)
                let crop = try image.deepfaceCrop(x: x, y: y, w: w, h: h, align: true, leftEye: left, rightEye: right)
                let reference = try image.deepfaceCropRotatingWholeWidth(x: x, y: y, w: w, h: h, leftEye: left, rightEye: right)
                let what = "\(name) box \(x),\(y) \(w)x\(h) angle \(angle)"
                XCTAssertEqual([crop.width, crop.height], [reference.width, reference.height], what)
                if !reference.isEmpty { XCTAssertEqual(try crop.bgrBytes(), try reference.bgrBytes(), what) }
            }
        }
    }
}
