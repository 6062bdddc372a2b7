@testable import FaceKit
import Foundation
import XCTest

/// The merge that lets deepface's VGG-Face heads share their trunk, checked
/// on fer's real model: a model merged with itself shares every layer, and a
/// copy whose last weighted layer differs shares everything before it, with
/// each output still its own model's.
final class AnalysisMergeTests: XCTestCase {
    func faceInput() throws -> [Float] {
        let face = try Fixtures.engine.extractFaces(try Fixtures.image("img1.jpg"), options: .init(detector: .yunet))[0].face
        return try face.resizedBytes(width: 64, height: 64, gray: true).map { (Float($0) / 255 - 0.5) * 2 }
    }

    func testMergedModelsShareTheirCommonLayersAndKeepTheirOwnOutputs() throws {
        let path = try ModelStore().require(ModelRegistry.ferEmotion, for: "fer")
        let fer = try KerasModel.load(.ferMiniXception, file: path)
        let input = try faceInput()
        let alone = try KerasNetwork(model: fer).predict(input, count: 1)[0]

        let (twice, shared) = KerasModel.merged([fer, fer])
        XCTAssertEqual(shared, fer.layers.count)
        XCTAssertEqual(twice.layers.count, fer.layers.count)
        let both = try KerasNetwork(model: twice).predict(input, count: 1)
        XCTAssertEqual(both.count, 2)
        XCTAssertEqual(both[0], alone)
        XCTAssertEqual(both[1], alone)

        // A copy with other weights in its last weighted layer.
        let last = try XCTUnwrap(fer.layers.lastIndex { !$0.blobs.isEmpty })
        var layers = fer.layers
        layers[last].blobs = layers[last].blobs.map { .init(data: $0.data.map { $0 * 0.5 }, shape: $0.shape) }
        let other = KerasModel(architecture: fer.architecture, file: fer.file, inputShape: fer.inputShape,
                               outputShapes: fer.outputShapes, layers: layers, outputs: fer.outputs)
        let otherAlone = try KerasNetwork(model: other).predict(input, count: 1)[0]
        XCTAssertNotEqual(otherAlone, alone)
        let (pair, pairShared) = KerasModel.merged([fer, other])
        XCTAssertEqual(pairShared, last)
        XCTAssertEqual(pair.layers.count, last + 2 * (fer.layers.count - last))
        let outputs = try KerasNetwork(model: pair).predict(input + input, count: 2)
        for (got, want) in zip(outputs, [alone, otherAlone]) {
            XCTAssertEqual(got.count, 2 * want.count)
            for (a, b) in zip(got, want + want) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        }
    }
}
