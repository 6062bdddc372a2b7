import CFaceKitNative
@testable import FaceKit
import Foundation
import XCTest

/// YuNet runs on a few canvas sizes (640 x 640, and 640 x 480 and 480 x 640
/// for the 4:3 and 3:2 photos most images are). A photo on a smaller canvas
/// must find what OpenCV's importer finds at the photo's own padded size, as
/// deepface runs the network; the smaller canvases work in the 640 x 640
/// one's activation memory, so the images alternate between canvases here.
final class YuNetCanvasTests: XCTestCase {
    func testEachCanvasFindsWhatOpenCVFindsAtThePaddedSize() throws {
        let onnx = try Fixtures.engine.store.require(DetectorBackend.yunet.files[0], for: "yunet")
        let graphs = try FaceDetector(backend: .yunet, paths: [onnx])
        setenv("FACEKIT_ENGINE", "opencv", 1)
        let reference = Result { try FaceDetector(backend: .yunet, paths: [onnx]) }
        unsetenv("FACEKIT_ENGINE")
        let opencv = try reference.get()
        // canvas 1 (640 x 480): img2 exactly, couple at 640 x 448; canvas 2
        // (480 x 640): img3 exactly, img7 at 448 x 640; canvas 0: img18, selfie.
        var found = 0
        for name in ["img2.jpg", "img18.jpg", "couple.jpg", "img3.jpg", "selfie-many-people.jpg", "img7.jpg", "img2.jpg"] {
            let image = try ImageLoader().load(try Fixtures.image(name))
            let a = try graphs.detect(image), b = try opencv.detect(image)
            XCTAssertEqual(a.count, b.count, name)
            for (x, y) in zip(a, b) {
                for (u, v) in [(x.x, y.x), (x.y, y.y), (x.w, y.w), (x.h, y.h)] { XCTAssertEqual(u, v, accuracy: 1, name) }
                XCTAssertEqual(x.confidence, y.confidence, accuracy: 1e-4, name)
                XCTAssertEqual(Set(x.landmarks.keys), Set(y.landmarks.keys), name)
                for (slot, p) in x.landmarks {
                    XCTAssertEqual(p.x, y.landmarks[slot]!.x, accuracy: 1, name)
                    XCTAssertEqual(p.y, y.landmarks[slot]!.y, accuracy: 1, name)
                }
            }
            found += a.count
        }
        XCTAssertGreaterThanOrEqual(found, 10)
    }

    /// A graph at a smaller input runs in a larger one's activations when
    /// each of its blocks fits, and gives the outputs it gives in its own;
    /// the larger one cannot borrow from the smaller.
    func testASmallerGraphBorrowsALargerOnesActivations() throws {
        let onnx = try Fixtures.engine.store.require(DetectorBackend.yunet.files[0], for: "yunet")
        func graph(_ height: Int64, _ width: Int64) throws -> OpaquePointer {
            let shape: [Int64] = [1, 3, height, width]
            var nhwc: Int32 = 0
            return try Native.make { out, err in fk_graph_from_onnx_resized(onnx, shape, 4, nil, out, &nhwc, err) }
        }
        let large = try graph(640, 640), own = try graph(480, 640), borrowing = try graph(480, 640)
        defer { [own, borrowing, large].forEach { fk_graph_free($0) } }
        XCTAssertEqual(fk_graph_borrow_activations(large, own), 0)
        XCTAssertEqual(fk_graph_borrow_activations(borrowing, large), 1)
        var generator = SystemRandomNumberGenerator()
        let small = (0..<(480 * 640 * 3)).map { _ in Float(UInt8.random(in: 0...255, using: &generator)) }
        let big = (0..<(640 * 640 * 3)).map { _ in Float(UInt8.random(in: 0...255, using: &generator)) }
        func forward(_ g: OpaquePointer, _ input: [Float], floats: Int) throws -> [Float] {
            var out = [Float](repeating: 0, count: floats)
            var written = 0
            try Native.check { err in fk_graph_forward(g, input, 1, &out, out.count, &written, err) }
            return out
        }
        let floats = [8, 16, 32].map { (640 / $0) * (480 / $0) * 16 }.reduce(0, +)
        let expected = try forward(own, small, floats: floats)
        for _ in 0..<2 {
            _ = try forward(large, big, floats: [8, 16, 32].map { (640 / $0) * (640 / $0) * 16 }.reduce(0, +))
            XCTAssertEqual(try forward(borrowing, small, floats: floats), expected)
        }
    }
}
